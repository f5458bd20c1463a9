"""What every command shares: one-line argument errors, number checks, the runs folder, settings.

Why: a bad argument must read like every other expected failure (one line, exit 2),
numbers must be finite, and ``--runs-dir`` / ``--config`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trader_core.argument_types import OneLineParser as Parser  # noqa: F401 - every command builds its parser from it
from trader_core.argument_types import positive_float  # noqa: F401 - re-exported for the commands
from trader_core.settings import Settings, load_settings

DEFAULT_CONFIG = Path("config.toml")


def say(message: str) -> None:
    print(message, flush=True)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def add_trust_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-run", action="store_true",
        help="load a run whose scaler exists only as a pickle (unpickling runs code: only for runs you made)",
    )


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--runs-dir`` and ``--config``, which every command takes."""
    parser.add_argument("--runs-dir", default=None,
                        help="where training runs live (default: [paths] runs_dir in config.toml, else entrenamientos)")
    parser.add_argument("--config", default=None, help="operator settings (default: ./config.toml if present)")


def settings(args: argparse.Namespace) -> Settings:
    """The operator's settings: ``--config``, else ./config.toml when there is one, else defaults."""
    return load_settings(args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None))


def runs_dir(args: argparse.Namespace) -> Path:
    """``--runs-dir``, else ``[paths] runs_dir`` of the settings in use."""
    if args.runs_dir:
        return Path(args.runs_dir)
    return Path(settings(args).paths.runs_dir)
