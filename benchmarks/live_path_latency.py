"""Candle close -> order received, through the real engine, with and without the account streams.

The loopback simulator runs as its own process (`sactui sim`, as Binance is a server of
its own), replaying real 1h candles fast; it timestamps each close as it hands the
x:true kline to the websockets, and each order as it arrives, with
``time.monotonic_ns()`` - one clock for every process on the machine - and writes them
out at exit (`--report`). This process runs the real ``TradingEngine`` (kline feed,
decision pipeline, risk checks, python-binance connector) against it. The policy flips
between +0.8 and -0.8 exposure, so every candle sends an order.

Two configurations, one after the other in one run, on the same candles:

* ``streams``: the user-data and mark price streams are live; step A reads the pushed
  account - no REST call between the close and the order;
* ``rest``: no streams; step A reads account and position by REST (two requests in
  flight together), as before the exchange-truth work.

Reported: close -> order p50/p99, REST calls between the close and the order, the
request weight per step (the simulator's own request log) and per hour of trading.

    python benchmarks/live_path_latency.py [--candles 1000] [--train-id demo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.client_ids import parse_client_id  # noqa: E402
from trader_core.clock import FeedClock, SystemClock  # noqa: E402
from trader_core.credentials import Credentials  # noqa: E402
from trader_core.engine import TradingEngine  # noqa: E402
from trader_core.events import EventLog  # noqa: E402
from trader_core.exchanges.binance import BinanceFutures, Endpoints  # noqa: E402
from trader_core.exchanges.streams import AccountStreams  # noqa: E402
from trader_core.feeds.kline_feed import KlineFeed  # noqa: E402
from trader_core.runs import TrainingRun  # noqa: E402
from trader_core.session import SessionStore  # noqa: E402
from trader_core.settings import RetrySettings, RiskSettings, Settings, StreamSettings  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
KEY, SECRET = "benchKey0001", "bench-secret"
SPEED = 36_000  # one 1h candle every 100 ms: every step is done long before the next close


class Flipper:
    """A policy that wants +0.8 and -0.8 exposure on alternate candles: an order every step."""

    def __init__(self) -> None:
        self.calls = 0

    def act(self, observation) -> float:
        self.calls += 1
        return 0.8 if self.calls % 2 else -0.8


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_simulator(run: TrainingRun, start: int, report: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sactui", "sim", "--data", str(DATA), "--speed", str(SPEED), "--start-index",
         str(start), "--api-key", KEY, "--leverage", str(run.leverage), "--fee-rate", str(run.fee_rate),
         "--report", str(report), "--no-rate-limits"],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, SACTUI_SIM_API_SECRET=SECRET), cwd=REPO)
    for line in proc.stdout:
        if line.strip().startswith("REST"):
            return proc, line.split()[-1]
    raise RuntimeError(f"the simulator did not start (exit {proc.wait()})")


async def run_one(run: TrainingRun, start: int, candles: int, streams_on: bool) -> dict:
    settings = Settings(risk=RiskSettings(max_drawdown=0.95), retries=RetrySettings(attempts=3, delay_seconds=0.05),
                        streams=StreamSettings(enabled=streams_on, reconcile_seconds=86_400))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        sim, url = start_simulator(run, start, report)
        try:
            clock = SystemClock()
            events = EventLog(clock)
            endpoints = Endpoints.from_url(url)
            exchange = BinanceFutures("BTCUSDT", Credentials(KEY, SECRET), endpoints=endpoints, clock=clock,
                                      delay_s=0.05, on_event=events.report)

            async def fetch(start_ms, end_ms, limit):
                return await exchange.klines(run.interval, start_ms, end_ms, limit)

            feed = KlineFeed("BTCUSDT", run.interval, endpoints.ws_base, fetch, clock=clock, stale_after_s=600,
                             on_event=events.report)
            streams = AccountStreams(exchange, clock, settings.streams, events.report, leverage=run.leverage) \
                if streams_on else None
            session = SessionStore(Path(tmp)).begin("testnet", None, datetime.now(timezone.utc))
            done = asyncio.Event()
            rows = []

            def on_step(record) -> None:
                rows.append(record)
                if len(rows) >= candles:
                    done.set()

            engine = TradingEngine(run, Flipper(), exchange, feed, settings, session, Path(tmp), mode="testnet",
                                   clock=clock, market_clock=FeedClock(feed), events=events, on_step=on_step,
                                   latching=False, streams=streams)
            task = asyncio.create_task(engine.run())
            finished = asyncio.ensure_future(done.wait())
            await asyncio.wait({task, finished}, timeout=candles * 1.0 + 60, return_when=asyncio.FIRST_COMPLETED)
            engine.stop()
            await asyncio.wait_for(task, 30)
            session.journal.close()
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.communicate(timeout=30)
        data = json.loads(report.read_text())
    closes = {open_time: ns for open_time, ns, _sent in data["closes"]}
    requests = data["requests"]
    latencies, between = [], []
    for client_id, received_ns, accepted in data["orders"]:
        parsed = parse_client_id(client_id)
        if not accepted or parsed is None or not parsed.is_candle_order or parsed.candle_open_time not in closes:
            continue
        close_ns = closes[parsed.candle_open_time]
        latencies.append((received_ns - close_ns) / 1e6)
        between.append(sum(1 for ns, method, path, _w in requests
                           if close_ns < ns < received_ns and not (method == "POST" and path == "/fapi/v1/order")))
    live_rows = [r for r in rows if r.order_status == "FILLED"]
    span_ns = max(ns for ns, *_ in requests) - min(ns for ns, *_ in requests)
    weight = sum(w for *_, w in requests)
    return {"orders": len(latencies), "rows": len(rows), "filled": len(live_rows), "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99), "mean": statistics.fmean(latencies),
            "rest_between": statistics.fmean(between), "weight_per_step": weight / max(1, len(rows)),
            "span_s": span_ns / 1e9}


async def main(candles: int, train_id: str, runs_dir: Path) -> None:
    run = TrainingRun.load(train_id, runs_dir)
    start = run.history_needed + 10
    results = {name: await run_one(run, start, candles, on) for name, on in (("streams", True), ("rest", False))}
    print(f"candle close -> order received: the real engine in this process, the simulator in its own "
          f"(`sactui sim --speed {SPEED}`), {candles} candles of real 1h BTCUSDT")
    print(f"{'':<9} {'orders':>7} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'REST before order':>18} "
          f"{'weight/step':>12}")
    for name, r in results.items():
        print(f"{name:<9} {r['orders']:>7} {r['p50']:>8.3f} {r['p99']:>8.3f} {r['mean']:>8.3f} "
              f"{r['rest_between']:>18.2f} {r['weight_per_step']:>12.1f}")
    print(f"p50 rest / streams: {results['rest']['p50'] / results['streams']['p50']:.2f}x")
    for name, r in results.items():
        print(f"request weight per hour of 1m candles ({name}): {r['weight_per_step'] * 60:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=1000)
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()
    asyncio.run(main(args.candles, args.train_id, Path(args.runs_dir)))
