"""``sactui backtest``: the trading engine over candles with the in-process paper exchange."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, settings
from ..span_args import add_span, select, span_ms

NAME = "backtest"
HELP = "the same engine over candles with the in-process paper exchange; return, Sharpe, drawdown"


def parser() -> Parser:
    p = Parser(
        prog="sactui backtest",
        description="Run the trading engine over candles with the in-process paper exchange; the journal goes to "
                    "the run's backtest/ folder. Candles are named by their open time (UTC).",
    )
    p.add_argument("--train-id", required=True, help="the run to backtest (see 'sactui runs')")
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    add_span(p)
    p.add_argument("--quiet", action="store_true", help="only events and the summary, no line per step")
    add_trust_run(p)
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.headless import run_headless
    from trader_core.launcher import SessionOptions, candles_for
    from trader_core.runs import TrainingRun

    folder = runs_dir(args)
    data = Path(args.data) if args.data else None
    training_run = TrainingRun.load(args.train_id, folder, trust_pickle=args.trust_run)
    candles = select(training_run, candles_for(training_run, data), args)
    with tempfile.TemporaryDirectory(prefix="sactui-backtest-") as scratch:
        if span_ms(args) != (None, None):  # the engine reads a file: the chosen span, warm-up included
            data = Path(scratch) / "candles.csv"
            candles.to_csv(data, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])
        options = SessionOptions(train_id=args.train_id, mode="backtest", runs_dir=folder, data=data,
                                 trust_run=args.trust_run)
        return asyncio.run(run_headless(options, settings(args), quiet_steps=args.quiet))
