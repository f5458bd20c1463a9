"""The funding schedule of the replay: which settlements are due, and the rate and time of the next.

Why one object: three places speak about funding and must never disagree - the
settlement itself (money moves through ``FuturesAccount.apply_funding``), REST's
``premiumIndex`` (``lastFundingRate``, ``nextFundingTime``) and the mark price stream
(``r``, ``T``). A client that reads the rate on the stream must see the rate that is
then charged, at the time the stream announced.

Rules (Binance's, on the replay's clock):

* With a funding frame (``load_funding``: ``funding_time`` ms, ``funding_rate``), each
  row settles once, during the candle whose interval holds its time - at the
  candle's first update, i.e. as soon as the market has moved past the 8 h mark.
  Not at the close of the candle before it: an order sent on that close (the
  engine's, for the decision that candle closed) must be charged the funding of its
  new position, as in training and the backtest, where funding inside candle t+1
  is charged on the position decided at the close of t. (Binance charges the
  position held at the mark itself, before any order reacting to that close can
  arrive; in timed mode an order slower than one update period - interval / speed /
  updates per candle - meets that Binance behaviour here too.)
* The rate announced (``r``, ``lastFundingRate``) is the rate of the next settlement
  not yet made: on Binance the estimate converges to the settled rate; the replay
  knows it exactly. Rows before the first forming candle are history and never
  settle.
* Without a frame nothing settles, and the announced rate is 0 with the next 8 h
  mark as its time - the simulator says what it charges.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from decimal import Decimal

from ..accounting import price_to_decimal

FUNDING_PERIOD_MS = 8 * 3_600_000
ZERO = Decimal("0")


class FundingSchedule:
    """Funding rows in time order and a pointer to the first one not yet settled."""

    def __init__(self, times: Iterable[int] = (), rates: Iterable[Decimal] = (), first_open_ms: int = 0) -> None:
        self.times: list[int] = [int(t) for t in times]
        self.rates: list[Decimal] = list(rates)
        if len(self.times) != len(self.rates):
            raise ValueError("funding times and rates differ in length")
        if any(b < a for a, b in zip(self.times, self.times[1:])):
            raise ValueError("funding times must be sorted")
        # Rows before the first forming candle are history: never settled.
        self._next = bisect.bisect_left(self.times, first_open_ms)

    @classmethod
    def from_frame(cls, frame, first_open_ms: int) -> FundingSchedule:
        """From ``load_funding``'s frame (None or empty: no funding)."""
        if frame is None or not len(frame):
            return cls(first_open_ms=first_open_ms)
        return cls((int(t) for t in frame["funding_time"]),
                   (price_to_decimal(r) for r in frame["funding_rate"]), first_open_ms)

    def __bool__(self) -> bool:
        return bool(self.times)

    def take_due(self, start_ms: int, end_ms: int) -> list[tuple[int, Decimal]]:
        """Settlements with ``start_ms <= time < end_ms`` not yet made, marking them made."""
        out: list[tuple[int, Decimal]] = []
        i = max(self._next, bisect.bisect_left(self.times, start_ms))
        while i < len(self.times) and self.times[i] < end_ms:
            out.append((self.times[i], self.rates[i]))
            i += 1
        if out:
            self._next = i
        return out

    def upcoming(self, market_ms: int) -> tuple[int, Decimal]:
        """(time, rate) of the next settlement not yet made, on the replay's clock.

        Past the frame's last row (or without a frame) the next 8 h mark after
        ``market_ms``, with rate 0: nothing will be charged there.
        """
        i = max(self._next, 0)
        if i < len(self.times):
            return self.times[i], self.rates[i]
        return market_ms - market_ms % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS, ZERO
