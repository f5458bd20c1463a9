"""Step latency with alerts + metrics + heartbeat enabled vs disabled, side by side, through the real engine.

The real launcher (``run_session``) runs testnet-mode sessions of the demo run against the
loopback simulator in manual mode (python-binance over 127.0.0.1, user-data and mark price
streams live); the benchmark closes each candle and waits for its journal row, and the
engine's own ``decision_latency_ms`` (steps A to G) is collected per row, and so is the
whole path the monitoring hooks sit on: the simulator's close -> the row journaled (fsync)
-> the step hook returned (``monitor.on_step`` runs inside it, before the benchmark's own). Rounds alternate:
a session with monitoring off, then one with everything on - apprise alerts to a JSON webhook
on 127.0.0.1 (every family, level info), the Prometheus endpoint scraped every 0.5 s, and the
heartbeat rewritten every 0.5 s - so machine noise hits both alike.

    python benchmarks/monitoring_overhead.py [--rounds 4] [--candles 80]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.candles import load_candles  # noqa: E402
from trader_core.launcher import SessionOptions, run_session  # noqa: E402
from trader_core.settings import (  # noqa: E402
    AlertSettings,
    MetricsSettings,
    RetrySettings,
    Settings,
    TradingSettings,
    WatchSettings,
)
from trader_core.simulator import LoopbackExchange  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
KEY, SECRET = "benchKey0001", "bench-secret"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def receiver() -> tuple[web.AppRunner, int, list]:
    got: list = []

    async def handle(request: web.Request) -> web.Response:
        got.append(await request.text())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], got


async def one_session(sim, runs_dir: Path, settings: Settings, candles: int, scrape: bool):
    latencies: list[float] = []
    close_to_row: list[float] = []
    closed_at = [0.0]

    def on_step(record) -> None:
        close_to_row.append((time.perf_counter() - closed_at[0]) * 1000.0)
        latencies.append(record.decision_latency_ms)

    events: list = []
    engines: list = []
    task = asyncio.create_task(run_session(
        SessionOptions(train_id="demo", mode="testnet", runs_dir=runs_dir, endpoint=sim.rest_base), settings,
        on_event=events.append, on_step=on_step, on_engine=engines.append))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while not (any(e.kind == "start" for e in events) and sim.streams.market_connections):
        if task.done():
            task.result()
        if loop.time() > deadline:
            raise RuntimeError("the session did not start")
        await asyncio.sleep(0.01)
    stop_scraping = threading.Event()
    scraper = None
    if scrape:
        url = next(e.message.split("metrics at ", 1)[1] for e in events if e.kind == "metrics")

        def scrape_loop() -> None:
            while not stop_scraping.wait(0.5):
                with urllib.request.urlopen(url, timeout=5) as answer:
                    answer.read()

        scraper = threading.Thread(target=scrape_loop, daemon=True)
        scraper.start()
    for _ in range(candles):
        before = len(latencies)
        closed_at[0] = time.perf_counter()
        await sim.step()
        deadline = loop.time() + 30
        while len(latencies) == before:
            if task.done():
                task.result()
                raise RuntimeError("the session ended early")
            if loop.time() > deadline:
                raise RuntimeError("no row for a candle within 30 s")
            await asyncio.sleep(0.001)
    stop_scraping.set()
    engines[0].stop()
    await task
    if scraper is not None:
        scraper.join(5)
    return latencies, close_to_row


async def main_async(rounds: int, candles: int) -> None:
    os.environ["BINANCE_TESTNET_API_KEY"], os.environ["BINANCE_TESTNET_API_SECRET"] = KEY, SECRET
    frame = load_candles(DATA)
    work = Path(tempfile.mkdtemp(prefix="sactui-bench-"))
    shutil.copytree(REPO / "entrenamientos" / "demo", work / "demo",
                    ignore=shutil.ignore_patterns("produccion", "simulacion", "backtest"))
    runner, port, got = await receiver()
    retries = RetrySettings(attempts=3, delay_seconds=0.05)
    trading = TradingSettings(adopt_unknown_position=True)  # a session may end holding what the next one takes
    off = Settings(retries=retries, trading=trading)
    on = Settings(retries=retries, trading=trading,
                  alerts=AlertSettings(urls=(f"json://127.0.0.1:{port}/bench",), min_level="info",
                                       events=("emergency", "halt", "latch", "feed_stale", "reconnects", "failures",
                                               "guards", "session", "daily_summary")),
                  metrics=MetricsSettings(enabled=True, port=0),
                  watch=WatchSettings(heartbeat_seconds=0.5, stale_seconds=5.0))
    results = {"off": [], "on": []}
    whole = {"off": [], "on": []}
    try:
        async with LoopbackExchange(frame, api_key=KEY, api_secret=SECRET, start_index=500) as sim:
            for r in range(rounds):
                for name, settings in (("off", off), ("on", on)) if r % 2 == 0 else (("on", on), ("off", off)):
                    decision, path = await one_session(sim, work, settings, candles, scrape=name == "on")
                    results[name] += decision
                    whole[name] += path
                    print(f"round {r + 1}/{rounds} {name}: {len(results[name])} steps so far", flush=True)
    finally:
        await runner.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nsteps per side: {len(results['off'])}; alerts received: {len(got)}\n")
    for title, data in (("decision latency (engine, steps A-G)", results), ("close -> row journaled -> hook", whole)):
        print(f"{title}\n{'monitoring':<12} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for name in ("off", "on"):
            xs = data[name]
            print(f"{name:<12} {pct(xs, .5):8.3f} {pct(xs, .9):8.3f} {pct(xs, .99):8.3f} {statistics.fmean(xs):8.3f}")
        ratio_p50 = pct(data["on"], .5) / pct(data["off"], .5)
        ratio_mean = statistics.fmean(data["on"]) / statistics.fmean(data["off"])
        print(f"on / off: p50 {ratio_p50:.3f}x, mean {ratio_mean:.3f}x (goal: within 5 %)\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--candles", type=int, default=80)
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds, args.candles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
