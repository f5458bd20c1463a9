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
