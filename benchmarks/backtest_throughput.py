"""Backtest throughput through the real engine, and resident memory over a long run.

The backtest runs the same ``TradingEngine`` step (A-H) as a live session, with the
in-process paper exchange and a replay feed, and writes the same journal. Measured:

* throughput: closed candles per second between the first and the last step
  (start-up - imports, model load, warm-up - excluded and reported separately);
* memory: resident set size sampled every 50,000 candles over >= 500,000 candles;
  flat means the last sample is within +-5 % of the first one taken after warm-up.

Half a million real candles do not exist in one file here, so the long run chains
the real 5m file end to end, each copy rescaled to continue from the previous close
(the returns stay the real ones) and shifted in time.

    python benchmarks/backtest_throughput.py [--candles 122000] [--memory-candles 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.candles import load_candles  # noqa: E402
from trader_core.launcher import SessionOptions, run_session  # noqa: E402
from trader_core.settings import Settings  # noqa: E402

DATA = REPO.parent / "shared/data/btcusdt/binance_usdm_BTCUSDT_5m_20231101_20241230.csv"
FALLBACK = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def chained(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Real candles chained end to end until ``rows``, each copy continuing the last close."""
    parts, last_close, last_time = [], None, None
    step = int(frame["open_time"].iloc[1] - frame["open_time"].iloc[0])
    while sum(len(p) for p in parts) < rows:
        part = frame.copy()
        if last_close is not None:
            ratio = last_close / part["open"].iloc[0]
            for column in ("open", "high", "low", "close"):
                part[column] = part[column] * ratio
            part["open_time"] = part["open_time"] - part["open_time"].iloc[0] + last_time + step
        parts.append(part)
        last_close, last_time = part["close"].iloc[-1], int(part["open_time"].iloc[-1])
    return pd.concat(parts, ignore_index=True).iloc[:rows]


async def backtest(train_id: str, runs_dir: Path, data: Path, sample_every: int | None = None):
    marks: dict = {"first": None, "last": None, "steps": 0, "rss": []}

    def on_step(_record) -> None:
        now = time.perf_counter()
        marks["first"] = marks["first"] or now
        marks["last"] = now
        marks["steps"] += 1
        if sample_every and marks["steps"] % sample_every == 0:
            marks["rss"].append((marks["steps"], rss_mb()))

    started = time.perf_counter()
    outcome = await run_session(SessionOptions(train_id, "backtest", runs_dir, data=data), Settings(),
                                on_step=on_step)
    return outcome, marks, marks["first"] - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=122_000)
    parser.add_argument("--memory-candles", type=int, default=500_000)
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()
    source = DATA if DATA.is_file() else FALLBACK
    frame = load_candles(source)
    with tempfile.TemporaryDirectory() as tmp:
        # A private copy of the run, so the benchmark's journals never land in the repo.
        runs_dir = Path(tmp) / "runs"
        shutil.copytree(Path(args.runs_dir) / args.train_id, runs_dir / args.train_id)
        args.runs_dir = str(runs_dir)
        short = Path(tmp) / "throughput.csv"
        chained(frame, args.candles).to_csv(short, index=False,
                                            header=["open_time_ms", "open", "high", "low", "close", "volume"])
        outcome, marks, startup = asyncio.run(backtest(args.train_id, Path(args.runs_dir), short))
        steps = marks["steps"]
        rate = (steps - 1) / (marks["last"] - marks["first"])
        print(f"throughput: {steps} candles of {source.name} through the engine: {rate:,.0f} candles/s "
              f"(start-up {startup:.1f} s excluded); a year of 1m candles (525,600) would take "
              f"{525_600 / rate:.0f} s")
        print(f"goal >= 10,000 candles/s: {'met' if rate >= 10_000 else 'NOT met'}")
        if args.memory_candles:
            long = Path(tmp) / "memory.csv"
            chained(frame, args.memory_candles).to_csv(long, index=False,
                                                      header=["open_time_ms", "open", "high", "low", "close", "volume"])
            outcome, marks, _ = asyncio.run(backtest(args.train_id, Path(args.runs_dir), long, 50_000))
            samples = marks["rss"]
            print("memory (RSS MB) every 50,000 candles: " + ", ".join(f"{s // 1000}k={mb:.0f}" for s, mb in samples))
            first, last = samples[0][1], samples[-1][1]
            change = (last - first) / first
            print(f"memory from {samples[0][0]:,} to {samples[-1][0]:,} candles: {first:.0f} -> {last:.0f} MB "
                  f"({change:+.1%}); goal within +-5 %: {'met' if abs(change) <= 0.05 else 'NOT met'}; "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
