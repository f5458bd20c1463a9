"""``sactui replay``: candles through the live decision path with paper fills, no network."""

from __future__ import annotations

from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, say

NAME = "replay"
HELP = "replay candles through the live decision path with paper fills and print each step"


def run(argv: list[str]) -> int:
    p = Parser(
        prog="sactui replay",
        description="Replay candles through the live decision path with paper fills (no network).",
    )
    p.add_argument("--train-id", required=True, help="the run to replay")
    p.add_argument("--data", help="candle CSV (default: the run's bundled replay candles)")
    p.add_argument("--quiet", action="store_true", help="only the summary")
    add_trust_run(p)
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.candles import iter_candles
    from trader_core.launcher import candles_for
    from trader_core.replay import replay
    from trader_core.runs import TrainingRun

    training_run = TrainingRun.load(args.train_id, runs_dir(args), trust_pickle=args.trust_run)
    candles = candles_for(training_run, Path(args.data) if args.data else None)
    agent = training_run.load_agent()
    say(f"replaying {len(candles)} candles through {training_run.train_id} (live path, paper fills)")
    result = replay(training_run, agent, iter_candles(candles), say=None if args.quiet else say)
    latencies = sorted(r.decision_latency_ms for r in result.records)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    say(
        f"steps {len(result.records)}  trades {result.trades}  fees {result.fees:.2f}  "
        f"return {result.total_return:+.2%} (buy-and-hold {result.buy_and_hold_return:+.2%})  "
        f"sharpe {result.sharpe:.2f}  max drawdown {result.max_drawdown:.2%}  decision p99 {p99:.2f} ms"
    )
    return 0
