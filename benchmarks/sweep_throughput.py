"""Sweep trials per hour on this machine with a local Ray, at realistic trial sizes.

Runs ``trader_core.training.sweep.run_sweep`` (the code behind ``sactui sweep``) on the
bundled real 1h candles, demo settings otherwise, a grid of learning rate x seed,
``--timesteps`` steps per trial, one CPU per trial (two trials at a time on two
cores). Reports wall time, trials per hour and how long Ray itself took (start-up and
scheduling: wall time minus the trials' own time divided by the trials in parallel).

    python benchmarks/sweep_throughput.py [--timesteps 5000] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.training.sweep import SweepRequest, run_sweep  # noqa: E402
from trader_core.training.trainer import TrainingRequest  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
FUNDING = REPO / "data/btcusdt/binance_usdm_BTCUSDT_funding_8h_20240221_20250118.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=5_000)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        training = TrainingRequest(data=DATA, funding=FUNDING, timesteps=args.timesteps, deadband=0.1,
                                   eval_every=max(1, args.timesteps // 4), runs_dir=Path(tmp), progress_bar=False)
        started = time.perf_counter()
        report = run_sweep(SweepRequest(training, (3e-4, 1e-3), (256,), (30,), seeds), say=lambda _: None)
        wall = time.perf_counter() - started
    trials = [t for t in report["trials"] if t["status"] == "done"]
    busy = sum(t["seconds"] for t in trials)
    print(f"{len(trials)} trials of {args.timesteps:,} steps (demo settings, 1 CPU each, local Ray on 2 cores): "
          f"wall {wall:.0f} s -> {len(trials) / wall * 3600:.1f} trials/hour; a trial {busy / len(trials):.0f} s "
          f"on average; Ray start-up and scheduling ~{wall - busy / 2:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
