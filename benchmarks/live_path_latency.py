"""Candle close -> order received, on loopback: the live path's reaction time.

The loopback simulator closes a candle (monotonic timestamp when it hands the x:true
kline to the websocket); the client side runs the live path as the engine will:
the kline feed delivers the closed candle, account and position are refreshed over
REST (step A, both requests in flight together), the decision pipeline computes
features -> observation -> deterministic action, the action mapping sizes the
order, and the python-binance connector POSTs it. The simulator timestamps the
order's arrival. Both timestamps come from the same monotonic clock (one process).

The mapping's deadband is set to 0 here so nearly every candle trades; candles
whose target is already met send no order and are counted separately.

    python benchmarks/live_path_latency.py [--candles 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.accounting import price_to_decimal  # noqa: E402
from trader_core.candles import load_candles  # noqa: E402
from trader_core.clock import SystemClock  # noqa: E402
from trader_core.credentials import Credentials  # noqa: E402
from trader_core.decision import DecisionPipeline  # noqa: E402
from trader_core.exchanges.base import make_client_order_id  # noqa: E402
from trader_core.exchanges.binance import BinanceFutures, Endpoints  # noqa: E402
from trader_core.feeds.kline_feed import KlineFeed  # noqa: E402
from trader_core.observation import PortfolioState  # noqa: E402
from trader_core.runs import TrainingRun  # noqa: E402
from trader_core.simulator import LoopbackExchange  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
KEY, SECRET = "benchKey0001", "bench-secret"


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(candles_wanted: int, train_id: str, runs_dir: Path) -> None:
    run = TrainingRun.load(train_id, runs_dir)
    agent = run.load_agent()
    mapping = replace(run.mapping, deadband=0.0)
    frame = load_candles(DATA)
    start = run.history_needed + 10
    candles_wanted = min(candles_wanted, len(frame) - start - 2)
    async with LoopbackExchange(frame, api_key=KEY, api_secret=SECRET, start_index=start,
                                enforce_rate_limits=False, leverage=run.leverage) as sim:
        exchange = BinanceFutures("BTCUSDT", Credentials(KEY, SECRET), endpoints=Endpoints(sim.rest_base, sim.ws_base),
                                  clock=SystemClock())
        await exchange.start(leverage=run.leverage)

        async def fetch(start_ms, end_ms, limit):
            return await exchange.klines(run.interval, start_ms, end_ms, limit)

        feed = KlineFeed("BTCUSDT", run.interval, sim.ws_base, fetch, stale_after_s=120)
        pipeline = DecisionPipeline(run, agent)
        pipeline.warm_up(await feed.history(run.history_needed))
        feed.start()
        while not feed.connected:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        peak = None
        reaction_ms, decision_ms, no_order = [], [], 0
        for n in range(candles_wanted):
            orders_before = len(sim.orders_received)
            await sim.step()
            close_ns = sim.closes[-1].sent_ns
            candle = await feed.next_closed()
            account, position = await asyncio.gather(exchange.account(), exchange.position())
            t0 = time.perf_counter_ns()
            mark = price_to_decimal(candle.close)
            peak = account.equity if peak is None else max(peak, account.equity)
            portfolio = PortfolioState.from_account(
                float(account.equity), float(position.quantity * mark), float(account.unrealized_pnl),
                float(peak), run.mapping.max_leverage,
            )
            decision = pipeline.decide(candle, portfolio)
            plan = mapping.plan(decision.action, account.equity, mark, position.quantity, exchange.filters)
            decision_ms.append((time.perf_counter_ns() - t0) / 1e6)
            if plan.quantity == 0:
                no_order += 1
                continue
            await exchange.market_order(plan.quantity, plan.reduce_only,
                                        make_client_order_id("bench0001", candle.open_time))
            receipt = sim.orders_received[orders_before]
            reaction_ms.append((receipt.received_ns - close_ns) / 1e6)
        await feed.stop()
        await exchange.close()
    print(f"run {run.train_id}: {candles_wanted} candles closed on the simulator, {len(reaction_ms)} orders, "
          f"{no_order} candles already on target (no order)")
    print(f"close -> order received   p50 {pct(reaction_ms, .5):6.2f} ms  p99 {pct(reaction_ms, .99):6.2f} ms  "
          f"max {max(reaction_ms):6.2f} ms  mean {statistics.fmean(reaction_ms):6.2f} ms")
    print(f"  of which decision+sizing p50 {pct(decision_ms, .5):6.2f} ms  p99 {pct(decision_ms, .99):6.2f} ms")
    print(f"goal p50 <= 5 ms: {'met' if pct(reaction_ms, .5) <= 5 else 'NOT met'};  "
          f"p99 <= 15 ms: {'met' if pct(reaction_ms, .99) <= 15 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1000)
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()
    asyncio.run(main(args.candles, args.train_id, Path(args.runs_dir)))
