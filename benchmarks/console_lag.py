"""Does the console slow the trading down? Event-loop lag and decision latency, UI vs headless.

Two runs of the same ``--sim`` session (the demo run's bundled candles, replayed at 20 candles
a second through python-binance and the loopback simulator), one after the other:

* headless: the engine alone;
* console: the same session hosted by the Textual app, rendering at its normal rates to a
  160x48 virtual terminal (Textual's headless driver: the real widgets, layout and chart).

Measured in both: the engine's decision latency per step (from the journal rows), and the
event loop's lag - a probe task asks to sleep 5 ms and records how late it wakes.

200 candles by default: each step refreshes account and position (request weight 10), and
at 20 candles/s that passes Binance's 2,400 weight/minute after ~240 candles - the
simulator then answers 429 with Retry-After and the connector waits it out, which is
correct but is not what this benchmark measures.

    python benchmarks/console_lag.py [--candles 200] [--speed 72000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.launcher import SessionOptions, run_session  # noqa: E402
from trader_core.settings import Settings  # noqa: E402

PROBE_S = 0.005


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def probe(lags: list[float], done: asyncio.Event) -> None:
    while not done.is_set():
        started = time.perf_counter()
        await asyncio.sleep(PROBE_S)
        lags.append((time.perf_counter() - started - PROBE_S) * 1000.0)


async def headless(options: SessionOptions) -> tuple[list[float], list[float]]:
    latencies, lags, done = [], [], asyncio.Event()
    prober = asyncio.create_task(probe(lags, done))
    await run_session(options, Settings(), on_step=lambda r: latencies.append(r.decision_latency_ms))
    done.set()
    await prober
    return latencies, lags


async def console(options: SessionOptions) -> tuple[list[float], list[float]]:
    from tui.app import SactuiApp
    from tui.widgets.header import SessionIdentity

    latencies, lags, done = [], [], asyncio.Event()
    app: SactuiApp

    async def runner():
        try:
            return await run_session(options, Settings(), on_step=lambda r: latencies.append(r.decision_latency_ms),
                                     on_engine=app.attach_engine)
        finally:
            done.set()

    app = SactuiApp(runner=runner, identity=SessionIdentity("sim", "BTCUSDT", "1h", options.train_id))
    async with app.run_test(size=(160, 48)):
        prober = asyncio.create_task(probe(lags, done))
        await asyncio.wait_for(done.wait(), timeout=600)
        await prober
    return latencies, lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=200)
    parser.add_argument("--speed", type=float, default=72_000.0, help="x real time (72000 = 20 1h candles/s)")
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        shutil.copytree(Path(args.runs_dir) / args.train_id, runs_dir / args.train_id)
        options = SessionOptions(args.train_id, "sim", runs_dir, max_candles=args.candles, speed=args.speed)
        results = {"headless": asyncio.run(headless(options)), "console": asyncio.run(console(options))}
    rate = args.speed / 3600.0
    print(f"{args.candles} candles of the demo run's replay at {rate:.0f} candles/s, --sim (python-binance <-> simulator)")
    for name, (latencies, lags) in results.items():
        print(f"{name:<9} decision latency p50 {pct(latencies, .5):6.2f} ms  p99 {pct(latencies, .99):6.2f} ms  "
              f"max {max(latencies):6.2f} ms | event-loop lag p50 {pct(lags, .5):6.2f} ms  "
              f"p99 {pct(lags, .99):6.2f} ms  max {max(lags):6.2f} ms  (n={len(lags)})")
    (h_lat, _), (c_lat, c_lag) = results["headless"], results["console"]
    ratio = statistics.fmean(c_lat) / statistics.fmean(h_lat)
    print(f"console / headless mean decision latency: {ratio:.2f}x; goal within 10 %: "
          f"{'met' if ratio <= 1.10 else 'NOT met'}")
    print(f"console event-loop lag p99 {pct(c_lag, .99):.2f} ms; goal <= 50 ms: "
          f"{'met' if pct(c_lag, .99) <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
