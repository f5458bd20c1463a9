"""The trading engine: exactly one journal row per closed candle, A to H, and the emergency protocol.

Per closed candle (never twice: candles at or before the last journaled one are folded
into the features and skipped):

  A. refresh account and position from the exchange
  B. drawdown on equity *including unrealised PnL* against the session's peak;
     breach -> emergency protocol (the latch first: no automatic restart)
  C. features and observation (the same code as training)
  D. the agent's deterministic action
  E. pre-trade validation: engine state, stale or backfilled candle, filters, margin
  F. execute (deterministic client order id per candle; an unknown outcome is looked
     up, never resent)
  G. refresh the state after the order
  H. one journal row, fsynced - also for candles that could not be traded (a failed
     read, a ban, an emergency): the journal has every candle exactly once

States: RUNNING, PAUSED (data flows, no new orders), REDUCING (only orders that
reduce exposure: while the emergency protocol closes), HALTED (nothing more; if the
position is still open the protocol keeps closing until the exchange reads flat or
the operator stops the process). Commands: ``pause``, ``resume``, ``flatten``, ``stop``.

Never trade blind: a ban (HTTP 418) holds trading - rows say ``SKIPPED:banned`` and
the snapshot carries the countdown - and resumes when it lifts; a journal that cannot
be written stops new orders at once and runs the emergency protocol; consecutive
exchange failures and an order whose outcome nobody can tell run it too.

The engine publishes an immutable ``EngineSnapshot`` and events to the session's
``EventLog``; any UI reads those and calls the commands, and nothing else. This
module never imports a UI.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

from .accounting import Fill, drawdown, price_to_decimal
from .books import FillBooks, compare_totals, income_totals, journal_totals
from .candles import Candle
from .client_ids import candle_order_id
from .clock import Clock, SystemClock
from .decision import DecisionPipeline
from .emergency import (
    EmergencyProtocol,
    FlattenOutcome,
    PendingClose,
    sleep_unless,
)
from .errors import (
    CredentialsError,
    ExchangeError,
    FeedExhausted,
    JournalError,
    OrderOutcomeUnknown,
    OrderRejected,
    SactuiError,
    TradingHeld,
)
from .events import EngineEvent, EventLog
from .exchanges.base import (
    NOT_FOUND,
    AccountState,
    Exchange,
    OrderResult,
    PositionState,
)
from .exchanges.streams import AccountStreams
from .feeds.base import Feed
from .journal import EmergencyRecord, Journal, read_emergencies, read_steps
from .observation import PortfolioState
from .reconcile import reconcile
from .recovery import read_recovery
from .risk import DrawdownGuard, is_stale, pre_trade_block
from .runs import TrainingRun
from .session import SessionState
from .settings import Settings
from .states import EngineState
from .step_record import AccountFigures, StepRecord, decimal_text, record_step
from .time_utils import interval_ms, iso_ms
from .watch import RiskWatch

RECENT_CANDLES = 120
RECENT_STEPS = 50
UNKNOWN = float("nan")  # the action of a candle the engine could not decide on (down, recovered)
T = TypeVar("T")

__all__ = ["EngineEvent", "EngineSnapshot", "TradingEngine"]


@dataclass(frozen=True)
class EngineSnapshot:
    mode: str
    symbol: str
    interval: str
    train_id: str
    state: EngineState
    connected: bool
    market_age_s: float | None
    candles: tuple[Candle, ...]
    forming: Candle | None
    steps: tuple[StepRecord, ...]
    events: tuple[EngineEvent, ...]
    position: PositionState | None
    account: AccountState | None
    peak_equity: float
    drawdown: float
    max_drawdown: float
    stats: dict
    halted_reason: str = ""
    last_error: str = ""
    journal_path: str = ""
    held_until_ms: int = 0  # a ban holds trading until then (0: not held)
    closing: bool = False  # the emergency protocol is still closing a position that is not flat


class _StopRequested(Exception):
    """stop() arrived while start-up waited for a ban to lift."""


class TradingEngine:
    def __init__(
        self, run: TrainingRun, agent, exchange: Exchange, feed: Feed, settings: Settings,
        session: SessionState, production_dir: Path, *, mode: str, clock: Clock | None = None,
        market_clock: Clock | None = None, durable_journal: bool = True, events: EventLog | None = None,
        on_event: Callable[[EngineEvent], None] | None = None,
        on_step: Callable[[StepRecord], None] | None = None, latching: bool = True,
        streams: AccountStreams | None = None,
    ) -> None:
        self.training_run = run
        self.exchange = exchange
        self.feed = feed
        self.settings = settings
        self.session = session
        self.production_dir = Path(production_dir)
        self.mode = mode
        self.clock = clock or SystemClock()
        self.market_clock = market_clock or self.clock
        self.latching = latching
        self._durable = durable_journal
        self.events = events or EventLog(self.clock)
        if on_event is not None:
            self.events.subscribe(on_event)
        self._on_step = on_step
        self.pipeline = DecisionPipeline(run, agent)
        self.step_ms = interval_ms(run.interval)
        self.guard = DrawdownGuard(settings.risk.max_drawdown)
        if session.stats is not None and session.stats.peak_equity:
            self.guard.peak = Decimal(str(session.stats.peak_equity))
        retries = settings.retries
        self.protocol = EmergencyProtocol(
            exchange, self.clock, attempts=retries.attempts, delay_s=retries.delay_seconds,
            max_delay_s=settings.risk.flatten_retry_max_seconds, emit=self._event, session_tag=session.tag,
            mode=str(mode), fee_rate=run.fee_rate, latch_folder=self.production_dir if latching else None,
        )
        self.state = EngineState.STARTING
        self.halted_reason = ""
        self.halted_trigger = ""
        self.last_error = ""
        self.held_until_ms = 0
        self._candles: deque[Candle] = deque(maxlen=RECENT_CANDLES)
        self._steps: deque[StepRecord] = deque(maxlen=RECENT_STEPS)
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self.consecutive_failures = 0
        self._emergency_seq = 0
        self._pending_close: PendingClose | None = None
        self._journal_broken = False
        self.account: AccountState | None = None
        self.position: PositionState | None = None
        self._fees_paid = Decimal(0)
        self._in_process = exchange.in_process
        self._snapshot: EngineSnapshot | None = None
        self._dirty = True
        self._built_at = 0.0
        self.events.subscribe(lambda _event: self._publish())
        self._interrupt = asyncio.Event()  # a guard's emergency wakes the candle loop
        self._realized = Decimal(0)  # realised PnL the exchange booked this session (fills)
        self._funding = Decimal(0)  # funding the exchange settled this session
        self.streams = streams
        self._streamed: bool | None = None  # the last step read the pushed account (None: no step yet)
        stream_settings = settings.streams
        self.books = FillBooks(exchange, run.fee_rate, Decimal(str(stream_settings.tolerance)), self._event,
                               streams, stream_settings.fill_wait_seconds)
        self.watch: RiskWatch | None = None
        if streams is not None:
            streams.book.subscribe(lambda _kind: self._publish())
            self.watch = RiskWatch(
                streams, exchange, self.guard, settings, self.clock, on_breach=self._on_breach, report=self._event,
                watching=lambda: self.state in (EngineState.RUNNING, EngineState.PAUSED),
            )

    # ------------------------------------------------------------------ events & snapshot
    def _event(self, level: str, kind: str, message: str) -> None:
        self.events.emit(level, kind, message)

    def _publish(self) -> None:
        self._dirty = True

    @property
    def snapshot(self) -> EngineSnapshot:
        """The latest immutable state, built on demand (a backtest never asks); rebuilt at
        least every 250 ms while someone watches, so message age and the forming candle move."""
        now = time.monotonic()
        if self._dirty or self._snapshot is None or now - self._built_at > 0.25:
            self._snapshot = self._make_snapshot()
            self._dirty = False
            self._built_at = now
        return self._snapshot

    def _live_view(self) -> tuple[AccountState | None, PositionState | None]:
        """The account and position to show: the pushed ones (moving with the mark) when live."""
        streams = self.streams
        if streams is not None and streams.live:
            return streams.book.account_state(), streams.book.position_state()
        return self.account, self.position

    def _make_snapshot(self) -> EngineSnapshot:
        stats = self.session.stats.as_dict() if self.session.stats is not None else {}
        account, position = self._live_view()
        equity = account.equity if account else None
        peak = float(self.guard.peak) if self.guard.peak is not None else 0.0
        dd = drawdown(equity, self.guard.peak) if equity is not None and self.guard.peak is not None else 0.0
        return EngineSnapshot(
            mode=str(self.mode), symbol=self.training_run.symbol, interval=self.training_run.interval,
            train_id=self.training_run.train_id, state=self.state, connected=bool(self.feed.connected),
            market_age_s=self.feed.message_age_s(), candles=tuple(self._candles),
            forming=self.feed.forming, steps=tuple(self._steps), events=self.events.recent,
            position=position, account=account, peak_equity=peak, drawdown=dd,
            max_drawdown=self.settings.risk.max_drawdown, stats=stats, halted_reason=self.halted_reason,
            last_error=self.last_error, journal_path=str(self.session.journal.steps_path),
            held_until_ms=self.held_until_ms if self.held_until_ms > self.clock.now_ms() else 0,
            closing=self._pending_close is not None,
        )

    async def _refresh(self) -> tuple[AccountState, PositionState]:
        """Account and position: both requests in flight together on a network exchange,
        plain sequential calls on an in-process one (no tasks to schedule)."""
        if self._in_process:
            return await self.exchange.account(), await self.exchange.position()
        account, position = await asyncio.gather(self.exchange.account(), self.exchange.position())
        return account, position

    # ------------------------------------------------------------------ commands
    def pause(self) -> None:
        if self.state == EngineState.RUNNING:
            self.state = EngineState.PAUSED
            self._event("info", "pause", "paused: market data keeps flowing, no new orders")

    def resume(self) -> None:
        if self.state == EngineState.PAUSED:
            self.state = EngineState.RUNNING
            self._event("info", "resume", "resumed")

    async def flatten(self) -> EmergencyRecord:
        """Operator's flatten: cancel everything, close the position, verify, stay paused.

        Works after the session ended too (a crash, a stop): the connection is reopened
        for the flatten and closed again - F9 must never be a no-op. While the emergency
        protocol is already closing (HALTED, NOT FLAT) it says so instead of competing.
        """
        if self._pending_close is not None:
            self._event("warning", "flatten", "the emergency protocol is already closing the position; "
                        "it keeps trying until the exchange reads flat")
            pending = self._pending_close
            return self.protocol.record(pending.seq, "operator_flatten", "F9 while the emergency protocol closes",
                                        pending.outcome, self.guard.peak, self.state)
        async with self._lock:
            reopened = False
            if not self.exchange.connected:
                self._event("warning", "flatten", "session not connected; reconnecting to flatten")
                await self.exchange.connect()
                reopened = True
            try:
                ended = (EngineState.HALTED, EngineState.STOPPED)
                after = EngineState.PAUSED if self.state not in ended else self.state
                record = await self._run_emergency("operator_flatten", "operator asked to flatten all", after)
            finally:
                if reopened:
                    await self.exchange.close()
            self._publish()
            return record

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Start up, trade until stopped, halted or out of data; always clean up.

        A HALTED engine whose position is not flat does not end here: the emergency
        protocol keeps closing until the exchange reads flat or ``stop()`` hands over."""
        try:
            try:
                await self._start_up()
            except _StopRequested:
                self._event("info", "stop", "stopped while waiting for a ban to lift; nothing was traded")
                return
            if self.watch is not None:
                self.watch.start()
            while not self._stop.is_set() and self.state != EngineState.HALTED:
                candle = await self._next_candle()
                if candle is None:
                    break
                async with self._lock:
                    await self._step(candle)
            if self._pending_close is not None:
                await self._keep_closing()
        except asyncio.CancelledError:
            self._event("info", "stop", "engine cancelled; shutting down")
            raise
        except SactuiError as exc:
            self.last_error = str(exc)
            self._event("error", "fatal", str(exc))
            raise
        finally:
            if self.state != EngineState.HALTED:
                self.state = EngineState.STOPPED
            await self._shutdown()

    async def _next_candle(self) -> Candle | None:
        if self.feed.in_process:  # a replay: the next candle is always ready
            try:
                return await self.feed.next_closed()
            except FeedExhausted:
                self._event("info", "end", "no more candles")
                return None
        getter = asyncio.ensure_future(self.feed.next_closed())
        stopper = asyncio.ensure_future(self._stop.wait())
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            done, _ = await asyncio.wait({getter, stopper, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            interrupted.cancel()
        if getter not in done:
            getter.cancel()
            return None
        try:
            return getter.result()
        except FeedExhausted:
            self._event("info", "end", "no more candles")
            return None

    async def _through_bans(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a start-up call, waiting out an IP ban (HTTP 418) instead of giving up."""
        while True:
            try:
                return await operation()
            except TradingHeld as exc:
                self._held(exc)
                wait = max(1.0, (exc.until_ms - self.clock.now_ms()) / 1000)
                if await sleep_unless(self.clock, wait, self._stop):
                    raise _StopRequested from None

    async def _start_up(self) -> None:
        run = self.training_run
        await self._through_bans(lambda: self.exchange.start(run.leverage, self.settings.trading.margin_type))
        if self.streams is not None:
            self.streams.start()  # they sync while the history downloads
        history = await self._through_bans(lambda: self.feed.history(run.history_needed))
        self.pipeline.warm_up(history)
        self._candles.extend(history[-RECENT_CANDLES:])
        self.account, self.position = await self._through_bans(self._refresh)
        self.guard.observe(self.account.equity)
        self._fees_paid = Decimal(0)
        expected, origin = Decimal(0), "this new session"
        if self.session.resumed:
            expected, origin = await self._through_bans(lambda: self._recover(history))
        recon = await self._through_bans(lambda: reconcile(
            self.exchange, expected, adopt=self.settings.trading.adopt_unknown_position, origin=origin))
        if recon.note:
            self._event("warning", "adopt" if recon.adopted else "reconcile", recon.note)
        self.position = recon.position
        if not self.session.resumed and recon.position.quantity != 0:
            self.session.record_start_position(recon.position.quantity)
        self.account = await self._through_bans(self.exchange.account)
        self.guard.observe(self.account.equity)
        if self.session.stats is not None and self.session.stats.start_equity is None:
            self.session.stats.start_equity = float(self.account.equity)
        self.state = EngineState.RUNNING
        resumed = " (resumed after an unclean stop)" if self.session.resumed else ""
        self._event("info", "start", f"{self.mode} session on {run.symbol} {run.interval}{resumed}: ready")
        self.feed.start()

    async def _recover(self, history: list[Candle]) -> tuple[Decimal, str]:
        """After a crash: journal every order the dead process sent that no row names, and
        every candle that closed while it was down; return the position the exchange must hold."""
        journal = self.session.journal
        found = await read_recovery(
            tag=self.session.tag, steps_path=journal.steps_path, emergencies_path=journal.emergencies_path,
            last_candle=self.session.last_candle_open_time, start_position=self.session.start_position,
            exchange=self.exchange, feed=self.feed, history=history, step_ms=self.step_ms, position=self.position,
            account=self.account, peak=self.guard.peak, mode=str(self.mode), fee_rate=self.training_run.fee_rate,
            now_ms=self.clock.now_ms(),
        )
        self._emergency_seq = found.last_seq
        self._fees_paid, self._realized, self._funding = found.fees_paid, found.realized_pnl, found.funding
        for record, orders in found.emergencies:
            self._event("warning", "recovered", f"emergency {record.seq} ({record.trigger}) was cut off by the "
                        f"crash: close order(s) {record.close_orders} found on the exchange and journaled")
            await self._record_emergency(await self._booked(record, tuple(o for o in orders if o.executed_qty > 0)))
        for candle, order in found.missed:
            if order is not None:
                self._event("warning", "recovered", f"found order {order.client_order_id} ({order.status}, "
                            f"{order.executed_qty} executed) sent before the crash; journaled, not resent")
            await self._journal_recovered(candle, order)
        if found.missed:
            self._event("warning", "down", f"{len(found.missed)} candle(s) closed while the session was down; "
                        "journaled as SKIPPED:down (or the order found for them)")
        return found.plan.expected_position, found.origin

    async def _journal_recovered(self, candle: Candle, order: OrderResult | None) -> None:
        fill, status, client_id, expected = None, "SKIPPED:down", "", None
        if order is not None:
            client_id = order.client_order_id
            status = f"{order.status}:recovered"
            if order.executed_qty > 0:
                booked = await self.books.book(order, None)
                fill = Fill(booked.quantity, booked.price, booked.fee, booked.realized_pnl, Decimal(0), Decimal(0))
                expected = booked.expected_fee
        await self._journal(self._record(candle, UNKNOWN, UNKNOWN, fill, status, client_id, 0.0, expected))

    async def _check_books(self) -> None:
        """At the end of a session on a real exchange: the journal's fees, realised PnL and funding
        against the exchange's income history; a difference beyond the tolerance is an event."""
        if self.exchange.in_process or not self.exchange.connected or self.session.stats is None:
            return
        journal = self.session.journal
        try:
            started = int(datetime.strptime(self.session.started_at, "%Y-%m-%dT%H:%M:%SZ")
                          .replace(tzinfo=timezone.utc).timestamp() * 1000)
            income = await self.exchange.income(started)
            rows = await asyncio.to_thread(read_steps, journal.steps_path)
            emergencies = await asyncio.to_thread(read_emergencies, journal.emergencies_path)
        except (ExchangeError, ValueError, OSError) as exc:
            self._event("warning", "books", f"could not check the journal against the exchange's income: {exc}")
            return
        differences = compare_totals(journal_totals(rows, emergencies), income_totals(income),
                                     Decimal(str(self.settings.streams.tolerance)))
        if differences:
            self._event("warning", "books", "the journal differs from the exchange's income history: "
                        + "; ".join(differences))
        else:
            self._event("info", "books", "the journal's fees, realised PnL and funding match the exchange's income")

    async def _shutdown(self) -> None:
        if self.watch is not None:
            await self.watch.stop()
        if self.streams is not None:
            await self.streams.stop()
        await self._check_books()
        for closer in (self.feed.stop, self.exchange.close):
            try:
                await closer()
            except Exception as exc:  # noqa: BLE001 - shutting down: report, keep closing
                self._event("warning", "shutdown", f"while closing: {exc}")
        self._publish()

    # ------------------------------------------------------------------ one step
    async def _step(self, candle: Candle) -> None:
        self._candles.append(candle)
        last = self.session.last_candle_open_time
        if last is not None and candle.open_time <= last:
            self.pipeline.on_candle(candle)  # journaled before a restart: fold in, never act twice
            return
        started = time.perf_counter()
        # A. account and position: pushed (no REST before the order) when the streams are live
        try:
            self.account, self.position = await self._read_account()
        except TradingHeld as exc:
            self.pipeline.on_candle(candle)
            self._held(exc)
            await self._journal_skip(candle, "SKIPPED:banned", started)
            return
        except CredentialsError as exc:
            self.pipeline.on_candle(candle)
            await self._emergency("critical_error", str(exc))
            await self._journal_skip(candle, "ERROR:credentials", started)
            return
        except ExchangeError as exc:
            self.pipeline.on_candle(candle)
            await self._failure("account refresh", exc)
            await self._journal_skip(candle, "ERROR:account", started)
            return
        self._unheld()
        self.consecutive_failures = 0  # the exchange answered: failures are consecutive no more
        equity = self.account.equity
        # B. drawdown on equity including unrealised PnL, against the session's peak
        drawdown = self.guard.observe(equity)
        if self.guard.breached(equity):
            self.pipeline.on_candle(candle)
            await self._emergency(
                "max_drawdown",
                f"drawdown {drawdown:.2%} reached the limit {self.settings.risk.max_drawdown:.2%}",
            )
            await self._journal_skip(candle, "SKIPPED:emergency", started)
            return
        mark = price_to_decimal(candle.close)
        portfolio = PortfolioState.from_account(
            float(equity), float(self.position.quantity * mark), float(self.account.unrealized_pnl),
            float(self.guard.peak), self.training_run.mapping.max_leverage,
        )
        # C + D. features, observation, deterministic action
        decision = self.pipeline.decide(candle, portfolio)
        if decision is None:
            await self._journal_skip(candle, "SKIPPED:warmup", started)
            return
        # E. pre-trade validation
        plan = self.training_run.mapping.plan(decision.action, equity, mark, self.position.quantity, self.exchange.filters)
        block = self._blocked(candle, plan, mark)
        client_id = ""
        fill: Fill | None = None
        status = f"SKIPPED:{block}" if block else ""
        # F. execute
        if block is None:
            client_id = candle_order_id(self.session.tag, candle.open_time)
            status, fill, expected_fee, client_id = await self._execute(plan, client_id)
            # G. state after the order (its fills and account update already awaited when streamed)
            if fill is not None:
                try:
                    self.account, self.position = await self._read_account(after_order=True)
                except ExchangeError as exc:
                    self._event("warning", "refresh", f"state refresh after the order failed: {exc}")
                self.guard.observe(self.account.equity)
        else:
            expected_fee = None
        # H. journal
        latency_ms = (time.perf_counter() - started) * 1000.0
        await self._journal(self._record(candle, decision.action, plan.target_exposure, fill, status, client_id,
                                         latency_ms, expected_fee))

    def _blocked(self, candle: Candle, plan, mark: Decimal) -> str | None:
        """Why the planned order must not go out now (None: it may)."""
        if plan.quantity != 0:
            if candle.backfilled:
                return "backfilled"
            stale = is_stale(candle.open_time + self.step_ms, self.market_clock.now_ms(),
                             int(self.settings.risk.stale_grace_seconds * 1000))
            if stale:
                return "stale"
        return pre_trade_block(
            plan, self.state, self.account, mark, self.training_run.leverage, self.training_run.fee_rate,
            self.position.quantity,
        )

    def _record(self, candle: Candle, action: float, target: float, fill: Fill | None, status: str,
                client_id: str, latency_ms: float, expected_fee: Decimal | None = None) -> StepRecord:
        funding = self.streams.book.take_funding() if self.streams is not None else Decimal(0)
        return record_step(
            candle=candle, interval_ms=self.step_ms, raw_action=action, target_exposure=target, fill=fill,
            status=status, figures=self._figures(fill, funding), peak_equity=float(self.guard.peak),
            mode=str(self.mode), state=self.state, client_order_id=client_id, decision_latency_ms=latency_ms,
            time=iso_ms(self.clock.now_ms()), funding=float(funding), expected_fee=expected_fee,
        )

    async def _journal_skip(self, candle: Candle, status: str, started: float) -> None:
        """The row of a candle the engine could not decide on: last known figures, no action."""
        if self.account is None or self.position is None:
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        await self._journal(self._record(candle, UNKNOWN, UNKNOWN, None, status, "", latency_ms))

    def _figures(self, fill: Fill | None, funding: Decimal) -> AccountFigures:
        """Account after the step. The journal's ``realized_pnl`` is the session's running total of
        what the exchange booked: the realised PnL of every fill (model orders and closes) plus
        the funding settled - the wallet's change since the session began, fees added back."""
        a, p = self.account, self.position
        if fill is not None:
            self._fees_paid += fill.fee
            self._realized += fill.realized_pnl
        self._funding += funding
        realized = self._realized + self._funding
        return AccountFigures(a.wallet_balance, a.equity, a.unrealized_pnl, realized, p.quantity, p.entry_price)

    async def _execute(self, plan, client_id: str) -> tuple[str, Fill | None, Decimal | None, str]:
        """Send the order; its status, the fill as the exchange booked it, the locally expected fee, and
        the client id the row names ("" when nothing reached the exchange: a ban already known)."""
        try:
            result = await self.exchange.market_order(plan.quantity, plan.reduce_only, client_id)
        except OrderRejected as exc:
            self._event("warning", "rejected", str(exc))
            return f"REJECTED:{exc.code}", None, None, client_id
        except TradingHeld as exc:
            self._held(exc)
            return "SKIPPED:banned", None, None, client_id if exc.sent else ""
        except (OrderOutcomeUnknown, CredentialsError) as exc:
            await self._emergency("critical_error", str(exc))
            return "UNKNOWN" if isinstance(exc, OrderOutcomeUnknown) else "ERROR:credentials", None, None, client_id
        except ExchangeError as exc:
            await self._failure("order", exc)
            return "ERROR", None, None, client_id
        self.consecutive_failures = 0
        if result.status == NOT_FOUND:
            self._event("warning", "not-found", f"order {client_id}: not on the exchange after its answer was "
                        "lost; not sent again - the next candle re-plans from the real position")
            return NOT_FOUND, None, None, client_id
        if result.executed_qty == 0:
            return result.status, None, None, client_id
        booked = await self.books.book(result, self.position.quantity + result.signed_executed_qty)
        fill = Fill(booked.quantity, booked.price, booked.fee, booked.realized_pnl, Decimal(0), Decimal(0))
        return result.status, fill, booked.expected_fee, client_id

    async def _read_account(self, after_order: bool = False) -> tuple[AccountState, PositionState]:
        """The pushed account when the streams are live (no REST round trip); REST otherwise,
        saying so when the source changes."""
        streams = self.streams
        if streams is not None and streams.live:
            if self._streamed is False:
                self._event("info", "streams", "streams live again: steps read the pushed account")
            self._streamed = True
            return streams.book.account_state(), streams.book.position_state()
        if streams is not None and self._streamed is not False and not after_order:
            self._event("warning", "streams", "user-data or mark price stream down or stale: this step reads REST")
            self._streamed = False
        return await self._refresh()

    async def _on_breach(self, trigger: str, detail: str, measured_equity: Decimal | None = None) -> None:
        """The risk watch saw a breach between candle closes: the emergency protocol, now. A drawdown
        is latched with the equity it was measured on (its detail's figure), not with the book read
        after the lock: the mark may have moved while a step finished."""
        async with self._lock:
            if self.state not in (EngineState.RUNNING, EngineState.PAUSED):
                return
            self.account, self.position = self.streams.book.account_state(), self.streams.book.position_state()
            await self._emergency(trigger, detail, measured_equity)
        self._interrupt.set()

    async def _failure(self, what: str, exc: ExchangeError) -> None:
        """One more consecutive failure; the emergency protocol when there are too many."""
        self.consecutive_failures += 1
        self.last_error = str(exc)
        self._event("error", "exchange", f"{what} failed ({self.consecutive_failures} in a row): {exc}")
        if self.consecutive_failures >= self.settings.risk.max_consecutive_failures:
            await self._emergency(
                "connection_failures", f"{self.consecutive_failures} consecutive failures: {exc}"
            )

    def _held(self, exc: TradingHeld) -> None:
        """A ban: nothing is sent until it lifts; market data keeps flowing."""
        first = self.held_until_ms <= self.clock.now_ms()
        self.held_until_ms = max(self.held_until_ms, exc.until_ms)
        seconds = max(0.0, (self.held_until_ms - self.clock.now_ms()) / 1000)
        self._event("error" if first else "warning", "held",
                    f"trading held by an IP ban for {seconds:.0f} s more; market data keeps flowing, nothing is "
                    "sent until it lifts")

    def _unheld(self) -> None:
        """The account was read: the ban is over - if its time has passed. With the account streams
        a read sends no request at all, so it proves nothing about the ban (``sactui soak`` found
        every banned candle saying "lifted", then ERROR "held" again, for as long as the ban ran)."""
        if self.held_until_ms and self.held_until_ms <= self.clock.now_ms():
            self.held_until_ms = 0
            self._event("info", "held", "the ban has lifted: trading again")

    async def _journal(self, record: StepRecord) -> None:
        """Write the row (fsynced); a row that cannot be written stops trading at once."""
        journal = self.session.journal
        try:
            if self._durable:
                await asyncio.to_thread(journal.write_step, record)
            else:
                journal.write_step(record)
        except JournalError as exc:
            self._event("emergency", "journal", f"JOURNAL WRITE FAILED: {exc}. The row that could not be "
                        f"written: {record.summary_line()} (client id {record.client_order_id or '-'})")
            if not self._journal_broken:
                self._journal_broken = True
                await self._emergency("journal_failure", f"the journal cannot be written: {exc}")
            return
        if self.session.stats is not None:
            self.session.stats.update(record)
        self.session.last_candle_open_time = record.candle_open_time
        self._steps.append(record)
        if self._on_step is not None:
            self._on_step(record)
        self._publish()

    # ------------------------------------------------------------------ emergency protocol
    async def _emergency(self, trigger: str, detail: str, measured_equity: Decimal | None = None) -> None:
        """Latch (drawdown), cancel, close all, verify flat by re-reading, record, HALT."""
        await self._run_emergency(trigger, detail, EngineState.HALTED, measured_equity)

    async def _run_emergency(self, trigger: str, detail: str, state_after: EngineState,
                             measured_equity: Decimal | None = None) -> EmergencyRecord:
        self._emergency_seq += 1
        seq = self._emergency_seq
        level = "warning" if trigger == "operator_flatten" else "emergency"
        self._event(level, trigger, f"EMERGENCY ({trigger}): {detail}" if level == "emergency" else detail)
        if trigger == "max_drawdown":
            equity = measured_equity if measured_equity is not None else (
                self.account.equity if self.account else Decimal(0))
            self.protocol.latch(detail, equity, self.guard.peak)
        self.state = EngineState.REDUCING
        record, outcome, pending = await self.protocol.run(
            seq, trigger, detail, position_before=self.position.quantity if self.position else Decimal(0),
            peak=self.guard.peak, state_after=state_after,
        )
        self._absorb(outcome)
        self.state = state_after
        if state_after == EngineState.HALTED:
            self.halted_reason = f"{trigger}: {detail}"
            self.halted_trigger = trigger
        await self._record_emergency(await self._booked(record, outcome.fills))
        if outcome.flat:
            self._event("warning", "flat", "position is flat (read back from the exchange)")
        elif pending is not None:
            self._pending_close = pending
            self._event("emergency", "not-flat",
                        f"position NOT FLAT after {len(outcome.rounds)} close attempts: {record.position_after}. "
                        "The protocol keeps closing until the exchange reads flat; stopping sactui (q, Ctrl-C) "
                        "hands the position over to you")
        else:
            self._event("emergency", "not-flat", f"position NOT FLAT after the flatten: {record.position_after}; "
                        "check the exchange (F9 tries again)")
        self._publish()
        return record

    async def _keep_closing(self) -> None:
        """After the configured attempts ended NOT FLAT: keep closing (backoff) until flat or stop()."""
        pending = self._pending_close
        record = await self.protocol.keep_closing(pending, self._stop, self.guard.peak, EngineState.HALTED)
        self._absorb(pending.outcome)
        rounds = len(pending.outcome.rounds)
        if pending.outcome.flat:
            self._event("warning", "flat", f"position is flat after {rounds} close attempts")
        else:
            left = self.position.quantity if self.position else "unknown"
            self._event("emergency", "not-flat", f"the operator stopped the emergency close: position {left} "
                        "is left open on the exchange")
        self._pending_close = None
        await self._record_emergency(await self._booked(record, pending.outcome.since(pending.recorded_rounds).fills))

    async def _booked(self, record: EmergencyRecord, fills: tuple[OrderResult, ...]) -> EmergencyRecord:
        """The row with the fees and realised PnL the exchange booked for its close orders."""
        fees, realized = Decimal(0), Decimal(0)
        for order in fills:
            booked = await self.books.book(order, None)
            fees += booked.fee
            realized += booked.realized_pnl
        return replace(record, fees=decimal_text(fees), realized_pnl=decimal_text(realized))

    def _absorb(self, outcome: FlattenOutcome) -> None:
        """Take the account and position the protocol read back as the engine's own."""
        if outcome.position is not None:
            self.position = outcome.position
        if outcome.account is not None:
            self.account = outcome.account

    async def _record_emergency(self, record: EmergencyRecord) -> None:
        """The emergency row (reopening the file if the session already ended); its fills
        count in the statistics. A write failure is said in the events, never raised."""
        try:
            await asyncio.to_thread(self._write_emergency, record)
        except JournalError as exc:
            self._event("emergency", "journal", f"JOURNAL WRITE FAILED for the emergency row: {exc}. "
                        f"trigger {record.trigger}, flat={str(record.flat).lower()}, position "
                        f"{record.position_before} -> {record.position_after}, orders {record.close_orders or '-'}")
            return
        self._fees_paid += Decimal(record.fees or "0")
        self._realized += Decimal(record.realized_pnl or "0")
        if self.session.stats is not None:
            self.session.stats.update_emergency(record)

    def _write_emergency(self, record: EmergencyRecord) -> None:
        try:
            self.session.journal.write_emergency(record)
        except JournalError:
            journal = self.session.journal
            if journal.is_open:
                raise
            reopened = Journal.resume(journal.steps_path, journal.emergencies_path)
            try:
                reopened.write_emergency(record)
            finally:
                reopened.close()
