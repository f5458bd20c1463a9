"""The ``sactui`` command line.

Every command maps an expected failure (``SactuiError``) to one line on stderr and
its exit code; only a bug shows a traceback. This module imports Textual only for
the console itself, so headless commands work without a terminal UI stack.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable

from trader_core.errors import ConfigError, ExitCode, SactuiError

COMMANDS = ("train", "runs", "features", "replay", "sim", "backtest", "unlatch")


def _say(message: str) -> None:
    print(message, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a ``ConfigError``: one line, exit code 2.

    argparse's own ``error()`` prints the usage block too; here the message names the
    argument and the handler in ``main`` prints it like every other expected failure."""

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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _add_trust_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-run", action="store_true",
        help="load a run whose scaler exists only as a pickle (unpickling runs code: only for runs you made)",
    )


def _runs_dir(args) -> Path:
    return Path(args.runs_dir)


def _add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default="entrenamientos", help="where training runs live (default: %(default)s)")


# --------------------------------------------------------------------------- train
def _train_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sactui train", description="Train a SAC agent on candles and write a run.")
    p.add_argument("--data", required=True, help="candle CSV (6 columns, or Binance's 12-column kline dump)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--interval", help="checked against the file's candle spacing")
    p.add_argument("--start", help="first candle to use, YYYY-MM-DD (UTC)")
    p.add_argument("--end", help="stop before this date, YYYY-MM-DD (UTC)")
    p.add_argument("--timesteps", type=int, default=20_000)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--window", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--funding", help="funding CSV (funding_time_ms,funding_rate) to charge funding")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out tail of the data")
    p.add_argument("--max-leverage", type=float, default=1.0, help="exposure at action +-1, x equity")
    p.add_argument("--deadband", type=float, default=0.05)
    p.add_argument("--train-id", help="name the run yourself instead of the naming convention")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_runs_dir(p)
    return p


def cmd_train(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)
    from trader_core.training.trainer import TrainingRequest, train

    run = train(
        TrainingRequest(
            data=Path(args.data), symbol=args.symbol, interval=args.interval, start=args.start,
            end=args.end, timesteps=args.timesteps, learning_rate=args.lr, batch_size=args.batch_size,
            window_size=args.window, seed=args.seed, funding=Path(args.funding) if args.funding else None,
            test_fraction=args.test_fraction, max_leverage=args.max_leverage, deadband=args.deadband,
            runs_dir=_runs_dir(args), train_id=args.train_id, progress_bar=not args.no_progress,
        ),
        say=_say,
    )
    _say(f"train id: {run.train_id}")
    return 0


# --------------------------------------------------------------------------- runs
def cmd_runs(argv: list[str]) -> int:
    """List runs. Pickle-free by construction: metadata, checksums and numbers only."""
    p = _Parser(prog="sactui runs", description="List training runs and their key metadata.")
    _add_runs_dir(p)
    args = p.parse_args(argv)
    from trader_core.errors import PickleOnlyRunError
    from trader_core.runs import TrainingRun, run_ids

    ids = run_ids(_runs_dir(args))
    if not ids:
        _say(f"no runs in {args.runs_dir}/ (train one with 'sactui train --data FILE')")
        return 0
    _say(f"{'train id':<66} {'symbol':<8} {'int':<4} {'win':>4} {'steps':>7} {'test ret':>9} {'sharpe':>7} {'max dd':>7}")
    for train_id in ids:
        try:  # never trusted here: listing runs must not unpickle anything
            s = TrainingRun.load(train_id, _runs_dir(args), trust_pickle=False).summary()
        except PickleOnlyRunError as exc:
            _say(f"{train_id:<66} NEEDS --trust-run: {exc}")
            continue
        except SactuiError as exc:
            _say(f"{train_id:<66} INVALID: {exc}")
            continue
        ret = "-" if s["test_return"] is None else f"{s['test_return']:+.2%}"
        sharpe = "-" if s["test_sharpe"] is None else f"{s['test_sharpe']:.2f}"
        dd = "-" if s["test_max_drawdown"] is None else f"{s['test_max_drawdown']:.2%}"
        _say(
            f"{train_id:<66} {s['symbol']:<8} {s['interval']:<4} {s['window']:>4} "
            f"{s['timesteps'] or '-':>7} {ret:>9} {sharpe:>7} {dd:>7}"
        )
        _say(f"    data {s['data']}")
    return 0


# --------------------------------------------------------------------------- features
def cmd_features(argv: list[str]) -> int:
    p = _Parser(
        prog="sactui features",
        description="Write per-candle indicator values and model features from the live (incremental) path.",
    )
    p.add_argument("--train-id", required=True)
    p.add_argument("--data", required=True, help="candle CSV")
    p.add_argument("--out", required=True, help="CSV to write")
    _add_trust_run(p)
    _add_runs_dir(p)
    args = p.parse_args(argv)
    from trader_core.candles import load_candles
    from trader_core.feature_export import export_features
    from trader_core.runs import TrainingRun

    run = TrainingRun.load(args.train_id, _runs_dir(args), trust_pickle=args.trust_run)
    rows = export_features(run, load_candles(args.data), Path(args.out))
    _say(f"wrote {rows} rows to {args.out} (the first {run.features.warmup - 1} candles are warm-up)")
    return 0


# --------------------------------------------------------------------------- replay
def cmd_replay(argv: list[str]) -> int:
    p = _Parser(
        prog="sactui replay",
        description="Replay candles through the live decision path with paper fills (no network).",
    )
    p.add_argument("--train-id", required=True)
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    p.add_argument("--quiet", action="store_true", help="only the summary")
    _add_trust_run(p)
    _add_runs_dir(p)
    args = p.parse_args(argv)
    from trader_core.candles import iter_candles
    from trader_core.launcher import candles_for
    from trader_core.replay import replay
    from trader_core.runs import TrainingRun

    run = TrainingRun.load(args.train_id, _runs_dir(args), trust_pickle=args.trust_run)
    candles = candles_for(run, Path(args.data) if args.data else None)
    agent = run.load_agent()
    _say(f"replaying {len(candles)} candles through {run.train_id} (live path, paper fills)")
    result = replay(run, agent, iter_candles(candles), say=None if args.quiet else _say)
    latencies = sorted(r.decision_latency_ms for r in result.records)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    _say(
        f"steps {len(result.records)}  trades {result.trades}  fees {result.fees:.2f}  "
        f"return {result.total_return:+.2%} (buy-and-hold {result.buy_and_hold_return:+.2%})  "
        f"sharpe {result.sharpe:.2f}  max drawdown {result.max_drawdown:.2%}  decision p99 {p99:.2f} ms"
    )
    return 0


# --------------------------------------------------------------------------- session
def _settings(path: str | None):
    from trader_core.settings import load_settings

    config = path or ("config.toml" if Path("config.toml").is_file() else None)
    return load_settings(config)


def cmd_session(argv: list[str]) -> int:
    p = _Parser(
        prog="sactui",
        description="Operator console for a trained SAC agent on Binance USD-M Futures (testnet by default).",
        epilog=f"commands: {', '.join(COMMANDS)} (sactui COMMAND --help)",
    )
    p.add_argument("--train-id", required=True, help="the run to trade (see 'sactui runs')")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true", help="offline: the loopback exchange replaying real candles")
    mode.add_argument("--live", action="store_true", help="mainnet (real money); asks for confirmation")
    p.add_argument("--headless", action="store_true", help="plain log lines, no terminal UI (default: the console)")
    p.add_argument("--max-candles", type=positive_int, help="stop after this many steps")
    p.add_argument("--speed", type=positive_float, default=3600.0,
                   help="--sim replay speed, x real time (default 3600)")
    p.add_argument("--data", help="--sim: replay this candle file instead of the run's bundled candles")
    p.add_argument("--confirm-live", metavar="SYMBOL", help="headless --live: the symbol, typed exactly")
    p.add_argument("--endpoint", metavar="URL",
                   help="testnet mode against another Binance-compatible server, e.g. a 'sactui sim' URL")
    p.add_argument("--quiet", action="store_true", help="headless: events only, no line per step")
    p.add_argument("--config", default=None, help="operator settings (default: ./config.toml if present)")
    _add_trust_run(p)
    _add_runs_dir(p)
    args = p.parse_args(argv)
    settings = _settings(args.config)
    from trader_core.launcher import SessionOptions

    options = SessionOptions(
        train_id=args.train_id, mode="sim" if args.sim else "live" if args.live else "testnet",
        runs_dir=_runs_dir(args), max_candles=args.max_candles, speed=args.speed,
        data=Path(args.data) if args.data else None, confirm_live=args.confirm_live, endpoint=args.endpoint,
        trust_run=args.trust_run,
    )
    from trader_core.runs import TrainingRun

    # a bad id or an untrusted pickle-only run says so before anything else
    run = TrainingRun.load(args.train_id, _runs_dir(args), trust_pickle=args.trust_run)
    if not args.headless:
        return _run_console(options, settings, run)
    import asyncio

    from trader_core.headless import run_headless

    return asyncio.run(run_headless(options, settings, quiet_steps=args.quiet))


def _run_console(options, settings, run) -> int:
    """The Textual console (the only place the command line imports Textual).

    ``--live`` is confirmed inside the console by typing the symbol before anything
    connects; a crash of the engine is shown there and, after quitting, mapped to the
    same message and exit code as a headless run. A session that ended because its
    terminal went away (SIGHUP, a dead tty) exits with ``ExitCode.TERMINAL_LOST`` (129)
    - a crash or a HALT still takes precedence; with the terminal gone the report is
    dropped (see ``tui.terminal``)."""
    from tui.app import SactuiApp
    from tui.widgets.header import SessionIdentity

    identity = SessionIdentity(options.mode, run.symbol, run.interval, run.train_id)
    app = SactuiApp(options, settings, identity=identity,
                    confirm_live=run.symbol if options.mode == "live" else None)
    result = app.run()
    if result is None:
        return 0
    done = ExitCode.TERMINAL_LOST if result.hangup else ExitCode.OK
    if result.cancelled:
        _say("live session cancelled: nothing connected, no order sent")
        return done
    if result.error is not None:
        raise result.error
    snapshot = result.snapshot
    if snapshot is not None:
        stats = snapshot.stats
        if stats:
            _say(f"session: {stats.get('steps', 0)} steps, {stats.get('trades', 0)} trades, "
                 f"fees {stats.get('fees', 0.0):.4f}, PnL {stats.get('pnl', 0.0):+.2f}, "
                 f"max drawdown {stats.get('max_drawdown', 0.0):.2%}")
        if snapshot.position is not None and not snapshot.position.flat:
            _say(f"position left open: {snapshot.position.quantity} {snapshot.symbol}")
        if snapshot.state == "HALTED":
            print(f"HALTED: {snapshot.halted_reason}", file=sys.stderr)
            return ExitCode.HALTED
    return done


def cmd_backtest(argv: list[str]) -> int:
    p = _Parser(
        prog="sactui backtest",
        description="Run the trading engine over candles with the in-process paper exchange.",
    )
    p.add_argument("--train-id", required=True)
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    p.add_argument("--quiet", action="store_true", help="only events and the summary")
    p.add_argument("--config", default=None)
    _add_trust_run(p)
    _add_runs_dir(p)
    args = p.parse_args(argv)
    import asyncio

    from trader_core.headless import run_headless
    from trader_core.launcher import SessionOptions

    options = SessionOptions(train_id=args.train_id, mode="backtest", runs_dir=_runs_dir(args),
                             data=Path(args.data) if args.data else None, trust_run=args.trust_run)
    return asyncio.run(run_headless(options, _settings(args.config), quiet_steps=args.quiet))


def cmd_unlatch(argv: list[str]) -> int:
    p = _Parser(
        prog="sactui unlatch",
        description="Clear the drawdown latch of a run after reviewing what happened.",
    )
    p.add_argument("--train-id", required=True)
    p.add_argument("--yes", metavar="TRAIN_ID", help="confirm without a prompt by typing the train id")
    _add_runs_dir(p)
    args = p.parse_args(argv)
    from trader_core.latch import clear_latch, read_latch
    from trader_core.modes import LATCHING_FOLDERS
    from trader_core.runs import run_ids
    from trader_core.errors import UnknownRunError

    if args.train_id not in run_ids(_runs_dir(args)):
        raise UnknownRunError(f"unknown train id {args.train_id!r} in {args.runs_dir}/; see 'sactui runs'")
    run_path = _runs_dir(args) / args.train_id
    latched = [(run_path / name, read_latch(run_path / name)) for name in LATCHING_FOLDERS]
    latched = [(folder, latch) for folder, latch in latched if latch is not None]
    if not latched:
        _say(f"run {args.train_id} is not latched ({', '.join(f'{n}/' for n in LATCHING_FOLDERS)}); nothing to do")
        return 0
    for folder, latch in latched:
        _say(f"latched in {folder.name}/: {latch.reason} at {latch.time} (equity {latch.equity}, peak {latch.peak})")
    typed = args.yes
    if typed is None:
        if not sys.stdin.isatty():
            raise ConfigError("unlatch needs confirmation: run it in a terminal, or pass --yes <train id>")
        typed = input(f"type the train id to clear the latch ({args.train_id}): ").strip()
    if typed != args.train_id:
        raise ConfigError("confirmation did not match the train id; the latch stays")
    for folder, _latch in latched:
        clear_latch(folder)
    _say("latch cleared; the next start will trade again")
    return 0


def cmd_sim(argv: list[str]) -> int:
    from trader_core.simulator.main import main as simulator_main

    return simulator_main(argv)


HANDLERS: dict[str, Callable[[list[str]], int]] = {
    "train": cmd_train, "runs": cmd_runs, "features": cmd_features, "replay": cmd_replay,
    "sim": cmd_sim, "backtest": cmd_backtest, "unlatch": cmd_unlatch,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in HANDLERS:
            return HANDLERS[argv[0]](argv[1:])
        return cmd_session(argv)
    except SactuiError as exc:
        print(f"sactui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sactui: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
