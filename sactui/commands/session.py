"""``sactui --train-id X``: a trading session - the console from ``tui/``, or ``--headless`` log lines.

The only command that imports Textual, and only for the console: a headless session,
and every other command, runs without a terminal UI stack.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from trader_core.errors import ExitCode
from trader_core.modes import Mode

from ..arguments import (
    Parser,
    add_common,
    add_trust_run,
    positive_float,
    positive_int,
    runs_dir,
    say,
    settings,
)

NAME = ""  # the default command: `sactui --train-id X`
HELP = "a trading session: testnet by default, --sim offline, --live mainnet (console, or --headless)"


def parser(commands: str) -> Parser:
    p = Parser(
        prog="sactui",
        description="Operator console for a trained SAC agent on Binance USD-M Futures (testnet by default).",
        epilog=commands,
    )
    p.add_argument("--train-id", required=True, help="the run to trade (see 'sactui runs')")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true", help="offline: the loopback exchange replaying real candles")
    mode.add_argument("--live", action="store_true", help="mainnet (real money); asks for confirmation")
    p.add_argument("--headless", action="store_true", help="plain log lines, no terminal UI (default: the console)")
    p.add_argument("--max-candles", type=positive_int, help="stop after this many steps (default: no limit)")
    p.add_argument("--speed", type=positive_float, default=3600.0,
                   help="--sim replay speed, x real time (default: %(default)g)")
    p.add_argument("--data", help="--sim: replay this candle file (default: the run's bundled replay candles)")
    p.add_argument("--funding", help="--sim: funding rates to settle every 8 h (default: the run's own file)")
    p.add_argument("--confirm-live", metavar="SYMBOL", help="headless --live: the symbol, typed exactly (default: none - the console asks; headless refuses)")
    p.add_argument("--endpoint", metavar="URL",
                   help="testnet mode against another Binance-compatible server, e.g. a 'sactui sim' URL "
                        "(default: Binance's testnet)")
    p.add_argument("--quiet", action="store_true", help="headless: events only, no line per step")
    add_trust_run(p)
    add_common(p)
    return p


def run(argv: list[str], commands: str = "") -> int:
    args = parser(commands).parse_args(argv)
    operator_settings = settings(args)
    from trader_core.launcher import SessionOptions
    from trader_core.runs import TrainingRun

    folder = runs_dir(args)
    options = SessionOptions(
        train_id=args.train_id, mode="sim" if args.sim else "live" if args.live else "testnet",
        runs_dir=folder, max_candles=args.max_candles, speed=args.speed,
        data=Path(args.data) if args.data else None, confirm_live=args.confirm_live, endpoint=args.endpoint,
        trust_run=args.trust_run, funding=Path(args.funding) if args.funding else None,
    )
    # a bad id or an untrusted pickle-only run says so before anything else
    training_run = TrainingRun.load(args.train_id, folder, trust_pickle=args.trust_run)
    if not args.headless:
        return run_console(options, operator_settings, training_run)
    from trader_core.headless import run_headless

    return asyncio.run(run_headless(options, operator_settings, quiet_steps=args.quiet))


def run_console(options, operator_settings, training_run) -> int:
    """The Textual console.

    ``--live`` is confirmed inside the console by typing the symbol before anything
    connects; a crash of the engine is shown there and, after quitting, mapped to the
    same message and exit code as a headless run. The end-of-session report is the
    headless one. A session that ended because its terminal went away (SIGHUP, a dead
    tty) exits with ``ExitCode.TERMINAL_LOST`` (129) - a crash or a HALT still takes
    precedence; with the terminal gone the report is dropped (see ``tui.terminal``)."""
    from trader_core.summary import halted_line, review_lines, summary_lines
    from tui.app import SactuiApp
    from tui.widgets.header import SessionIdentity

    identity = SessionIdentity(options.mode, training_run.symbol, training_run.interval, training_run.train_id)
    app = SactuiApp(options, operator_settings, identity=identity,
                    confirm_live=training_run.symbol if options.mode == Mode.LIVE else None)
    result = app.run()
    if result is None:
        return ExitCode.OK
    done = ExitCode.TERMINAL_LOST if result.hangup else ExitCode.OK
    if result.cancelled:
        say("live session cancelled: nothing connected, no order sent")
        return done
    if result.error is not None:
        raise result.error
    snapshot = result.snapshot
    if snapshot is not None:
        review = []
        if result.outcome is not None:
            review = asyncio.run(review_lines(result.outcome, [options.data] if options.data else []))
        for line in summary_lines(snapshot, result.outcome, review):
            say(line)
        halted = halted_line(snapshot)
        if halted is not None:
            print(halted, file=sys.stderr)
            return ExitCode.HALTED
    return done
