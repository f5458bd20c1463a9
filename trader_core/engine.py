"""The trading engine: exactly one step per closed candle, A to H, and the emergency protocol.

Per closed candle (never twice: candles at or before the last journaled one are skipped):

  A. refresh account and position from the exchange
  B. drawdown on equity *including unrealised PnL* against the session's peak;
     breach -> emergency protocol (and a latch: no automatic restart)
  C. features and observation (the same code as training)
  D. the agent's deterministic action
  E. pre-trade validation: engine state, stale candle, filters, margin
  F. execute with the connector's retries (idempotent client order id per candle)
  G. refresh the state after the order
  H. one journal row, fsynced

States: RUNNING, PAUSED (data flows, no new orders), REDUCING (only orders that
reduce exposure: while the emergency protocol closes), HALTED (nothing more).
Commands: ``pause``, ``resume``, ``flatten`` (cancel + close all + pause), ``stop``.
The engine publishes an immutable ``EngineSnapshot`` after every change and a
bounded list of ``EngineEvent``s; any UI reads those and calls the commands, and
nothing else. This module never imports a UI.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

from .accounting import Fill, price_to_decimal
from .candles import Candle
from .clock import Clock, SystemClock
from .decision import DecisionPipeline
from .errors import (
    CredentialsError, ExchangeError, FeedExhausted, JournalError, OrderOutcomeUnknown, OrderRejected,
    SactuiError, TradingHeld,
)
from .exchanges.base import AccountState, Exchange, PositionState, make_client_order_id
from .journal import EmergencyRecord, Journal, read_steps
from .latch import write_latch
from .observation import PortfolioState
from .reconcile import reconcile
from .risk import DrawdownGuard, is_stale, pre_trade_block
from .runs import TrainingRun
from .session import SessionState
from .settings import Settings
from .step_record import AccountFigures, StepRecord, record_step
from .time_utils import interval_ms, iso_ms

RUNNING, PAUSED, REDUCING, HALTED, STARTING, STOPPED = (
    "RUNNING", "PAUSED", "REDUCING", "HALTED", "STARTING", "STOPPED",
)
RECENT_CANDLES = 120
RECENT_STEPS = 50
RECENT_EVENTS = 200


@dataclass(frozen=True)
class EngineEvent:
    time_ms: int
    level: str  # info, warning, error, emergency
    kind: str
    message: str
    seq: int = 0  # increasing per engine: a UI finds new events by it


@dataclass(frozen=True)
class EngineSnapshot:
    mode: str
    symbol: str
    interval: str
    train_id: str
    state: str
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


@dataclass
class _Counters:
    consecutive_failures: int = 0
    emergency_count: int = 0


class TradingEngine:
    def __init__(
        self, run: TrainingRun, agent, exchange: Exchange, feed, settings: Settings,
        session: SessionState, production_dir: Path, *, mode: str, clock: Clock | None = None,
        market_clock: Clock | None = None, durable_journal: bool = True,
        on_event: Callable[[EngineEvent], None] | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
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
        self._durable = durable_journal
        self._on_event = on_event
        self._on_step = on_step
        self.pipeline = DecisionPipeline(run, agent)
        self.step_ms = interval_ms(run.interval)
        self.guard = DrawdownGuard(settings.risk.max_drawdown)
        if session.stats is not None and session.stats.peak_equity:
            self.guard.peak = Decimal(str(session.stats.peak_equity))
        self.state = STARTING
        self.halted_reason = ""
        self.last_error = ""
        self._candles: deque[Candle] = deque(maxlen=RECENT_CANDLES)
        self._steps: deque[StepRecord] = deque(maxlen=RECENT_STEPS)
        self._events: deque[EngineEvent] = deque(maxlen=RECENT_EVENTS)
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._counters = _Counters()
        self.account: AccountState | None = None
        self.position: PositionState | None = None
        self._start_wallet = Decimal(0)
        self._fees_paid = Decimal(0)
        self._in_process = bool(getattr(exchange, "in_process", False))
        self._snapshot: EngineSnapshot | None = None
        self._dirty = True
        self._built_at = 0.0
        self._event_seq = 0
        if hasattr(exchange, "retrier"):
            exchange.retrier._on_event = lambda kind, message: self._event("warning", kind, message)

    # ------------------------------------------------------------------ events & snapshot
    def _event(self, level: str, kind: str, message: str) -> None:
        self._event_seq += 1
        event = EngineEvent(self.clock.now_ms(), level, kind, message, self._event_seq)
        self._events.append(event)
        if self._on_event is not None:
            self._on_event(event)
        self._publish()

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

    async def _refresh(self) -> tuple[AccountState, PositionState]:
        """Account and position: both requests in flight together on a network exchange,
        plain sequential calls on an in-process one (no tasks to schedule)."""
        if self._in_process:
            return await self.exchange.account(), await self.exchange.position()
        account, position = await asyncio.gather(self.exchange.account(), self.exchange.position())
        return account, position

    def _make_snapshot(self) -> EngineSnapshot:
        stats = self.session.stats.as_dict() if self.session.stats is not None else {}
        equity = self.account.equity if self.account else None
        peak = float(self.guard.peak) if self.guard.peak is not None else 0.0
        drawdown = max(0.0, 1 - float(equity) / peak) if equity is not None and peak > 0 else 0.0
        return EngineSnapshot(
            mode=self.mode, symbol=self.training_run.symbol, interval=self.training_run.interval, train_id=self.training_run.train_id,
            state=self.state, connected=bool(getattr(self.feed, "connected", False)),
            market_age_s=self.feed.message_age_s() if hasattr(self.feed, "message_age_s") else None,
            candles=tuple(self._candles), forming=getattr(self.feed, "forming", None),
            steps=tuple(self._steps), events=tuple(self._events), position=self.position,
            account=self.account, peak_equity=peak, drawdown=drawdown,
            max_drawdown=self.settings.risk.max_drawdown, stats=stats, halted_reason=self.halted_reason,
            last_error=self.last_error, journal_path=str(self.session.journal.steps_path),
        )

    # ------------------------------------------------------------------ commands
    def pause(self) -> None:
        if self.state == RUNNING:
            self.state = PAUSED
            self._event("info", "pause", "paused: market data keeps flowing, no new orders")

    def resume(self) -> None:
        if self.state == PAUSED:
            self.state = RUNNING
            self._event("info", "resume", "resumed")

    async def flatten(self) -> EmergencyRecord:
        """Operator's flatten: cancel everything, close the position, stay paused.

        Works after the session ended too (a crash, a stop): the connection is reopened
        for the flatten and closed again - F9 must never be a no-op.
        """
        async with self._lock:
            reopened = False
            if getattr(self.exchange, "client", True) is None:
                self._event("warning", "flatten", "session not connected; reconnecting to flatten")
                await self.exchange.connect()
                reopened = True
            try:
                record = await self._close_everything("operator_flatten", "operator asked to flatten all")
            finally:
                if reopened:
                    await self.exchange.close()
            if self.state not in (HALTED, STOPPED):
                self.state = PAUSED
            self._publish()
            return record

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Start up, trade until stopped, halted or out of data; always clean up."""
        try:
            await self._start_up()
            while not self._stop.is_set() and self.state != HALTED:
                candle = await self._next_candle()
                if candle is None:
                    break
                async with self._lock:
                    await self._step(candle)
        except asyncio.CancelledError:
            self._event("info", "stop", "engine cancelled; shutting down")
            raise
        except SactuiError as exc:
            self.last_error = str(exc)
            self._event("error", "fatal", str(exc))
            raise
        finally:
            if self.state != HALTED:
                self.state = STOPPED
            await self._shutdown()

    async def _next_candle(self) -> Candle | None:
        if getattr(self.feed, "in_process", False):  # a replay: the next candle is always ready
            try:
                return await self.feed.next_closed()
            except FeedExhausted:
                self._event("info", "end", "no more candles")
                return None
        getter = asyncio.ensure_future(self.feed.next_closed())
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if getter not in done:
            getter.cancel()
            return None
        try:
            return getter.result()
        except FeedExhausted:
            self._event("info", "end", "no more candles")
            return None

    async def _start_up(self) -> None:
        run = self.training_run
        await self.exchange.start(run.leverage, self.settings.trading.margin_type)
        history = await self.feed.history(run.history_needed)
        self.pipeline.warm_up(history)
        self._candles.extend(history[-RECENT_CANDLES:])
        expected = Decimal(0)
        if self.session.resumed and self.session.stats is not None:
            expected = await self._recover_unjournaled(history)
        recon = await reconcile(
            self.exchange, expected, adopt=self.settings.trading.adopt_unknown_position
        )
        if recon.adopted:
            self._event("warning", "adopt", f"adopted a position of {recon.position.quantity} found at start")
        self.position = recon.position
        self.account = await self.exchange.account()
        self.guard.observe(self.account.equity)
        self._start_wallet, self._fees_paid = self.account.wallet_balance, Decimal(0)
        if self.session.resumed:
            rows = read_steps(self.session.journal.steps_path)
            if rows:  # continue the session's running figures from its first row
                first = rows[0]
                self._start_wallet = (Decimal(str(first["wallet"])) + Decimal(first["order_fee"] or "0")
                                      - Decimal(str(first["realized_pnl"])))
                self._fees_paid = sum((Decimal(r["order_fee"] or "0") for r in rows), Decimal(0))
        if self.session.stats is not None and self.session.stats.start_equity is None:
            self.session.stats.start_equity = float(self.account.equity)
        self.state = RUNNING
        resumed = " (resumed after an unclean stop)" if self.session.resumed else ""
        self._event("info", "start", f"{self.mode} session on {run.symbol} {run.interval}{resumed}: ready")
        self.feed.start()

    async def _recover_unjournaled(self, history: list[Candle]) -> Decimal:
        """After a crash: the journal's last position, plus any order sent for a candle
        whose row never made it to disk (found by its deterministic client id)."""
        last_time = self.session.last_candle_open_time
        rows = read_steps(self.session.journal.steps_path)
        expected = Decimal(rows[-1]["position_qty"]) if rows else Decimal(0)
        for candle in history:
            if last_time is not None and candle.open_time <= last_time:
                continue
            client_id = make_client_order_id(self.session.tag, candle.open_time)
            found = await self.exchange.get_order(client_id) if hasattr(self.exchange, "get_order") else None
            if found is not None and found.executed_qty > 0:
                expected += found.signed_executed_qty
                self._event("warning", "recovered", f"found order {client_id} sent before the crash; not resending")
                self.session.last_candle_open_time = candle.open_time
        return expected

    async def _shutdown(self) -> None:
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
        # A. account and position
        try:
            self.account, self.position = await self._refresh()
        except (TradingHeld, CredentialsError):
            raise
        except ExchangeError as exc:
            self.pipeline.on_candle(candle)
            await self._failure(candle, exc)
            return
        equity = self.account.equity
        # B. drawdown on equity including unrealised PnL, against the session's peak
        drawdown = self.guard.observe(equity)
        if self.guard.breached(drawdown):
            self.pipeline.on_candle(candle)
            await self._emergency(
                "max_drawdown",
                f"drawdown {drawdown:.2%} reached the limit {self.settings.risk.max_drawdown:.2%}",
            )
            return
        mark = price_to_decimal(candle.close)
        portfolio = PortfolioState.from_account(
            float(equity), float(self.position.quantity * mark), float(self.account.unrealized_pnl),
            float(self.guard.peak), self.training_run.mapping.max_leverage,
        )
        # C + D. features, observation, deterministic action
        stale = is_stale(candle.open_time + self.step_ms, self.market_clock.now_ms(),
                         int(self.settings.risk.stale_grace_seconds * 1000))
        decision = self.pipeline.decide(candle, portfolio)
        if decision is None:
            return
        # E. pre-trade validation
        plan = self.training_run.mapping.plan(decision.action, equity, mark, self.position.quantity, self.exchange.filters)
        block = "stale" if stale and plan.quantity != 0 else pre_trade_block(
            plan, self.state, self.account, mark, self.training_run.leverage, self.training_run.fee_rate, self.position.quantity
        )
        client_id = make_client_order_id(self.session.tag, candle.open_time)
        fill: Fill | None = None
        status = f"SKIPPED:{block}" if block else ""
        # F. execute
        if block is None:
            status, fill = await self._execute(plan, client_id, mark)
            # G. state after the order
            if fill is not None:
                try:
                    self.account, self.position = await self._refresh()
                except ExchangeError as exc:
                    self._event("warning", "refresh", f"state refresh after the order failed: {exc}")
                self.guard.observe(self.account.equity)
        latency_ms = (time.perf_counter() - started) * 1000.0
        # H. journal
        record = record_step(
            candle=candle, interval_ms=self.step_ms, raw_action=decision.action,
            target_exposure=plan.target_exposure, fill=fill, status=status,
            figures=self._figures(fill.fee if fill else Decimal(0)), peak_equity=float(self.guard.peak), mode=self.mode, state=self.state,
            client_order_id=client_id if fill is not None or status.startswith("REJECTED") else "",
            decision_latency_ms=latency_ms, time=iso_ms(self.clock.now_ms()),
        )
        await self._journal(record)

    def _figures(self, fee: Decimal) -> AccountFigures:
        """Account after the step. The exchange reports no running realised PnL, so the
        journal's ``realized_pnl`` is the wallet's change since the session began plus
        the fees paid: realised PnL of closed trades, funding included."""
        a, p = self.account, self.position
        self._fees_paid += fee
        realized = a.wallet_balance - self._start_wallet + self._fees_paid
        return AccountFigures(a.wallet_balance, a.equity, a.unrealized_pnl, realized, p.quantity, p.entry_price)

    async def _execute(self, plan, client_id: str, mark: Decimal) -> tuple[str, Fill | None]:
        try:
            result = await self.exchange.market_order(plan.quantity, plan.reduce_only, client_id)
        except OrderRejected as exc:
            self._event("warning", "rejected", str(exc))
            return f"REJECTED:{exc.code}", None
        except TradingHeld as exc:
            self._event("warning", "held", str(exc))
            return "HELD", None
        except (OrderOutcomeUnknown, CredentialsError) as exc:
            await self._emergency("critical_error", str(exc))
            return "UNKNOWN", None
        except ExchangeError as exc:
            self._counters.consecutive_failures += 1
            self._event("error", "order", f"order failed: {exc}")
            if self._counters.consecutive_failures >= self.settings.risk.max_consecutive_failures:
                await self._emergency("connection_failures", f"{self._counters.consecutive_failures} consecutive failures")
            return "ERROR", None
        self._counters.consecutive_failures = 0
        if result.executed_qty == 0:
            return result.status, None
        quantity = result.signed_executed_qty
        fee = (abs(quantity) * result.avg_price * self.training_run.fee_rate).quantize(Decimal("0.00000001"))
        fill = Fill(quantity, result.avg_price, fee, Decimal(0), Decimal(0), Decimal(0))
        return result.status, fill

    async def _failure(self, candle: Candle, exc: ExchangeError) -> None:
        self._counters.consecutive_failures += 1
        self.last_error = str(exc)
        self._event("error", "exchange", f"account refresh failed ({self._counters.consecutive_failures}): {exc}")
        if self._counters.consecutive_failures >= self.settings.risk.max_consecutive_failures:
            await self._emergency(
                "connection_failures", f"{self._counters.consecutive_failures} consecutive failures: {exc}"
            )

    async def _journal(self, record: StepRecord) -> None:
        journal = self.session.journal
        if self._durable:
            await asyncio.to_thread(journal.write_step, record)
        else:
            journal.write_step(record)
        if self.session.stats is not None:
            self.session.stats.update(record)
        self.session.last_candle_open_time = record.candle_open_time
        self._steps.append(record)
        if self._on_step is not None:
            self._on_step(record)
        self._publish()

    # ------------------------------------------------------------------ emergency protocol
    async def _emergency(self, trigger: str, detail: str) -> None:
        """Cancel, close all reduce-only, verify flat, record, stop. A drawdown stop latches."""
        self._counters.emergency_count += 1
        self._event("emergency", trigger, f"EMERGENCY ({trigger}): {detail}")
        await self._close_everything(trigger, detail)
        if trigger == "max_drawdown":
            equity = self.account.equity if self.account else Decimal(0)
            write_latch(self.production_dir, detail, equity, self.guard.peak or equity, self._now_dt())
            self._event("emergency", "latch", "drawdown latch written: restart refused until 'sactui unlatch'")
        self.state = HALTED
        self.halted_reason = f"{trigger}: {detail}"
        self._publish()
        self._stop.set()

    async def _close_everything(self, trigger: str, detail: str) -> EmergencyRecord:
        previous = self.state
        self.state = REDUCING
        before = self.position.quantity if self.position else Decimal(0)
        tag = make_client_order_id(self.session.tag, self.clock.now_ms(), f"x{self._counters.emergency_count}")
        result = None
        error = ""
        for attempt in range(1, self.settings.retries.attempts + 1):
            try:
                result = await self.exchange.close_all(tag if attempt == 1 else f"{tag[:30]}r{attempt}")
                if result.flat:
                    break
            except ExchangeError as exc:
                error = str(exc)
                self._event("error", "close-all", f"close-all attempt {attempt} failed: {exc}")
            await self.clock.sleep(self.settings.retries.delay_seconds)
        try:
            self.account, self.position = await self._refresh()
        except ExchangeError as exc:
            error = error or str(exc)
        flat = bool(result and result.flat and self.position is not None and self.position.flat)
        equity = float(self.account.equity) if self.account else 0.0
        peak = float(self.guard.peak) if self.guard.peak is not None else equity
        record = EmergencyRecord(
            time=iso_ms(self.clock.now_ms()), trigger=trigger, detail=detail + (f"; {error}" if error else ""),
            equity=equity, peak_equity=peak, drawdown=max(0.0, 1 - equity / peak) if peak else 0.0,
            position_before=str(before), position_after=str(self.position.quantity if self.position else "?"),
            cancelled_orders=result.cancelled_orders if result else 0,
            close_orders=";".join(o.client_order_id for o in result.orders) if result else "",
            flat=flat, state_after=HALTED if trigger != "operator_flatten" else PAUSED, mode=self.mode,
        )
        await asyncio.to_thread(self._write_emergency, record)
        level = "emergency" if not flat else "warning"
        self._event(level, "flat" if flat else "not-flat",
                    "position is flat" if flat else f"position NOT flat after close-all: {record.position_after}")
        self.state = previous if previous != REDUCING else PAUSED
        return record

    def _write_emergency(self, record: EmergencyRecord) -> None:
        """The emergency row goes to the session's file, reopened if the session already ended."""
        try:
            self.session.journal.write_emergency(record)
        except JournalError:
            journal = self.session.journal
            reopened = Journal.resume(journal.steps_path, journal.emergencies_path)
            try:
                reopened.write_emergency(record)
            finally:
                reopened.close()

    def _now_dt(self):
        from datetime import datetime, timezone

        return datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=timezone.utc)
