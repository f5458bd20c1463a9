"""``sactui backtest``: the trading engine over candles with the in-process paper exchange."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, settings

NAME = "backtest"
HELP = "the same engine over candles with the in-process paper exchange; return, Sharpe, drawdown"


def run(argv: list[str]) -> int:
    p = Parser(
        prog="sactui backtest",
        description="Run the trading engine over candles with the in-process paper exchange.",
    )
    p.add_argument("--train-id", required=True, help="the run to backtest")
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    p.add_argument("--quiet", action="store_true", help="only events and the summary")
    add_trust_run(p)
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.headless import run_headless
    from trader_core.launcher import SessionOptions

    options = SessionOptions(train_id=args.train_id, mode="backtest", runs_dir=runs_dir(args),
                             data=Path(args.data) if args.data else None, trust_run=args.trust_run)
    return asyncio.run(run_headless(options, settings(args), quiet_steps=args.quiet))
