"""Which engine events become which alerts, and what each alert says.

Why a table and not "forward every event": an operator's phone must ring for an
emergency, a halt, a feed gone quiet or a storm of reconnects - not for every retry.
``[alerts] events`` names the families below and ``min_level`` the lowest level sent.

=============  ==========================================================  ==========
family         from                                                        level
=============  ==========================================================  ==========
emergency      an emergency trigger (max_drawdown, critical_error, ...):   emergency
               one alert with trigger, equity, drawdown and the outcome
               read back from the exchange (FLAT / NOT FLAT, HALTED);
               a journal that cannot be written
halt           the session ended HALTED                                    error
latch          the drawdown latch was written                              emergency
feed_stale     no market message for ``feed_stale_seconds`` (and when it   warning
               flows again)
reconnects     ``reconnect_storm_count`` drops within                      warning
               ``reconnect_storm_minutes``
failures       failed exchange calls (consecutive count), IP bans          error
guards         margin call, pushed account vs REST, fills vs the books,    warning+
               the liquidation price unreadable
session        start, stop (with how it ended), a fatal error              info/error
daily_summary  equity, PnL, trades, fees, max drawdown of the last day     info
=============  ==========================================================  ==========

Everything here runs on the event loop and only builds small strings and calls
``dispatcher.submit`` (a non-blocking put); figures come from the engine's immutable
snapshot, read a moment after the event (``loop.call_soon``) so the engine has
published what the event announced.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..events import EngineEvent
from ..journal import EMERGENCY_TRIGGERS
from ..settings import AlertSettings
from ..states import EngineState
from ..step_record import StepRecord
from .dispatcher import LEVELS, Alert

TRIGGERS = frozenset(t for t in EMERGENCY_TRIGGERS if not t.startswith("operator_"))
RECONNECT_KINDS = frozenset({"disconnect", "stream-down", "stale"})
GUARD_KINDS = frozenset({"margin-call", "reconcile", "books", "liquidation"})
OUTCOME_WAIT_S = 30.0  # an emergency's alert goes out with "outcome not known yet" after this


def _money(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "unknown"
    return f"{number:,.2f}" if math.isfinite(number) else "unknown"


@dataclass
class _Day:
    """What the daily summary reports: the period since the last summary (or the session's start)."""

    start_equity: float | None = None
    equity: float | None = None
    steps: int = 0
    trades: int = 0
    fees: float = 0.0
    max_drawdown: float = 0.0

    def add(self, record: StepRecord) -> None:
        if self.start_equity is None:
            self.start_equity = record.equity
        self.equity = record.equity
        self.steps += 1
        try:
            traded = float(record.order_qty or 0) != 0
        except ValueError:
            traded = False
        if traded:
            self.trades += 1
            try:
                self.fees += float(record.order_fee or 0)
            except ValueError:
                pass
        if math.isfinite(record.drawdown):
            self.max_drawdown = max(self.max_drawdown, record.drawdown)


@dataclass
class _Emergency:
    trigger: str
    detail: str
    equity: str
    drawdown: str
    peak: str
    position_before: str
    handle: object = field(default=None, repr=False)


class SessionAlerts:
    """Turns one session's events, steps and snapshots into alerts for the dispatcher."""

    def __init__(self, settings: AlertSettings, submit: Callable[[Alert], object], *, mode: str, train_id: str,
                 symbol: str, snapshot: Callable[[], object | None] = lambda: None,
                 now_s: Callable[[], float] | None = None, wall_s: Callable[[], float] | None = None) -> None:
        import time

        self.settings = settings
        self._submit = submit
        self.snapshot = snapshot
        self.families = frozenset(settings.events)
        self.min_rank = LEVELS.index(settings.min_level)
        self.where = f"{mode} {symbol} {train_id}"
        self.now_s = now_s or time.monotonic
        self.wall_s = wall_s or time.time
        self._reconnects: deque[float] = deque()
        self._emergency: _Emergency | None = None
        self._stale_alerted = False
        self._awaiting_flat = False  # an emergency ended NOT FLAT: say when the exchange reads flat
        self._day = _Day()
        self._summary_day = self._summary_slot(self.wall_s())

    # ------------------------------------------------------------------ output
    def send(self, family: str, level: str, key: str, title: str, body: str) -> None:
        if family not in self.families or LEVELS.index(level) < self.min_rank:
            return
        self._submit(Alert(level, key, f"sactui {title}", f"{body}\n[{self.where}]"))

    # ------------------------------------------------------------------ inputs
    def on_event(self, event: EngineEvent) -> None:
        kind, level = event.kind, event.level
        if kind == "alerts":  # the dispatcher's own reports: never alert about alerting
            return
        if level == "emergency" and kind in TRIGGERS:
            self._later(self._emergency_started, event)
        elif kind in ("flat", "not-flat") and self._emergency is not None:
            self._later(self._emergency_outcome, event)
        elif kind == "flat" and self._awaiting_flat:
            self._awaiting_flat = False
            self.send("emergency", "warning", "emergency:flat", "position FLAT now", event.message)
        elif kind == "latch":
            self.send("latch", "emergency", "latch", "LATCHED: the drawdown latch is written",
                      f"{event.message}. Trading of this run stays off until an operator reviews the journal and "
                      "runs 'sactui unlatch'.")
        elif kind == "journal" and level == "emergency":
            self.send("emergency", "emergency", "journal", "JOURNAL WRITE FAILED", event.message)
        elif kind == "start":
            self._later(self._started, event)
        elif kind == "fatal":
            self.send("session", "error", "fatal", "session failed", event.message)
        elif kind == "exchange" and level == "error":
            self.send("failures", "error", "failures", "exchange calls failing", event.message)
        elif kind in ("held", "ban") and level == "error":
            self.send("failures", "error", "ban", "trading held by an IP ban", event.message)
        elif kind in GUARD_KINDS and level in ("warning", "error", "emergency"):
            self.send("guards", "emergency" if kind == "margin-call" else "warning", f"guard:{kind}",
                      "MARGIN CALL" if kind == "margin-call" else f"exchange truth: {kind}", event.message)
        if kind in RECONNECT_KINDS:
            self._reconnect(event)

    def on_step(self, record: StepRecord) -> None:
        self._day.add(record)

    def tick(self) -> None:
        """Every few seconds (the heartbeat): feed staleness and the daily summary."""
        snap = self.snapshot()
        if snap is not None:
            age = snap.market_age_s
            watching = snap.state in (EngineState.RUNNING, EngineState.PAUSED, EngineState.REDUCING)
            if watching and age is not None and age > self.settings.feed_stale_seconds and not self._stale_alerted:
                self._stale_alerted = True
                self.send("feed_stale", "warning", "feed_stale", "market data stale",
                          f"no market message for {age:.0f} s (limit {self.settings.feed_stale_seconds:g} s); "
                          f"feed {'connected' if snap.connected else 'disconnected'}. No candle, no decision.")
            elif self._stale_alerted and age is not None and age <= self.settings.feed_stale_seconds:
                self._stale_alerted = False
                self.send("feed_stale", "info", "feed_stale", "market data flowing again",
                          f"last market message {age:.0f} s ago")
        slot = self._summary_slot(self.wall_s())
        if slot != self._summary_day:
            self._summary_day = slot
            self.daily_summary()

    def stopped(self, how: str, level: str, detail: str) -> None:
        """The session ended: ``how`` is stopped / halted / failed."""
        snap = self.snapshot()
        figures = self._figures(snap) if snap is not None else ""
        if how == "halted":
            self.send("halt", "error", "halt", "session HALTED", f"{detail}\n{figures}".strip())
            self.send("session", "error", "stop", "session ended HALTED", f"{detail}\n{figures}".strip())
        else:
            self.send("session", level, "stop", f"session {how}", f"{detail}\n{figures}".strip())

    # ------------------------------------------------------------------ pieces
    def _later(self, callback, event: EngineEvent) -> None:
        """Run ``callback`` once the engine has published what the event announced."""
        try:
            asyncio.get_running_loop().call_soon(callback, event)
        except RuntimeError:  # no loop (a unit test): now
            callback(event)

    def _figures(self, snap) -> str:
        account, position = snap.account, snap.position
        qty = position.quantity if position is not None else None
        side = "unknown" if qty is None else "FLAT" if qty == 0 else ("LONG " if qty > 0 else "SHORT ") + str(abs(qty))
        return (f"equity {_money(account.equity if account else None)} USDT, drawdown {snap.drawdown:.2%} "
                f"(limit {snap.max_drawdown:.2%}), position {side}, state {snap.state}")

    def _started(self, event: EngineEvent) -> None:
        snap = self.snapshot()
        figures = self._figures(snap) if snap is not None else ""
        self.send("session", "info", "start", "session started", f"{event.message}\n{figures}".strip())

    def _emergency_started(self, event: EngineEvent) -> None:
        snap = self.snapshot()
        account = getattr(snap, "account", None)
        position = getattr(snap, "position", None)
        pending = _Emergency(
            trigger=event.kind, detail=event.message.removeprefix(f"EMERGENCY ({event.kind}): "),
            equity=_money(account.equity if account else None),
            drawdown=f"{snap.drawdown:.2%}" if snap is not None else "unknown",
            peak=_money(getattr(snap, "peak_equity", None)),
            position_before="unknown" if position is None else str(position.quantity),
        )
        if self._emergency is not None:  # a second trigger before the first one's outcome: send the first now
            self._send_emergency(self._emergency, "outcome not known yet (another emergency followed)")
        self._emergency = pending
        try:
            pending.handle = asyncio.get_running_loop().call_later(OUTCOME_WAIT_S, self._outcome_timeout, pending)
        except RuntimeError:
            pending.handle = None

    def _outcome_timeout(self, pending: _Emergency) -> None:
        if self._emergency is pending:
            self._emergency = None
            self._send_emergency(pending, f"outcome not known after {OUTCOME_WAIT_S:g} s: the protocol is still "
                                          "closing; check the exchange")

    def _emergency_outcome(self, event: EngineEvent) -> None:
        pending = self._emergency
        snap = self.snapshot()
        if pending is None or snap is None or snap.state == EngineState.REDUCING:
            return  # a close round in progress: wait for the protocol's verdict
        self._emergency = None
        if pending.handle is not None:
            pending.handle.cancel()
        position = snap.position
        flat = position is not None and position.quantity == 0 and not snap.closing
        if flat:
            outcome = "FLAT (read back from the exchange)"
        else:
            left = "unknown" if position is None else str(position.quantity)
            self._awaiting_flat = True  # a later 'flat' is news
            outcome = (f"NOT FLAT: position {left} still open; the emergency protocol keeps closing while sactui "
                       "runs - check the exchange")
        self._send_emergency(pending, f"{outcome}; engine {snap.state}"
                                      + (f" ({snap.halted_reason})" if snap.state == EngineState.HALTED else ""))

    def _send_emergency(self, pending: _Emergency, outcome: str) -> None:
        flat = outcome.startswith("FLAT")
        self.send("emergency", "emergency", f"emergency:{pending.trigger}",
                  f"EMERGENCY {pending.trigger}: {'FLAT' if flat else 'NOT FLAT'}",
                  f"trigger: {pending.trigger}\ndetail: {pending.detail}\nequity: {pending.equity} USDT "
                  f"(peak {pending.peak})\ndrawdown: {pending.drawdown}\nposition before: {pending.position_before}\n"
                  f"outcome: {outcome}")

    def _reconnect(self, event: EngineEvent) -> None:
        now = self.now_s()
        window = self.settings.reconnect_storm_minutes * 60
        self._reconnects.append(now)
        while self._reconnects and now - self._reconnects[0] > window:
            self._reconnects.popleft()
        if len(self._reconnects) >= self.settings.reconnect_storm_count:
            count = len(self._reconnects)
            self._reconnects.clear()
            self.send("reconnects", "warning", "reconnects", "reconnect storm",
                      f"{count} stream drops or stalls within {self.settings.reconnect_storm_minutes:g} min; "
                      f"latest: {event.message}")

    def _summary_slot(self, wall: float) -> str:
        """The day a summary belongs to: the UTC date, turning at ``daily_summary_hour_utc``."""
        moment = datetime.fromtimestamp(wall - self.settings.daily_summary_hour_utc * 3600, tz=timezone.utc)
        return moment.strftime("%Y-%m-%d")

    def daily_summary(self) -> None:
        day, self._day = self._day, _Day()
        snap = self.snapshot()
        equity = day.equity
        if snap is not None and snap.account is not None:
            equity = float(snap.account.equity)
        pnl = (equity - day.start_equity) if equity is not None and day.start_equity is not None else None
        stats = getattr(snap, "stats", {}) or {}
        self.send("daily_summary", "info", "daily_summary", "daily summary",
                  f"equity {_money(equity)} USDT, PnL {_money(pnl)} USDT over {day.steps} steps, "
                  f"{day.trades} trades, fees {_money(day.fees)} USDT, max drawdown {day.max_drawdown:.2%} "
                  f"(session {float(stats.get('max_drawdown') or 0.0):.2%})")
