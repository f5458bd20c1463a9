"""Command-line argument checks shared by ``sactui`` and the simulator's own ``sactui sim``.

Why here and not in ``sactui/``: the simulator's entry point lives in the core, which never
imports the command line; both must refuse a bad argument the same way - one line naming it,
exit code 2 - and must reject nan and inf, which ``float()`` accepts.
"""

from __future__ import annotations

import argparse
import math

from .errors import ConfigError


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a ``ConfigError``: one line, exit code 2.

    argparse's own ``error()`` prints the usage block too; here the message names the
    argument and the entry point prints it like every other expected failure."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{message} (see {self.prog} --help)")


def positive_float(text: str) -> float:
    """A finite number > 0 (rejects nan, inf and the like, which float() accepts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value
