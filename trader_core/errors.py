"""One exception hierarchy whose messages are written for the operator.

The command line maps every ``SactuiError`` to its one-line message and a non-zero
exit code, so an expected failure never shows a traceback. Each subclass names a
family of failures; its ``exit_code`` lets scripts tell them apart.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Every exit code ``sactui`` uses, defined here once (the README's table lists them)."""

    OK = 0
    ERROR = 1  # an expected failure of no more specific family
    CONFIG = 2  # config.toml or a command-line value is invalid
    DATA = 3  # a candle or funding file cannot be used
    RUN = 4  # a training run cannot be loaded
    EXCHANGE = 5  # credentials, the exchange refused or is unreachable, reconciliation refused
    LATCHED = 6  # a max-drawdown latch refuses the start until 'sactui unlatch'
    HALTED = 7  # the session ended HALTED by the emergency protocol
    ALREADY_RUNNING = 8  # another sactui process runs this run and mode
    JOURNAL = 9  # the journal cannot be written
    TERMINAL_LOST = 129  # the console's terminal went away (128 + SIGHUP); the session was stopped cleanly
    INTERRUPTED = 130  # Ctrl-C before the session could stop cleanly


class StatusCode(enum.IntEnum):
    """The exit codes of ``sactui status`` / ``sactui watch --once`` (the highest over all runs)."""

    OK = 0
    HALTED = 10  # ended HALTED by the emergency protocol (or HALTED while it runs)
    LATCHED = 11  # the drawdown latch refuses every start until 'sactui unlatch'
    STALE = 12  # the process is alive but its heartbeat is stale
    CRASHED = 13  # the process is gone without a clean stop
    NOT_FLAT = 14  # the emergency protocol is still closing a position that is not flat


class SactuiError(Exception):
    """An expected failure with a message that tells the operator what to do."""

    exit_code = ExitCode.ERROR


class ConfigError(SactuiError):
    """config.toml or a command-line value is invalid."""

    exit_code = ExitCode.CONFIG


class DataError(SactuiError):
    """A candle or funding file cannot be used (missing, malformed, NaN, gaps)."""

    exit_code = ExitCode.DATA


class RunError(SactuiError):
    """A training run cannot be loaded or does not match its model."""

    exit_code = ExitCode.RUN


class UnknownRunError(RunError):
    """The train id names no directory under entrenamientos/."""


class ChecksumError(RunError):
    """An artifact's sha256 differs from the one its metadata recorded."""


class SchemaVersionError(RunError):
    """config_metadata.yaml was written by an unsupported schema version."""


class RunMismatchError(RunError):
    """Features, window or observation size disagree with the model."""


class PickleOnlyRunError(RunError):
    """The run stores its scaler only as a pickle: loading it needs the operator's --trust-run."""


class ExchangeError(SactuiError):
    """The exchange refused or failed an operation; ``code`` is Binance's error code when it sent one."""

    exit_code = ExitCode.EXCHANGE

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CredentialsError(ExchangeError):
    """Missing or rejected API credentials (-2015, -2014) or a bad signature (-1022): fatal."""


class OrderRejected(ExchangeError):
    """The exchange answered an order with a definite, non-retryable rejection."""

    def __init__(self, code: int, message: str, client_order_id: str = "") -> None:
        super().__init__(f"order {client_order_id or ''} rejected: {code} {message}".replace("  ", " "), code)
        self.exchange_message = message
        self.client_order_id = client_order_id


class OrderOutcomeUnknown(ExchangeError):
    """An order may or may not have been placed and querying could not tell: stop trading."""


class TradingHeld(ExchangeError):
    """The exchange banned this IP (HTTP 418) or rate limits hold trading until ``until_ms``.

    ``sent``: the request reached the exchange and was answered 418 (refused, not processed);
    False when the ban was already known and nothing was sent."""

    def __init__(self, message: str, until_ms: int, sent: bool = False) -> None:
        super().__init__(message)
        self.until_ms = until_ms
        self.sent = sent


class ExchangeUnavailable(ExchangeError):
    """Retries of a safe operation were exhausted (network errors, 5xx)."""


class ReconciliationError(ExchangeError):
    """At start the exchange holds a position or orders this session does not know."""


class MalformedResponse(ExchangeError):
    """The exchange answered 200 with a payload of the wrong shape: treated like a network failure."""


class JournalError(SactuiError):
    """A journal or session file cannot be written or appended to safely (full disk, read-only,
    unknown columns): trading must not go on without its audit trail."""

    exit_code = ExitCode.JOURNAL


class AlreadyRunningError(SactuiError):
    """Another sactui process holds this run's session folder."""

    exit_code = ExitCode.ALREADY_RUNNING


class LatchedError(SactuiError):
    """A max-drawdown stop latched this run: a person must review and clear it before trading."""

    exit_code = ExitCode.LATCHED


class FeedExhausted(Exception):
    """A replayed feed delivered its last candle: the normal end of a backtest, not a failure."""
