"""Drawdown breach between two candle closes -> position flat at the simulator.

Each round: a fresh engine on the account streams (python-binance and websockets
against the loopback simulator), a 0.2 BTC long opened on the exchange and adopted,
then a 10 % price crash inside the forming candle (the simulator's ``price_shock``:
the mark is pushed at once). The risk watch sees the drawdown on that tick and runs the
emergency protocol; the time from the crash to the simulator receiving the close
order, and to the exchange's position reading flat, is measured on one monotonic clock
(one process). Before the exchange-truth work the breach waited for the next candle
close: up to one candle interval (an hour on a 1h run).

    python benchmarks/breach_to_flat.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.candles import load_candles  # noqa: E402
from trader_core.clock import FeedClock, SystemClock  # noqa: E402
from trader_core.credentials import Credentials  # noqa: E402
from trader_core.engine import TradingEngine  # noqa: E402
from trader_core.events import EventLog  # noqa: E402
from trader_core.exchanges.binance import BinanceFutures, Endpoints  # noqa: E402
from trader_core.exchanges.streams import AccountStreams  # noqa: E402
from trader_core.feeds.kline_feed import KlineFeed  # noqa: E402
from trader_core.runs import TrainingRun  # noqa: E402
from trader_core.session import SessionStore  # noqa: E402
from trader_core.settings import RetrySettings, RiskSettings, Settings, StreamSettings, TradingSettings  # noqa: E402
from trader_core.simulator import LoopbackExchange  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
KEY, SECRET = "benchKey0002", "bench-secret"


class Hold:
    def act(self, observation) -> float:
        return 0.0


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_round(run: TrainingRun, frame, start: int) -> tuple[float, float]:
    settings = Settings(
        risk=RiskSettings(max_drawdown=0.05), retries=RetrySettings(attempts=3, delay_seconds=0.05),
        trading=TradingSettings(adopt_unknown_position=True),
        streams=StreamSettings(mark_stale_seconds=600, reconcile_seconds=86_400),
    )
    async with LoopbackExchange(frame, api_key=KEY, api_secret=SECRET, start_index=start, enforce_rate_limits=False,
                                leverage=run.leverage, fee_rate=run.fee_rate) as sim:
        clock = SystemClock()
        events = EventLog(clock)
        exchange = BinanceFutures("BTCUSDT", Credentials(KEY, SECRET), endpoints=Endpoints(sim.rest_base, sim.ws_base),
                                  clock=clock, delay_s=0.05, on_event=events.report)

        async def fetch(start_ms, end_ms, limit):
            return await exchange.klines(run.interval, start_ms, end_ms, limit)

        feed = KlineFeed("BTCUSDT", run.interval, sim.ws_base, fetch, clock=clock, stale_after_s=600)
        streams = AccountStreams(exchange, clock, settings.streams, events.report, leverage=run.leverage)
        with tempfile.TemporaryDirectory() as tmp:
            session = SessionStore(Path(tmp)).begin("sim", None, datetime.now(timezone.utc))
            engine = TradingEngine(run, Hold(), exchange, feed, settings, session, Path(tmp), mode="sim",
                                   clock=clock, market_clock=FeedClock(feed), events=events, latching=False,
                                   streams=streams)
            task = asyncio.create_task(engine.run())
            while not (engine.state == "RUNNING" and streams.user.connected and streams.mark.connected):
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
            await exchange.client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                                       quantity="0.2", newClientOrderId="operator-manual-1")
            await sim.step_update()  # a mark inside the candle: the book is live with the position
            while not (streams.live and streams.book.position_qty == Decimal("0.2")):
                await asyncio.sleep(0.002)
            sent = len(sim.orders_received)
            crash_ns = time.monotonic_ns()
            sim.faults.price_shock(fraction="-0.1")
            while sim.exchange.account.position_qty != 0:
                if task.done():
                    task.result()
                await asyncio.sleep(0.0005)
            flat_ns = time.monotonic_ns()
            close = sim.orders_received[sent]
            await asyncio.wait_for(task, 30)
            session.journal.close()
    return (close.received_ns - crash_ns) / 1e6, (flat_ns - crash_ns) / 1e6


async def main(rounds: int, train_id: str, runs_dir: Path) -> None:
    run = TrainingRun.load(train_id, runs_dir)
    frame = load_candles(DATA)
    to_order, to_flat = [], []
    for i in range(rounds):
        order_ms, flat_ms = await one_round(run, frame, run.history_needed + 10 + i)
        to_order.append(order_ms)
        to_flat.append(flat_ms)
    print(f"drawdown breach inside a candle -> close order received / position flat at the simulator, "
          f"{rounds} rounds, the real engine on the account streams")
    for name, values in (("to close order", to_order), ("to flat", to_flat)):
        print(f"{name:<15} p50 {pct(values, 0.5):7.2f} ms  p99 {pct(values, 0.99):7.2f} ms  "
              f"max {max(values):7.2f} ms  mean {statistics.fmean(values):7.2f} ms")
    print("goal p99 <= 1000 ms: " + ("met" if pct(to_flat, 0.99) <= 1000 else "NOT met"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--train-id", default="demo")
    parser.add_argument("--runs-dir", default=str(REPO / "entrenamientos"))
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.train_id, Path(args.runs_dir)))
