"""``sactui replay``: candles through the live decision path with paper fills, no network."""

from __future__ import annotations

from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, say
from ..span_args import add_span, select

NAME = "replay"
HELP = "replay candles through the live decision path with paper fills and print each step"


def parser() -> Parser:
    p = Parser(
        prog="sactui replay",
        description="Replay candles through the live decision path with paper fills (no network). Candles are "
                    "named by their open time (UTC).",
    )
    p.add_argument("--train-id", required=True, help="the run to replay (see 'sactui runs')")
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    add_span(p)
    p.add_argument("--quiet", action="store_true", help="only the summary, no line per step")
    add_trust_run(p)
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.candles import iter_candles
    from trader_core.launcher import candles_for
    from trader_core.replay import replay
    from trader_core.review.benchmark import run_funding
    from trader_core.runs import TrainingRun

    training_run = TrainingRun.load(args.train_id, runs_dir(args), trust_pickle=args.trust_run)
    candles = select(training_run, candles_for(training_run, Path(args.data) if args.data else None), args)
    agent = training_run.load_agent()
    say(f"replaying {len(candles) - training_run.history_needed} candles through {training_run.train_id} "
        f"(live path, paper fills) after {training_run.history_needed} of warm-up")
    result = replay(training_run, agent, iter_candles(candles), say=None if args.quiet else say,
                    funding=run_funding(training_run))
    latencies = sorted(r.decision_latency_ms for r in result.records)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    bh = result.benchmark.describe() if result.benchmark is not None else "-"
    say(
        f"steps {len(result.records)}  trades {result.trades}  fees {result.fees:.2f}  "
        f"return {result.total_return:+.2%}  sharpe {result.sharpe:.2f}  max drawdown {result.max_drawdown:.2%}  "
        f"decision p99 {p99:.2f} ms  (buy-and-hold {bh})"
    )
    return 0
