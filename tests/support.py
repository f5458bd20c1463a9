"""Helpers shared by test modules (fixtures live in conftest.py files)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "btcusdt"
BUNDLED_DATA = REPO / "data" / "btcusdt"
CANDLES_1H = "binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
FUNDING_8H = "binance_usdm_BTCUSDT_funding_8h_20240221_20250118.csv"
REAL_CANDLE_FILES = (
    CANDLES_1H,
    "binance_usdm_BTCUSDT_5m_20231101_20241230.csv",
    "binance_usdm_BTCUSDT_1m_20230718_20230817.csv",
)
SIM_KEY, SIM_SECRET = "sactuiTestKey01", "sactui-test-secret"


def real_candle_file(name: str) -> Path:
    """A real candle file: the shared data set, or the repo's bundled copy of it."""
    for folder in (SHARED_DATA, BUNDLED_DATA):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"real candle file {name} is not on this machine")


def make_connector(sim, secret=SIM_SECRET, key=SIM_KEY, timeout_s=2.0, clock=None, events=None):
    """The real python-binance connector pointed at a loopback simulator."""
    from trader_core.clock import ManualClock
    from trader_core.credentials import Credentials
    from trader_core.exchanges.binance import BinanceFutures, Endpoints

    return BinanceFutures(
        "BTCUSDT", Credentials(key, secret), testnet=True,
        endpoints=Endpoints(sim.rest_base, sim.ws_base), clock=clock or ManualClock(),
        attempts=3, delay_s=0.05, request_timeout_s=timeout_s,
        on_event=(lambda kind, message: events.append((kind, message))) if events is not None else None,
    )


def engine_settings(adopt: bool = False, max_drawdown: float = 0.5):
    """Operator settings for engine tests: fast retries, a chosen drawdown limit."""
    from trader_core.settings import RetrySettings, RiskSettings, Settings, TradingSettings

    return Settings(
        risk=RiskSettings(max_drawdown=max_drawdown, stale_grace_seconds=30.0),
        retries=RetrySettings(attempts=3, delay_seconds=0.05),
        trading=TradingSettings(adopt_unknown_position=adopt),
    )


class EngineHarness:
    """The real engine, connector and kline feed against a manual-mode simulator.

    ``step(n)`` closes n candles on the simulator and waits until the engine has
    finished with each of them (journaled, or decided not to act).
    """

    def __init__(self, sim, run, production_dir, settings, mode="sim"):
        import asyncio

        from trader_core.clock import FeedClock, SystemClock
        from trader_core.engine import TradingEngine
        from trader_core.feeds.kline_feed import KlineFeed
        from trader_core.session import SessionStore
        from datetime import datetime, timezone

        self.sim = sim
        self.events = []
        self.exchange = make_connector(sim, clock=SystemClock())
        exchange = self.exchange

        async def fetch(start_ms, end_ms, limit):
            return await exchange.klines(run.interval, start_ms, end_ms, limit)

        self.feed = KlineFeed("BTCUSDT", run.interval, sim.ws_base, fetch, stale_after_s=30,
                              reconnect_base_s=0.05, reconnect_max_s=0.2)
        self.store = SessionStore(production_dir)
        self.session = self.store.begin(mode, None, datetime.now(timezone.utc))
        self.engine = TradingEngine(
            run, run.load_agent(), exchange, self.feed, settings, self.session, production_dir,
            mode=mode, market_clock=FeedClock(self.feed), on_event=self.events.append,
        )
        self.task = None
        self._asyncio = asyncio

    async def start(self):
        self.task = self._asyncio.create_task(self.engine.run())
        for _ in range(500):
            if self.engine.state != "STARTING" and self.feed.connected:
                await self._asyncio.sleep(0.05)
                return self
            if self.task.done():
                self.task.result()
            await self._asyncio.sleep(0.01)
        raise AssertionError("engine did not start")

    async def step(self, n=1):
        for _ in range(n):
            candle = await self.sim.step()
            for _ in range(1000):
                done = self.feed.last_open_time is not None and self.feed.last_open_time >= candle.open_time
                if done and not self.engine._lock.locked() and self.feed._queue.empty():
                    await self._asyncio.sleep(0.01)
                    if not self.engine._lock.locked():
                        break
                if self.task.done():
                    return
                await self._asyncio.sleep(0.005)

    async def stop(self):
        self.engine.stop()
        if self.task is not None:
            try:
                await self._asyncio.wait_for(self.task, 10)
            except Exception:  # noqa: BLE001 - the test asserts on state, not on shutdown
                pass
        self.session.journal.close()
