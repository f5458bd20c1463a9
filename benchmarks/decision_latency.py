"""Per-candle decision cost: the live O(1) path against recomputing ``ta`` over a window.

Measures, over >= 10,000 real candles, the whole live decision per closed candle
(incremental feature update + scaled window push + observation + deterministic
SAC prediction) and its parts, then, on the same machine in the same run, what a
recompute-everything bot pays: ``ta`` over the last 500 candles for every new one
(the same feature set, so the outputs are identical). Both are sampled interleaved
so machine noise hits them alike; the figures that matter are the ratios.

    python benchmarks/decision_latency.py [--candles 20000] [--recompute-samples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.candles import iter_candles, load_candles  # noqa: E402
from trader_core.decision import DecisionPipeline  # noqa: E402
from trader_core.observation import PortfolioState  # noqa: E402
from trader_core.policy import SacAgent  # noqa: E402
from trader_core.runs import TrainingRun  # noqa: E402

DATA_CANDIDATES = (
    REPO.parent / "shared/data/btcusdt/binance_usdm_BTCUSDT_5m_20231101_20241230.csv",
    REPO.parent / "shared/data/btcusdt/binance_usdm_BTCUSDT_1m_20230718_20230817.csv",
    REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv",
)
RECOMPUTE_WINDOW = 500


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, us: list[float]) -> str:
    return (
        f"{name:<44} n={len(us):>6}  p50 {pct(us, 0.50):9.1f} us  p99 {pct(us, 0.99):9.1f} us  "
        f"max {max(us):9.1f} us  mean {statistics.fmean(us):9.1f} us"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=20_000)
    parser.add_argument("--recompute-samples", type=int, default=1_000)
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()

    data = next(p for p in DATA_CANDIDATES if p.is_file())
    frame = load_candles(data)
    total = min(len(frame), args.candles + RECOMPUTE_WINDOW)
    frame = frame.iloc[:total].reset_index(drop=True)
    run = TrainingRun.load(args.train_id, Path(args.runs_dir))
    agent = run.load_agent()
    sb3_model = SacAgent.load(run.model_path).model  # SB3's own predict, for comparison (a run we trust)
    pipeline = DecisionPipeline(run, agent)
    portfolio = PortfolioState(0.1, 0.001, 0.02)
    fs = run.features
    candles = list(iter_candles(frame))
    print(f"data: {data.name} ({len(candles)} candles), run: {run.train_id}, "
          f"features: {len(fs.model_columns)} x window {run.window_size} -> observation {run.layout.size}")

    warm = RECOMPUTE_WINDOW
    pipeline.warm_up(candles[:warm])
    sample_every = max(1, (len(candles) - warm) // args.recompute_samples)
    decision_us, feature_us, observe_us, predict_us, sb3_predict_us = [], [], [], [], []
    recompute_us, recompute_decision_us = [], []
    perf = time.perf_counter_ns
    for i in range(warm, len(candles)):
        c = candles[i]
        t0 = perf()
        decision = pipeline.decide(c, portfolio)
        t1 = perf()
        assert decision is not None
        decision_us.append((t1 - t0) / 1e3)
        if (i - warm) % sample_every == 0:
            # Parts of the same decision, re-run on the observation just built.
            t2 = perf()
            pipeline.window.observation(portfolio)
            t3 = perf()
            agent.act(decision.observation)
            t4 = perf()
            sb3_model.predict(decision.observation, deterministic=True)
            t5 = perf()
            observe_us.append((t3 - t2) / 1e3)
            predict_us.append((t4 - t3) / 1e3)
            sb3_predict_us.append((t5 - t4) / 1e3)
            # The recompute-everything alternative, same candle, same features.
            window = frame.iloc[i - RECOMPUTE_WINDOW + 1 : i + 1]
            t6 = perf()
            _, model = fs.batch(window)
            row = model[-1]
            t7 = perf()
            agent.act(decision.observation)
            t8 = perf()
            recompute_us.append((t7 - t6) / 1e3)
            recompute_decision_us.append((t7 - t6 + t8 - t7) / 1e3 + observe_us[-1])
            assert np.allclose(row, decision.features.model, rtol=0, atol=1e-6)

    # Feature update alone, over the same candles, on a fresh incremental stream.
    inc = fs.incremental()
    for c in candles[:warm]:
        inc.update(c.open, c.high, c.low, c.close, c.volume)
    for c in candles[warm:]:
        t0 = perf()
        inc.update(c.open, c.high, c.low, c.close, c.volume)
        feature_us.append((perf() - t0) / 1e3)

    print(summary("whole decision (live path)", decision_us))
    print(summary("  incremental feature update", feature_us))
    print(summary("  observation build", observe_us))
    print(summary("  SAC actor forward (numpy, same weights)", predict_us))
    print(summary("  SB3 model.predict (for comparison)", sb3_predict_us))
    print(summary(f"ta recompute over {RECOMPUTE_WINDOW} candles", recompute_us))
    print(summary("recompute decision (ta + observation + predict)", recompute_decision_us))
    print(
        f"ratio  recompute features / incremental features: p50 "
        f"{pct(recompute_us, .5) / pct(feature_us, .5):6.1f}x  p99 {pct(recompute_us, .99) / pct(feature_us, .99):6.1f}x"
    )
    print(
        f"ratio  recompute decision / live decision:        p50 "
        f"{pct(recompute_decision_us, .5) / pct(decision_us, .5):6.1f}x  p99 "
        f"{pct(recompute_decision_us, .99) / pct(decision_us, .99):6.1f}x"
    )
    print(f"goal   live decision p99 <= 1000 us: {'met' if pct(decision_us, .99) <= 1000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
