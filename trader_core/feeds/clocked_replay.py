"""A replay feed that moves a backtest's clock and the paper exchange's price with each candle.

Why: in a backtest, time is the candles. Each delivered candle sets the backtest
clock to its close and the paper exchange's fill price to its close, so the engine
sees exactly what it would see live at that moment - stale checks, timestamps and
fills included - without a separate driver loop.
"""

from __future__ import annotations

from ..accounting import price_to_decimal
from ..candles import Candle
from ..clock import CandleClock
from ..exchanges.paper import PaperExchange
from ..time_utils import interval_ms
from .replay_feed import ReplayFeed


class ClockedReplay:
    in_process = True  # candles from memory: the engine never waits on them

    def __init__(self, inner: ReplayFeed, clock: CandleClock, exchange: PaperExchange, interval: str) -> None:
        self._inner = inner
        self._clock = clock
        self._exchange = exchange
        self._step_ms = interval_ms(interval)
        self.connected = True
        self.forming: Candle | None = None

    async def history(self, count: int) -> list[Candle]:
        candles = await self._inner.history(count)
        if candles:
            self._advance(candles[-1])
        return candles

    def start(self) -> None:
        self._inner.start()

    async def next_closed(self) -> Candle:
        candle = await self._inner.next_closed()
        self._advance(candle)
        return candle

    def _advance(self, candle: Candle) -> None:
        self._clock.ms = candle.open_time + self._step_ms
        self._exchange.set_price(price_to_decimal(candle.close))

    async def closed_between(self, start_ms: int, end_ms: int) -> list[Candle]:
        return await self._inner.closed_between(start_ms, end_ms)

    async def stop(self) -> None:
        await self._inner.stop()

    def message_age_s(self) -> float:
        return 0.0
