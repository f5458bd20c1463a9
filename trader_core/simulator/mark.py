"""The mark price stream: ``<symbol>@markPrice@1s`` and ``<symbol>@markPrice`` (every 3 s).

Why: a client that watches risk between candle closes (drawdown, liquidation
distance) values its position at the mark Binance pushes, and journals funding at
the rate and time that stream announces. This module holds the stream names, the
payload (reference §7, Binance's field names and string formats) and the cadence.

The simulator has one price: the forming candle's close so far (or a price shock in
force, see ``faults.price_shock``). It is the mark ``p``, the index ``i`` and the
estimated settle price ``P`` at once - Binance's three differ by a basis of a few
ticks; the simulator has no index of its own (documented departure).

Cadence:

* Manual mode (``sim.step()``): one update of every mark stream with each update of
  the forming candle and with each close, after the kline message - every update
  moves the replay's clock by more than 3 s, so neither stream would skip one.
* Timed mode (``speed``): one message per second (``@1s``) or per 3 s of *market*
  time, but never more than ``MAX_MESSAGES_PER_S`` per stream and connection per
  wall-clock second: at ``speed`` 3600 a market second lasts 0.28 ms, and a client
  flooded with 3,600 marks a second would lag or overflow (python-binance's queue
  holds 100). The mark in those messages is the price at the moment they are sent.
* A price shock is pushed at once, and its end too, in either mode.

Times: ``T`` (next funding) is on the replay's clock, like kline times and
``premiumIndex``'s ``nextFundingTime``. ``E`` is the server clock (the clock of REST
``serverTime``, orders and user-stream events): a client orders a mark against an
``ACCOUNT_UPDATE`` or a REST snapshot by ``E``, as it must on Binance, where there is
only one clock. (Kline ``E`` stays on the replay's clock, as before.)
"""

from __future__ import annotations

from decimal import Decimal

from .formatting import fixed, money

#: Stream suffix -> market seconds between messages.
PERIODS_S = {"@markPrice@1s": 1.0, "@markPrice": 3.0}
#: The most messages one mark stream sends one connection per wall-clock second in timed mode.
MAX_MESSAGES_PER_S = 4


def stream_names(symbol: str) -> dict[str, float]:
    """The served mark stream names of ``symbol`` -> their market period in seconds."""
    return {f"{symbol.lower()}{suffix}": period for suffix, period in PERIODS_S.items()}


def wall_period_s(market_period_s: float, speed: float) -> float:
    """Wall seconds between two messages of a stream in timed mode (capped rate)."""
    return max(market_period_s / speed, 1.0 / MAX_MESSAGES_PER_S)


def payload(symbol: str, mark: Decimal, funding_rate: Decimal, next_funding_ms: int, event_ms: int) -> dict:
    """One ``markPriceUpdate`` (reference §7): prices with 8 decimals, the rate with 8."""
    price = money(mark)
    return {
        "e": "markPriceUpdate",
        "E": event_ms,
        "s": symbol,
        "p": price,
        "i": price,
        "P": price,
        "r": fixed(funding_rate, 8, 8),
        "T": next_funding_ms,
    }
