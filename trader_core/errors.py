"""One exception hierarchy whose messages are written for the operator.

The command line maps every ``SactuiError`` to its one-line message and a non-zero
exit code, so an expected failure never shows a traceback. Each subclass names a
family of failures; its ``exit_code`` lets scripts tell them apart.
"""

from __future__ import annotations


class SactuiError(Exception):
    """An expected failure with a message that tells the operator what to do."""

    exit_code = 1


class ConfigError(SactuiError):
    """config.toml or a command-line value is invalid."""

    exit_code = 2


class DataError(SactuiError):
    """A candle or funding file cannot be used (missing, malformed, NaN, gaps)."""

    exit_code = 3


class RunError(SactuiError):
    """A training run cannot be loaded or does not match its model."""

    exit_code = 4


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
    """The exchange refused or failed an operation."""

    exit_code = 5


class CredentialsError(ExchangeError):
    """Missing or rejected API credentials (-2015, -2014) or a bad signature (-1022): fatal."""


class OrderRejected(ExchangeError):
    """The exchange answered an order with a definite, non-retryable rejection."""

    def __init__(self, code: int, message: str, client_order_id: str = "") -> None:
        super().__init__(f"order {client_order_id or ''} rejected: {code} {message}".replace("  ", " "))
        self.code = code
        self.exchange_message = message
        self.client_order_id = client_order_id


class OrderOutcomeUnknown(ExchangeError):
    """An order may or may not have been placed and querying could not tell: stop trading."""


class TradingHeld(ExchangeError):
    """The exchange banned this IP (HTTP 418) or rate limits hold trading until ``until_ms``."""

    def __init__(self, message: str, until_ms: int) -> None:
        super().__init__(message)
        self.until_ms = until_ms


class ExchangeUnavailable(ExchangeError):
    """Retries of a safe operation were exhausted (network errors, 5xx)."""


class PositionNotFlat(ExchangeError):
    """Close-all could not confirm a flat position within its bounded attempts."""


class ReconciliationError(ExchangeError):
    """At start the exchange holds a position or orders this session does not know."""


class JournalError(DataError):
    """A journal or session file cannot be appended to safely (unknown columns, unreadable)."""


class LatchedError(SactuiError):
    """A max-drawdown stop latched this run: a person must review and clear it before trading."""

    exit_code = 6


class FeedExhausted(Exception):
    """A replayed feed delivered its last candle: the normal end of a backtest, not a failure."""
