"""The emergency protocol: latch, cancel, close, verify by re-reading, record - until flat.

Why a module of its own: this is the code that runs when everything else has gone
wrong, and the rules it must keep are the ones that lose money when broken:

* **The latch comes first.** A drawdown stop writes the latch before the first
  close order, so a crash in the middle of the emergency still refuses the restart.
* **Flat only when the exchange says so.** Every round (cancel, reduce-only close,
  the connector's own re-read) ends with a separate position read by this module;
  a refused, partial or failed close is NOT FLAT, never "flat" on trust.
* **It never just gives up.** The configured attempts (``[retries]``) decide when
  the first record is written and the engine is HALTED; if the position is still
  open, the protocol keeps trying with backoff (waiting out a ban) until the
  exchange reads flat or the operator takes over (stops the process), and records
  how it ended.
* **Every close order can be found again**: ids are deterministic per session and
  emergency (``client_ids.emergency_order_ids``), so a crash mid-emergency is
  recovered like any other.
* **Every fill counts**: the record carries the close orders' fills and fees, which
  the session statistics add up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from .accounting import drawdown
from .client_ids import emergency_order_ids
from .clock import Clock
from .errors import ExchangeError, TradingHeld
from .exchanges.base import AccountState, CloseAllResult, Exchange, OrderResult, PositionState
from .journal import EmergencyRecord
from .latch import write_latch
from .step_record import decimal_text
from .time_utils import iso_ms

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class CloseRound:
    """One round: the close-all, then this module's own re-read of the position."""

    number: int
    result: CloseAllResult | None
    position: PositionState | None  # None: the re-read failed (never counts as flat)
    error: str


@dataclass
class FlattenOutcome:
    """Everything the rounds of one emergency did, across the configured and the persistent phase."""

    position_before: Decimal
    rounds: list[CloseRound] = field(default_factory=list)
    account: AccountState | None = None
    taken_over: bool = False  # the operator stopped the process before the exchange read flat

    @property
    def position(self) -> PositionState | None:
        return self.rounds[-1].position if self.rounds else None

    @property
    def flat(self) -> bool:
        position = self.position
        return position is not None and position.flat

    @property
    def orders(self) -> tuple[OrderResult, ...]:
        return tuple(o for r in self.rounds if r.result is not None for o in r.result.orders)

    @property
    def fills(self) -> tuple[OrderResult, ...]:
        return tuple(o for o in self.orders if o.executed_qty > 0)

    @property
    def cancelled_orders(self) -> int:
        return sum(r.result.cancelled_orders for r in self.rounds if r.result is not None)

    @property
    def last_error(self) -> str:
        errors = [r.error for r in self.rounds if r.error]
        return errors[-1] if errors else ""

    def since(self, recorded_rounds: int) -> "FlattenOutcome":
        """The rounds after the first ``recorded_rounds`` (already in a row), for the next row:
        so no fill or fee is ever counted twice."""
        if recorded_rounds == 0:
            return self
        before = self.rounds[recorded_rounds - 1].position
        start = before.quantity if before is not None else self.position_before
        return FlattenOutcome(start, self.rounds[recorded_rounds:], self.account, self.taken_over)


def fill_fee(quantity: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The fee of a fill at the run's taker rate (one rule for model orders and closes)."""
    return (abs(quantity) * price * fee_rate).quantize(FEE_PLACES)


class Flattener:
    """Rounds of close-all + re-read, with backoff, until flat, a round limit, or a stop."""

    def __init__(
        self, exchange: Exchange, clock: Clock, *, attempts: int, delay_s: float, max_delay_s: float,
        emit: Callable[[str, str, str], object],
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.attempts = attempts
        self.delay_s = delay_s
        self.max_delay_s = max(max_delay_s, delay_s)
        self._emit = emit

    def wait_after(self, round_number: int) -> float:
        """The configured delay between the configured attempts, then doubling up to the cap."""
        if round_number < self.attempts:
            return self.delay_s
        return min(self.max_delay_s, max(self.delay_s, 0.001) * 2 ** (round_number - self.attempts + 1))

    async def run(
        self, outcome: FlattenOutcome, order_ids: Iterator[str], *, until_round: int | None,
        stop: asyncio.Event | None = None,
    ) -> FlattenOutcome:
        """Run rounds until the exchange reads flat, ``until_round`` rounds exist, or ``stop`` is set."""
        while True:
            number = len(outcome.rounds) + 1
            held_until = 0
            try:
                result = await self.exchange.close_all(order_ids)
                error = result.error
            except ExchangeError as exc:  # close_all reports failures itself; this is a last line
                result, error = None, str(exc)
            try:
                position = await self.exchange.position()
            except TradingHeld as exc:
                position, error, held_until = None, error or str(exc), exc.until_ms
            except ExchangeError as exc:
                position, error = None, error or str(exc)
            outcome.rounds.append(CloseRound(number, result, position, error))
            try:
                outcome.account = await self.exchange.account()
            except ExchangeError:
                pass
            if position is not None and position.flat:
                return outcome
            left = "unknown" if position is None else decimal_text(position.quantity)
            self._emit("emergency", "not-flat",
                       f"NOT FLAT after close attempt {number}: position {left}" + (f" ({error})" if error else ""))
            if until_round is not None and number >= until_round:
                return outcome
            wait = self.wait_after(number)
            if held_until:
                wait = max(wait, (held_until - self.clock.now_ms()) / 1000)
            if await sleep_unless(self.clock, wait, stop):
                outcome.taken_over = True
                return outcome


async def sleep_unless(clock: Clock, seconds: float, stop: asyncio.Event | None) -> bool:
    """Sleep on the injected clock; True when ``stop`` was set first (or already)."""
    if stop is None:
        await clock.sleep(seconds)
        return False
    if stop.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
    return stop.is_set()


def emergency_record(
    *, seq: int, trigger: str, detail: str, outcome: FlattenOutcome, peak: Decimal | None, state_after: str,
    mode: str, fee_rate: Decimal, now_ms: int,
) -> EmergencyRecord:
    """The emergencies-file row for what the rounds so far did (the real drawdown, flat or not)."""
    account = outcome.account
    equity = float(account.equity) if account is not None else float("nan")
    peak_f = float(peak) if peak is not None else equity
    fills = outcome.fills
    closed = sum((o.signed_executed_qty for o in fills), ZERO)
    notional = sum((o.executed_qty * o.avg_price for o in fills), ZERO)
    executed = sum((o.executed_qty for o in fills), ZERO)
    fees = sum((fill_fee(o.executed_qty, o.avg_price, fee_rate) for o in fills), ZERO)
    error = outcome.last_error
    text = detail + (f"; last error: {error}" if error and not outcome.flat else "")
    if outcome.taken_over:
        text += "; the operator stopped the process before the exchange read flat"
    position = outcome.position
    return EmergencyRecord(
        time=iso_ms(now_ms), trigger=trigger, detail=text, equity=equity, peak_equity=peak_f,
        drawdown=drawdown(equity, peak_f) if account is not None else float("nan"),
        position_before=decimal_text(outcome.position_before),
        position_after="unknown" if position is None else decimal_text(position.quantity),
        cancelled_orders=outcome.cancelled_orders,
        close_orders=EmergencyRecord.join_ids(o.client_order_id for o in outcome.orders),
        flat=outcome.flat, state_after=state_after, mode=str(mode), seq=seq,
        close_attempts=len(outcome.rounds), close_fills=len(fills), closed_qty=decimal_text(closed),
        close_avg_price=decimal_text(notional / executed) if executed else "", fees=decimal_text(fees),
    )


def recovered_emergency_record(
    *, seq: int, trigger: str, orders: tuple[OrderResult, ...], position: PositionState | None,
    account: AccountState | None, peak: Decimal | None, state_after: str, mode: str, fee_rate: Decimal, now_ms: int,
) -> EmergencyRecord:
    """The row of an emergency a crash cut off, from its close orders found on the exchange."""
    outcome = FlattenOutcome(ZERO, account=account)
    record = emergency_record(
        seq=seq, trigger=trigger, detail=f"recovered after a crash: {len(orders)} close order(s) of this emergency "
        "found on the exchange", outcome=outcome, peak=peak, state_after=state_after, mode=mode,
        fee_rate=fee_rate, now_ms=now_ms,
    )
    fills = [o for o in orders if o.executed_qty > 0]
    executed = sum((o.executed_qty for o in fills), ZERO)
    closed = sum((o.signed_executed_qty for o in fills), ZERO)
    notional = sum((o.executed_qty * o.avg_price for o in fills), ZERO)
    fees = sum((fill_fee(o.executed_qty, o.avg_price, fee_rate) for o in fills), ZERO)
    after = position.quantity if position is not None else None
    return replace(
        record, close_orders=EmergencyRecord.join_ids(o.client_order_id for o in orders),
        close_fills=len(fills), closed_qty=decimal_text(closed), fees=decimal_text(fees),
        close_avg_price=decimal_text(notional / executed) if executed else "",
        position_before=decimal_text(after - closed) if after is not None else "unknown",
        position_after=decimal_text(after) if after is not None else "unknown",
        flat=after == 0, close_attempts=0,
    )


@dataclass
class PendingClose:
    """An emergency whose configured attempts ended NOT FLAT: the protocol keeps closing."""

    seq: int
    trigger: str
    detail: str
    ids: Iterator[str]  # the emergency's id sequence: an id once taken is never used again
    outcome: FlattenOutcome
    recorded_rounds: int  # rounds already in a row


class EmergencyProtocol:
    """Latch, close with the configured attempts, record; keep closing while NOT FLAT.

    The engine owns the states and the journal; this class owns what the protocol does
    to the exchange and the latch, and what its rows say.
    """

    def __init__(
        self, exchange: Exchange, clock: Clock, *, attempts: int, delay_s: float, max_delay_s: float,
        emit: Callable[[str, str, str], object], session_tag: str, mode: str, fee_rate: Decimal,
        latch_folder: Path | None,
    ) -> None:
        self.clock = clock
        self.attempts = attempts
        self.flattener = Flattener(exchange, clock, attempts=attempts, delay_s=delay_s, max_delay_s=max_delay_s,
                                   emit=emit)
        self._emit = emit
        self.session_tag = session_tag
        self.mode = mode
        self.fee_rate = fee_rate
        self.latch_folder = latch_folder

    def latch(self, detail: str, equity: Decimal, peak: Decimal | None) -> None:
        """A drawdown stop: latch the run before anything else, so even a crash mid-emergency refuses
        the restart."""
        if self.latch_folder is None:
            return
        now = datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=timezone.utc)
        write_latch(self.latch_folder, detail, equity, peak if peak is not None else equity, now)
        self._emit("emergency", "latch", "drawdown latch written: restart refused until 'sactui unlatch'")

    async def run(
        self, seq: int, trigger: str, detail: str, *, position_before: Decimal, peak: Decimal | None,
        state_after: str,
    ) -> tuple[EmergencyRecord, FlattenOutcome, PendingClose | None]:
        """The configured close attempts; the record; what still needs closing (None when flat,
        and always None for an operator's flatten, which the operator repeats with F9)."""
        ids = emergency_order_ids(self.session_tag, seq, trigger)
        outcome = FlattenOutcome(position_before)
        await self.flattener.run(outcome, ids, until_round=self.attempts)
        record = self.record(seq, trigger, detail, outcome, peak, state_after)
        pending = None
        if not outcome.flat and trigger != "operator_flatten":
            pending = PendingClose(seq, trigger, detail, ids, outcome, len(outcome.rounds))
        return record, outcome, pending

    async def keep_closing(
        self, pending: PendingClose, stop: asyncio.Event, peak: Decimal | None, state_after: str,
    ) -> EmergencyRecord:
        """Rounds with backoff until the exchange reads flat or ``stop`` hands over; the closing row
        (only the rounds after the first row, so nothing counts twice)."""
        outcome = pending.outcome
        await self.flattener.run(outcome, pending.ids, until_round=None, stop=stop)
        if outcome.flat:
            detail = f"{pending.detail}; flat after {len(outcome.rounds)} close attempts"
        else:
            detail = f"{pending.detail}; NOT FLAT when the operator took over"
        return self.record(pending.seq, pending.trigger, detail, outcome.since(pending.recorded_rounds), peak,
                           state_after)

    def record(self, seq: int, trigger: str, detail: str, outcome: FlattenOutcome, peak: Decimal | None,
               state_after: str) -> EmergencyRecord:
        return emergency_record(seq=seq, trigger=trigger, detail=detail, outcome=outcome, peak=peak,
                                state_after=state_after, mode=self.mode, fee_rate=self.fee_rate,
                                now_ms=self.clock.now_ms())
