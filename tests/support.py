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
    """A real candle file: the shared data set, or the repo's bundled copy of it.

    Missing data fails the test (never a silent skip) and says where to put it."""
    for folder in (SHARED_DATA, BUNDLED_DATA):
        if (folder / name).is_file():
            return folder / name
    pytest.fail(
        f"real candle file {name} is missing: put the shared data set beside the repository "
        f"({SHARED_DATA}) - a clean clone needs ../shared/data/btcusdt/ next to it", pytrace=False,
    )


def make_connector(sim, secret=SIM_SECRET, key=SIM_KEY, timeout_s=2.0, clock=None, events=None, grace_s=0.5):
    """The real python-binance connector pointed at a loopback simulator."""
    from trader_core.clock import ManualClock
    from trader_core.credentials import Credentials
    from trader_core.exchanges.binance import BinanceFutures, Endpoints

    if events is None:
        on_event = None
    elif hasattr(events, "report"):
        on_event = events.report
    else:
        on_event = lambda kind, message: events.append((kind, message))  # noqa: E731
    return BinanceFutures(
        "BTCUSDT", Credentials(key, secret), testnet=True,
        endpoints=Endpoints(sim.rest_base, sim.ws_base), clock=clock or ManualClock(),
        attempts=3, delay_s=0.05, request_timeout_s=timeout_s, unknown_grace_s=grace_s, on_event=on_event,
    )


def engine_settings(adopt: bool = False, max_drawdown: float = 0.5, max_failures: int = 5,
                    flatten_max_s: float = 0.2):
    """Operator settings for engine tests: fast retries, a chosen drawdown limit."""
    from trader_core.settings import RetrySettings, RiskSettings, Settings, TradingSettings

    return Settings(
        risk=RiskSettings(max_drawdown=max_drawdown, stale_grace_seconds=30.0,
                          max_consecutive_failures=max_failures, flatten_retry_max_seconds=flatten_max_s),
        retries=RetrySettings(attempts=3, delay_seconds=0.05),
        trading=TradingSettings(adopt_unknown_position=adopt),
    )


class FixedAgent:
    """A test policy that always wants the same action: a model that *wants* to trade."""

    def __init__(self, action: float) -> None:
        self.action = action
        self.calls = 0

    def act(self, observation) -> float:
        self.calls += 1
        return self.action


class AlternatingAgent:
    """A test policy that flips between +a and -a every decision: every candle wants an order."""

    def __init__(self, amplitude: float = 1.0) -> None:
        self.amplitude = amplitude
        self.calls = 0

    def act(self, observation) -> float:
        self.calls += 1
        return self.amplitude if self.calls % 2 else -self.amplitude


class EngineHarness:
    """The real engine, connector and kline feed against a manual-mode simulator.

    ``step(n)`` closes n candles on the simulator and waits until the engine has
    journaled each of them (every candle gets exactly one row) or has ended; a wait
    that times out raises, it never returns quietly.
    """

    def __init__(self, sim, run, production_dir, settings, mode="sim", agent=None, timeout_s=15.0):
        import asyncio
        from datetime import datetime, timezone

        from trader_core.clock import FeedClock, SystemClock
        from trader_core.engine import TradingEngine
        from trader_core.events import EventLog
        from trader_core.feeds.kline_feed import KlineFeed
        from trader_core.session import SessionStore

        self.sim = sim
        self.events = []
        self.log = EventLog(SystemClock())
        self.log.subscribe(self.events.append)
        self.exchange = make_connector(sim, clock=SystemClock(), events=self.log)
        exchange = self.exchange

        async def fetch(start_ms, end_ms, limit):
            return await exchange.klines(run.interval, start_ms, end_ms, limit)

        self.feed = KlineFeed("BTCUSDT", run.interval, sim.ws_base, fetch, stale_after_s=30,
                              reconnect_base_s=0.05, reconnect_max_s=0.2, on_event=self.log.report)
        self.store = SessionStore(production_dir)
        self.session = self.store.begin(mode, None, datetime.now(timezone.utc))
        self.rows: dict[int, object] = {}
        self._row_seen = asyncio.Event()
        self.engine = TradingEngine(
            run, agent or run.load_agent(), exchange, self.feed, settings, self.session, production_dir,
            mode=mode, market_clock=FeedClock(self.feed), events=self.log, on_step=self._on_step,
        )
        self.timeout_s = timeout_s
        self.task = None
        self._asyncio = asyncio

    def _on_step(self, record) -> None:
        self.rows[record.candle_open_time] = record
        self._row_seen.set()

    async def start(self):
        loop = self._asyncio.get_running_loop()
        self.task = self._asyncio.create_task(self.engine.run())
        deadline = loop.time() + self.timeout_s
        while not (self.engine.state != "STARTING" and self.feed.connected):
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the engine ended during start-up (state {self.engine.state})")
            if loop.time() > deadline:
                raise AssertionError(f"the engine did not start within {self.timeout_s} s")
            await self._asyncio.sleep(0.01)
        return self

    async def wait_row(self, open_time: int) -> bool:
        """Until the candle's row is journaled (True) or the engine ended (False); raises on timeout."""
        loop = self._asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while open_time not in self.rows:
            if self.task.done():
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no journal row for candle {open_time} within {self.timeout_s} s "
                    f"(engine {self.engine.state}, last events: {[e.message for e in self.events[-3:]]})"
                )
            self._row_seen.clear()
            try:
                await self._asyncio.wait_for(self._row_seen.wait(), min(remaining, 0.1))
            except self._asyncio.TimeoutError:
                pass
        return True

    async def step(self, n=1):
        """Close ``n`` candles, each journaled before the next; False when the engine ended first."""
        for _ in range(n):
            candle = await self.sim.step()
            if not await self.wait_row(candle.open_time):
                return False
        return True

    async def stop(self):
        """Stop the engine and wait for it (raises if it does not end within the timeout)."""
        self.engine.stop()
        if self.task is not None:
            done, _ = await self._asyncio.wait({self.task}, timeout=self.timeout_s)
            if not done:
                raise AssertionError(f"the engine did not stop within {self.timeout_s} s")
        self.session.journal.close()

    @property
    def journal_rows(self):
        from trader_core.journal import read_steps

        return read_steps(self.session.journal.steps_path)

    @property
    def emergency_rows(self):
        from trader_core.journal import read_emergencies

        return read_emergencies(self.session.journal.emergencies_path)
