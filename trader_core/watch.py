"""The risk guard that never sleeps: drawdown, liquidation distance and margin calls on every tick.

Why: the engine decides once per closed candle; on a 1h run a crash in the middle of
the hour used to be seen at the close - far past the drawdown limit, or after the
liquidation. ``RiskWatch`` wakes on every change of the pushed account (each mark
price tick, each account update) and asks for the emergency protocol the moment:

* equity (wallet + unrealised PnL at the mark) reaches the drawdown limit below the
  session's peak (``accounting.drawdown_reached``; the peak rises with every tick);
* the mark comes within ``[risk] liquidation_buffer`` of the position's liquidation
  price (read from ``positionRisk`` whenever the position changes);
* the exchange sends a ``MARGIN_CALL``.

It also compares the pushed account with REST every ``[streams] reconcile_seconds``:
a mismatch is reported and resynced; ``mismatch_limit`` in a row start the emergency
protocol (trigger ``book_mismatch``). It only watches while the book is live and the
engine takes orders or is paused; the emergency itself is the engine's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

from .accounting import drawdown, drawdown_reached
from .clock import Clock
from .errors import ExchangeError
from .exchanges.streams import AccountStreams
from .risk import DrawdownGuard
from .settings import Settings
from .tasks import cancel_and_wait

#: ``(trigger, detail, equity)``: the equity the breach was measured on (a drawdown), so the latch
#: records the figures its detail states - the mark may move while the engine finishes a step.
Breach = Callable[[str, str, Decimal | None], Awaitable[None]]


def liquidation_distance(mark: Decimal, liquidation: Decimal | None) -> float | None:
    """How far the mark is from the liquidation price, as a fraction of the mark (None: no such price)."""
    if liquidation is None or liquidation <= 0 or mark <= 0:
        return None
    return float(abs(mark - liquidation) / mark)


class RiskWatch:
    def __init__(self, streams: AccountStreams, exchange, guard: DrawdownGuard, settings: Settings, clock: Clock,
                 *, on_breach: Breach, report: Callable[[str, str, str], object],
                 watching: Callable[[], bool]) -> None:
        self.streams = streams
        self.book = streams.book
        self.exchange = exchange
        self.guard = guard
        self.settings = settings
        self.clock = clock
        self._on_breach = on_breach
        self._report = report
        self._watching = watching  # the engine takes orders or is paused
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._margin_calls_seen = self.book.margin_calls
        self._position_seen: Decimal | None = None
        self.mismatches = 0
        self.checks = 0
        self.book.subscribe(lambda _kind: self._wake.set())

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._guard(), name="risk-watch"),
                       asyncio.create_task(self._reconcile(), name="book-reconcile")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    # ------------------------------------------------------------------ the guard
    def breach(self) -> tuple[str, str, Decimal | None] | None:
        """The trigger, detail and measured equity (drawdown only) of a breach in the book as it stands, or None."""
        book = self.book
        if book.margin_calls > self._margin_calls_seen:
            self._margin_calls_seen = book.margin_calls
            return "margin_call", "the exchange sent a MARGIN_CALL", None
        if book.wallet is None or book.mark is None:
            return None
        equity = book.account_state().equity
        self.guard.observe(equity)
        if drawdown_reached(equity, self.guard.peak, self.guard.limit):
            return "max_drawdown", (f"drawdown {drawdown(equity, self.guard.peak):.2%} reached the limit "
                                    f"{self.guard.limit:.2%} between candle closes (mark {book.mark})"), equity
        buffer = self.settings.risk.liquidation_buffer
        distance = liquidation_distance(book.mark, book.liquidation_price) if book.position_qty else None
        if buffer > 0 and distance is not None and distance <= buffer:
            return "liquidation_distance", (f"mark {book.mark} is {distance:.2%} from the liquidation price "
                                            f"{book.liquidation_price} (limit {buffer:.2%})"), None
        return None

    async def _guard(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not (self.streams.live and self._watching()):
                continue
            self.checks += 1
            if self.book.position_qty != self._position_seen:
                self._position_seen = self.book.position_qty
                await self._refresh_liquidation_price()
            found = self.breach()
            if found is not None:
                await self._on_breach(*found)

    async def _refresh_liquidation_price(self) -> None:
        """The liquidation price changes with the position: read it from positionRisk (off the hot path)."""
        if self.book.position_qty == 0:
            self.book.liquidation_price = None
            return
        try:
            position = await self.exchange.position()
        except ExchangeError as exc:
            self._report("warning", "liquidation", f"could not read the liquidation price: {exc}")
            return
        self.book.liquidation_price = position.liquidation_price

    # ------------------------------------------------------------------ reconciliation
    async def _reconcile(self) -> None:
        tolerance = Decimal(str(self.settings.streams.tolerance))
        while True:
            await self.clock.sleep(self.settings.streams.reconcile_seconds)
            if not self.streams.live:
                continue
            try:
                account, position = await asyncio.gather(self.exchange.account(), self.exchange.position())
            except ExchangeError as exc:
                self._report("warning", "reconcile", f"REST reconciliation failed: {exc}")
                continue
            problems = []
            if position.quantity != self.book.position_qty:
                problems.append(f"position {self.book.position_qty} pushed, {position.quantity} by REST")
            if abs(account.wallet_balance - (self.book.wallet or Decimal(0))) > tolerance:
                problems.append(f"wallet {self.book.wallet} pushed, {account.wallet_balance} by REST")
            if not problems:
                self.mismatches = 0
                continue
            self.mismatches += 1
            self._report("warning", "reconcile", f"pushed account differs from REST ({'; '.join(problems)}); "
                         f"resynced ({self.mismatches} in a row)")
            self.book.resync(account, position)
            if self.mismatches >= self.settings.streams.mismatch_limit and self._watching():
                await self._on_breach("book_mismatch", f"the pushed account differed from REST {self.mismatches} "
                                      f"times in a row: {'; '.join(problems)}", None)
