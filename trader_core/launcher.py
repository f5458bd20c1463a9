"""Assemble and run a trading session for a mode: sim, testnet, live or backtest.

Every mode runs the same ``TradingEngine``; only the parts around it change:

=========  ===================================  ==========================  ==============
mode       exchange                             candles                     journal folder
=========  ===================================  ==========================  ==============
sim        loopback simulator, in-process,      the run's bundled replay    ``simulacion/``
           through the python-binance connector candles, websocket
testnet    Binance testnet (connector)          Binance websocket           ``produccion/``
live       Binance mainnet (connector)          Binance websocket           ``produccion/``
backtest   in-process paper exchange            a candle file, in memory    ``backtest/``
=========  ===================================  ==========================  ==============

Safety checks happen here, before anything connects: a drawdown latch refuses the
start; ``--live`` needs the symbol typed exactly; missing credentials name the
variables to set and mention ``--sim``.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Awaitable, Callable

from .candles import load_candles
from .clock import CandleClock, Clock, FeedClock, SystemClock
from .credentials import Credentials, credentials_from_env
from .engine import EngineEvent, TradingEngine
from .errors import ConfigError
from .events import EventLog
from .exchanges.base import Exchange
from .exchanges.streams import AccountStreams
from .feeds.base import Feed
from .instance_lock import SessionLock
from .journal import ensure_writable
from .latch import check_not_latched
from .metrics import RunningMetrics
from .modes import Mode
from .monitoring.monitor import SessionMonitor  # alerts, metrics, heartbeat (issue 11)
from .runs import TrainingRun
from .session import HALTED, STOPPED, SessionStore
from .settings import Settings
from .states import EngineState
from .step_record import StepRecord
from .time_utils import interval_ms

JOURNAL_FOLDERS = {mode.value: mode.journal_folder for mode in Mode}


@dataclass(frozen=True)
class SessionOptions:
    train_id: str
    mode: str  # sim | testnet | live | backtest
    runs_dir: Path = Path("entrenamientos")
    max_candles: int | None = None
    speed: float = 3600.0  # sim: x real time
    data: Path | None = None  # backtest / sim: candle file instead of the run's replay candles
    confirm_live: str | None = None
    endpoint: str | None = None  # testnet mode against a Binance-compatible server (e.g. `sactui sim`)
    trust_run: bool = False  # --trust-run: the operator allows unpickling a run's pickle-only scaler
    funding: Path | None = None  # sim: funding rates to settle at the 8 h marks (default: the run's own file)


@dataclass
class SessionOutcome:
    engine: TradingEngine
    metrics: RunningMetrics
    journal_path: Path
    first_close: float | None = None
    last_close: float | None = None

    @property
    def buy_and_hold_return(self) -> float:
        return 0.0 if not self.first_close else self.last_close / self.first_close - 1.0


def check_live_confirmation(run: TrainingRun, typed: str | None) -> None:
    if typed != run.symbol:
        raise ConfigError(
            f"--live trades real money: confirm with --confirm-live {run.symbol} (the symbol, typed exactly)"
        )


def production_dir(run: TrainingRun, mode: str) -> Path:
    return run.path / Mode(mode).journal_folder


async def run_session(
    options: SessionOptions, settings: Settings,
    on_event: Callable[[EngineEvent], None] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_engine: Callable[[TradingEngine], None] | None = None,
    agent=None,
) -> SessionOutcome:
    """Build the mode's parts, run the engine to its end, and return what happened.

    ``agent`` (anything with ``act(observation) -> float``) replaces the run's model: the
    parity checks drive a backtest with a policy that wants to trade. The command line never
    passes one.

    Order matters: nothing touches the session folder before its lock is held (a
    second process on the same run is refused without changing a byte), nothing
    connects before the latch, the credentials and the journal folder are checked.
    """
    try:
        mode = Mode(options.mode)
    except ValueError:
        raise ConfigError(f"unknown mode {options.mode!r}") from None
    run = TrainingRun.load(options.train_id, options.runs_dir, trust_pickle=options.trust_run)
    if mode is Mode.LIVE:
        check_live_confirmation(run, options.confirm_live)
    if options.endpoint and mode is not Mode.TESTNET:
        raise ConfigError("--endpoint is for testnet mode only (a loopback or proxy server), never --live")
    folder = production_dir(run, mode)
    if mode.latches:
        check_not_latched(folder, run.train_id)  # read-only: a latched run leaves no trace of the attempt
    credentials = None
    if mode.trades_real_exchange:
        credentials = credentials_from_env(testnet=mode is Mode.TESTNET)
    frame = candles_for(run, options.data) if mode in (Mode.SIM, Mode.BACKTEST) else None
    lock = SessionLock.acquire(folder, f"a {mode} session of {run.train_id}")
    try:
        return await _run_locked(options, mode, run, folder, frame, credentials, settings, on_event, on_step,
                                 on_engine, agent)
    finally:
        lock.release()


async def _run_locked(options, mode, run, folder, frame, credentials, settings, on_event, on_step,
                      on_engine, agent=None) -> SessionOutcome:
    if mode.latches:
        check_not_latched(folder, run.train_id)  # again under the lock: a latch written meanwhile counts
    ensure_writable(folder)
    agent = agent if agent is not None else run.load_agent()
    metrics = RunningMetrics()
    outcome_box: dict = {}

    def step_hook(record: StepRecord) -> None:
        metrics.update(record.equity)
        monitor.on_step(record)  # issue 11: counters, daily summary (no I/O, no await)
        outcome_box.setdefault("first_close", record.close)
        outcome_box["last_close"] = record.close
        outcome_box["steps"] = outcome_box.get("steps", 0) + 1
        if on_step is not None:
            on_step(record)
        if options.max_candles and outcome_box["steps"] >= options.max_candles:
            outcome_box["engine"].stop()

    async with AsyncExitStack() as stack:
        events = EventLog(CandleClock() if mode is Mode.BACKTEST else SystemClock())
        if on_event is not None:
            events.subscribe(on_event)
        # issue 11: alerts, metrics endpoint, heartbeat - subscribers that never make the engine wait
        monitor = SessionMonitor(settings, mode=mode, train_id=run.train_id, symbol=run.symbol, interval=run.interval,
                                 folder=folder, events=events)
        parts = await PART_BUILDERS[mode](PartsRequest(options, run, frame, settings, credentials, stack, events))
        events.clock = parts.clock
        store = SessionStore(folder)
        session = store.begin(mode.value, None, datetime.now(timezone.utc), durable=parts.durable,
                              resumable=mode.trades_real_exchange)
        for note in session.notes:
            events.emit("warning", "session", note)
        engine = TradingEngine(
            run, agent, parts.exchange, parts.feed, settings, session, folder, mode=mode.value, clock=parts.clock,
            market_clock=parts.market_clock, durable_journal=parts.durable, events=events, on_step=step_hook,
            latching=mode.latches, streams=parts.streams,
        )
        outcome_box["engine"] = engine
        if on_engine is not None:
            on_engine(engine)
        monitor.attach(engine, session)  # issue 11
        failure: BaseException | None = None
        try:
            await engine.run()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            session.journal.close()
            _end_session(store, session, engine, failure)
            monitor.close(engine, failure)  # issue 11: last heartbeat, stop alert, bounded flush
    return SessionOutcome(engine, metrics, session.journal.steps_path,
                          outcome_box.get("first_close"), outcome_box.get("last_close"))


def _end_session(store: SessionStore, session, engine: TradingEngine, failure: BaseException | None) -> None:
    """session.json after the engine ended, so the next start does the right thing.

    halted (the emergency protocol ended it) and stopped (a clean end) start a new
    session next time. An engine that failed after trading - or failed to start a
    session it was resuming, or halted because its journal could not be written -
    leaves the session running, exactly like a crash: the next start resumes it and
    recovers from the exchange what the journal is missing.
    """
    if engine.state == EngineState.HALTED and engine.halted_trigger == "journal_failure":
        return  # left running: the next start resumes it and recovers from the exchange what the journal missed
    if engine.state == EngineState.HALTED:
        store.end(session, status=HALTED, reason=engine.halted_reason)
    elif failure is None:
        store.end(session, status=STOPPED, reason="stopped")
    elif not session.resumed and session.last_candle_open_time is None:
        store.end(session, status=STOPPED, reason=f"failed to start: {failure}")


@dataclass(frozen=True)
class SessionParts:
    """What differs between modes: the exchange, the candles, the clocks, the journal's durability."""

    exchange: Exchange
    feed: Feed
    clock: Clock  # wall time (or the candles' time in a backtest): timestamps, waiting
    market_clock: Clock  # "now" for the stale-candle check (a replay's own market time)
    durable: bool  # every journal row fsynced (all but backtests)
    streams: AccountStreams | None = None  # the user-data and mark price streams (network modes)


@dataclass(frozen=True)
class PartsRequest:
    options: SessionOptions
    run: TrainingRun
    frame: object  # the candle frame of a sim or backtest
    settings: Settings
    credentials: Credentials | None
    stack: AsyncExitStack  # closes what a builder opened (the in-process simulator)
    events: EventLog


async def _backtest_parts(req: PartsRequest) -> SessionParts:
    """The in-process paper exchange over the candle file: time is the candles."""
    from .exchanges.paper import PaperExchange
    from .feeds.clocked_replay import ClockedReplay
    from .feeds.replay_feed import ReplayFeed

    run = req.run
    clock = CandleClock()
    exchange = PaperExchange(run.symbol, run.filters, Decimal(str(run.trading["initial_balance"])), run.fee_rate,
                             run.leverage)
    feed = ClockedReplay(ReplayFeed(req.frame, min(run.history_needed, len(req.frame) - 1)), clock, exchange,
                         run.interval)
    return SessionParts(exchange, feed, clock, clock, durable=False)


async def _sim_parts(req: PartsRequest) -> SessionParts:
    """The loopback simulator in this process, replaying the candles, through the live connector."""
    from .exchanges.binance import Endpoints
    from .simulator import LoopbackExchange

    run, options = req.run, req.options
    start = int((run.metadata.get("replay") or {}).get("history_rows") or run.history_needed)
    if options.data is not None:
        start = run.history_needed
    key, secret = "sim" + secrets.token_hex(8), secrets.token_hex(16)
    funding = funding_for(run, options.funding)
    if funding is None:
        req.events.emit("info", "funding", "no funding file found for this run: the offline exchange charges "
                        "no funding (pass --funding FILE)")
    sim = await req.stack.enter_async_context(LoopbackExchange(
        req.frame, api_key=key, api_secret=secret, start_index=start, speed=options.speed,
        initial_balance=Decimal(str(run.trading["initial_balance"])), fee_rate=run.fee_rate, leverage=run.leverage,
        funding=funding,
    ))
    stale_after = max(5.0, 3 * (interval_ms(run.interval) / 1000 / options.speed))
    return _network_parts(req, Credentials(key, secret), Endpoints(sim.rest_base, sim.ws_base), True, True,
                          stale_after)


async def _binance_parts(req: PartsRequest) -> SessionParts:
    """Binance testnet or mainnet - or, for testnet, another Binance-compatible server (--endpoint)."""
    from .exchanges.binance import Endpoints

    if req.options.endpoint:
        return _network_parts(req, req.credentials, Endpoints.from_url(req.options.endpoint), True, True, 60.0)
    testnet = Mode(req.options.mode) is Mode.TESTNET
    return _network_parts(req, req.credentials, None, testnet, False, 60.0)


def _network_parts(req: PartsRequest, credentials, endpoints, testnet: bool, replayed: bool,
                   stale_after: float) -> SessionParts:
    from .exchanges.binance import BinanceFutures
    from .feeds.kline_feed import KlineFeed

    run, retries = req.run, req.settings.retries
    clock = SystemClock()
    exchange = BinanceFutures(
        run.symbol, credentials, testnet=testnet, endpoints=endpoints, clock=clock,
        attempts=retries.attempts, delay_s=retries.delay_seconds, on_event=req.events.report,
    )

    async def fetch(start_ms, end_ms, limit):
        return await exchange.klines(run.interval, start_ms, end_ms, limit)

    feed = KlineFeed(run.symbol, run.interval, exchange.ws_base, fetch, clock=clock, stale_after_s=stale_after,
                     on_event=req.events.report)
    market_clock = FeedClock(feed, clock) if replayed else clock
    streams = None
    if req.settings.streams.enabled:
        streams = AccountStreams(exchange, clock, req.settings.streams, req.events.report, leverage=run.leverage)
    return SessionParts(exchange, feed, clock, market_clock, durable=True, streams=streams)


#: How each mode builds its parts; the engine around them is the same.
PART_BUILDERS: dict[Mode, Callable[[PartsRequest], Awaitable[SessionParts]]] = {
    Mode.BACKTEST: _backtest_parts, Mode.SIM: _sim_parts, Mode.TESTNET: _binance_parts, Mode.LIVE: _binance_parts,
}


def funding_for(run: TrainingRun, path: Path | None):
    """The funding rates the offline exchange settles: ``path``, or the file the run was trained
    with, found next to the run or in the repository's ``data/<symbol>/`` (None: no funding)."""
    from .candles import load_funding

    if path is not None:
        return load_funding(path)
    name = (run.metadata.get("data") or {}).get("funding_file")
    if not name:
        return None
    for folder in (run.path, run.path.parent.parent / "data" / run.symbol.lower(), Path("data") / run.symbol.lower()):
        if (folder / name).is_file():
            return load_funding(folder / name)
    return None


def candles_for(run: TrainingRun, data: Path | None):
    """The candle file given, or the run's bundled replay candles (verified)."""
    if data is not None:
        return load_candles(data)
    path = run.replay_candles_path
    if path is None:
        raise ConfigError(f"run {run.train_id} bundles no replay candles: pass --data FILE")
    return load_candles(path)
