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
SIM_START = 500  # the shared ``sim`` fixture's first forming candle (earlier ones are history)


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
                    flatten_max_s: float = 0.2, liquidation_buffer: float = 0.05, **streams):
    """Operator settings for engine tests: fast retries, a chosen drawdown limit, stream settings."""
    from trader_core.settings import RetrySettings, RiskSettings, Settings, StreamSettings, TradingSettings

    stream_settings = {"mark_stale_seconds": 600.0, "reconcile_seconds": 3600.0, **streams}
    return Settings(
        risk=RiskSettings(max_drawdown=max_drawdown, stale_grace_seconds=30.0,
                          max_consecutive_failures=max_failures, flatten_retry_max_seconds=flatten_max_s,
                          liquidation_buffer=liquidation_buffer),
        retries=RetrySettings(attempts=3, delay_seconds=0.05),
        trading=TradingSettings(adopt_unknown_position=adopt),
        streams=StreamSettings(**stream_settings),
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

    def __init__(self, sim, run, production_dir, settings, mode="sim", agent=None, timeout_s=15.0, clock=None,
                 streams=False):
        import asyncio
        from datetime import datetime, timezone

        from trader_core.clock import FeedClock, SystemClock
        from trader_core.engine import TradingEngine
        from trader_core.events import EventLog
        from trader_core.feeds.kline_feed import KlineFeed
        from trader_core.session import SessionStore

        self.sim = sim
        self.events = []
        self.clock = clock or SystemClock()
        self.log = EventLog(self.clock)
        self.log.subscribe(self.events.append)
        self.exchange = make_connector(sim, clock=self.clock, events=self.log)
        exchange = self.exchange

        async def fetch(start_ms, end_ms, limit):
            return await exchange.klines(run.interval, start_ms, end_ms, limit)

        self.feed = KlineFeed("BTCUSDT", run.interval, sim.ws_base, fetch, stale_after_s=30,
                              reconnect_base_s=0.05, reconnect_max_s=0.2, on_event=self.log.report)
        self.streams = None
        if streams:
            from trader_core.exchanges.streams import AccountStreams

            self.streams = AccountStreams(exchange, self.clock, settings.streams, self.log.report,
                                          leverage=run.leverage, reconnect_base_s=0.05, reconnect_max_s=0.2)
        self.store = SessionStore(production_dir)
        self.session = self.store.begin(mode, None, datetime.now(timezone.utc))
        self.rows: dict[int, object] = {}
        self._row_seen = asyncio.Event()
        self.engine = TradingEngine(
            run, agent or run.load_agent(), exchange, self.feed, settings, self.session, production_dir,
            mode=mode, clock=self.clock, market_clock=FeedClock(self.feed), events=self.log,
            on_step=self._on_step, streams=self.streams,
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
        while not (self.engine.state != "STARTING" and self.feed.connected and self.sim.streams.market_connections
                   and (self.streams is None or (self.streams.user.connected and self.streams.book.synced
                                                 and self.streams.mark.connected))):
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

    async def wait_for(self, predicate, what: str):
        """Until ``predicate()`` holds (the engine runs meanwhile); raises on timeout."""
        loop = self._asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {self.timeout_s} s waiting for {what} "
                                     f"(engine {self.engine.state}, last events: "
                                     f"{[e.message for e in self.events[-3:]]})")
            await self._asyncio.sleep(0.01)

    async def ended(self):
        """Wait for the engine's run to end by itself (raises on timeout)."""
        done, _ = await self._asyncio.wait({self.task}, timeout=self.timeout_s)
        if not done:
            raise AssertionError(f"the engine did not end within {self.timeout_s} s (state {self.engine.state})")
        self.session.journal.close()

    async def exchange_position(self):
        """The position as the exchange reports it, through a fresh connection of the test's own."""
        connector = make_connector(self.sim)
        await connector.connect()
        try:
            return await connector.position()
        finally:
            await connector.close()

    @property
    def journal_rows(self):
        from trader_core.journal import read_steps

        return read_steps(self.session.journal.steps_path)

    @property
    def emergency_rows(self):
        from trader_core.journal import read_emergencies

        return read_emergencies(self.session.journal.emergencies_path)


def frame_with_prices(history, closes, step_ms=3_600_000):
    """The run's warm-up history (real candles) followed by candles closing at ``closes``
    (open = previous close, high/low around both) - prices a test chooses exactly."""
    import pandas as pd

    last = history.iloc[-1]
    rows, previous, t = [], float(last["close"]), int(last["open_time"])
    for close in closes:
        t += step_ms
        rows.append({"open_time": t, "open": previous, "high": max(previous, close), "low": min(previous, close),
                     "close": float(close), "volume": 10.0})
        previous = float(close)
    return pd.concat([history, pd.DataFrame(rows)], ignore_index=True)


class PaperSession:
    """The real engine over a candle frame, on the in-process paper exchange, with a test agent.

    Time is the candles (``CandleClock``), so everything is deterministic; ``market_clock``
    can be replaced to stage staleness. ``latching`` writes the drawdown latch in ``folder``.
    """

    def __init__(self, run, frame, agent, settings, folder, *, market_clock=None, latching=True,
                 balance=None, mode="sim", on_step=None):
        from datetime import datetime, timezone
        from decimal import Decimal

        from trader_core.clock import CandleClock
        from trader_core.engine import TradingEngine
        from trader_core.events import EventLog
        from trader_core.exchanges.paper import PaperExchange
        from trader_core.feeds.clocked_replay import ClockedReplay
        from trader_core.feeds.replay_feed import ReplayFeed
        from trader_core.session import SessionStore

        self.clock = CandleClock()
        self.exchange = PaperExchange(
            run.symbol, run.filters, Decimal(str(balance or run.trading["initial_balance"])), run.fee_rate,
            run.leverage,
        )
        self.feed = ClockedReplay(ReplayFeed(frame, run.history_needed), self.clock, self.exchange, run.interval)
        self.folder = folder
        self.store = SessionStore(folder)
        self.session = self.store.begin(mode, None, datetime(2024, 1, 1, tzinfo=timezone.utc), durable=True,
                                        resumable=False)
        self.events = []
        self.log = EventLog(self.clock)
        self.log.subscribe(self.events.append)
        self.engine = TradingEngine(
            run, agent, self.exchange, self.feed, settings, self.session, folder, mode=mode, clock=self.clock,
            market_clock=market_clock or self.clock, events=self.log, latching=latching, on_step=on_step,
        )

    async def run(self):
        try:
            await self.engine.run()
        finally:
            self.session.journal.close()
        return self.engine

    @property
    def rows(self):
        from trader_core.journal import read_steps

        return read_steps(self.session.journal.steps_path)

    @property
    def emergency_rows(self):
        from trader_core.journal import read_emergencies

        return read_emergencies(self.session.journal.emergencies_path)


def audit_books(sim, steps: list[dict], emergencies: list[dict], interval_ms: int = 3_600_000) -> list[str]:
    """What is wrong between a session's journals and the simulator's own order book (empty: nothing).

    The exchange is the ground truth: every order it executed has exactly one journal row
    naming it, every journaled fill is an order it executed, no client id is used twice,
    every candle from the first row to the last is there exactly once, and the journal's
    last position is the exchange's position."""
    from trader_core.recovery import journal_position

    problems = []
    times = [int(r["candle_open_time"]) for r in steps]
    if len(set(times)) != len(times):
        problems.append("a candle has more than one row")
    if times and times != list(range(times[0], times[-1] + 1, interval_ms)):
        problems.append("the candles are not contiguous")
    named: dict[str, int] = {}
    for row in steps:
        if row["client_order_id"]:
            named[row["client_order_id"]] = named.get(row["client_order_id"], 0) + 1
    for row in emergencies:
        for cid in filter(None, (row.get("close_orders") or "").split(";")):
            named[cid] = named.get(cid, 0) + 1
    twice = [cid for cid, n in named.items() if n > 1]
    if twice:
        problems.append(f"client ids journaled twice: {twice}")
    executed = {o.client_order_id: o for o in sim.exchange.orders.values() if o.executed_qty > 0}
    ours = {cid for cid in executed if cid.startswith("sac-")}
    missing = sorted(ours - set(named))
    if missing:
        problems.append(f"orders the exchange executed with no journal row: {missing}")
    for row in steps:
        if row["order_qty"] not in ("0", "") and row["client_order_id"] not in executed:
            problems.append(f"journaled fill {row['client_order_id']} is not an executed order on the exchange")
    held = sim.exchange.account.position_qty
    journal = journal_position(steps, emergencies)
    if journal != held:
        problems.append(f"journal position {journal} != exchange position {held}")
    return problems


class ShiftedClock:
    """Real time and real sleeping, shifted forward when the test says (``advance``).

    For engines with background loops (streams, the risk watch): a ``ManualClock`` advances
    on every sleep, so a periodic loop would spin and drag time forward with it; here only
    the test moves time."""

    def __init__(self) -> None:
        import time

        self._time = time
        self.shift_s = 0.0

    def advance(self, seconds: float) -> None:
        self.shift_s += seconds

    def now_ms(self) -> int:
        return int((self._time.time() + self.shift_s) * 1000)

    def monotonic(self) -> float:
        return self._time.monotonic() + self.shift_s

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds))


def session_journal(folder):
    """(step rows, emergency rows) of the session ``session.json`` in ``folder`` names: the files
    the running (or last) session writes, which appear with their first row."""
    import json
    from pathlib import Path

    from trader_core.journal import read_emergencies, read_steps

    folder = Path(folder)
    try:
        named = json.loads((folder / "session.json").read_text())
    except (FileNotFoundError, ValueError):
        return [], []
    return read_steps(folder / named["steps_file"]), read_emergencies(folder / named["emergencies_file"])
