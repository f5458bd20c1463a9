"""``sactui``: dispatch to a command; every expected failure is one line and its exit code.

Only a bug shows a traceback: a ``SactuiError`` prints ``sactui: error: <message>`` on
stderr and exits with its ``ExitCode``. Bare ``sactui`` lists the commands.
"""

from __future__ import annotations

import sys
from types import ModuleType

from trader_core.errors import ExitCode, SactuiError

from .commands import (
    audit, backtest, features, replay, report, runs, session, sessions, sim, status, train, unlatch, watch,
)
from .commands import soak, sweep, walkforward

COMMANDS: dict[str, ModuleType] = {module.NAME: module for module in (
    train, runs, features, replay, backtest, sim, unlatch, status, watch, sessions, report, audit, walkforward, sweep,
    soak)}


def command_list() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["sactui --train-id X [--sim | --live] [--headless] ...  " + session.HELP, "", "commands:"]
    lines += [f"  {name:<{width}}  {module.HELP}" for name, module in COMMANDS.items()]
    lines += ["", "sactui COMMAND --help for a command's options"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv:
            print(command_list())
            return ExitCode.OK
        if argv[0] in COMMANDS:
            return COMMANDS[argv[0]].run(argv[1:])
        return session.run(argv, command_list())
    except SactuiError as exc:
        print(f"sactui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sactui: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
