"""Injected time: the wall clock and sleeping, so tests never wait on real time.

Everything that waits (retries, backoff, polling, watchdogs) takes a ``Clock``.
``SystemClock`` is the real one; ``ManualClock`` advances only when told to or when
something sleeps on it, and records every sleep so a test can assert that a backoff
of exactly ``Retry-After`` seconds was honoured.
"""

from __future__ import annotations

import asyncio
import time


class Clock:
    def now_ms(self) -> int:
        raise NotImplementedError

    def monotonic(self) -> float:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError


class SystemClock(Clock):
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock(Clock):
    """A clock that jumps: ``sleep`` returns at once after advancing the time."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._ms = float(start_ms)
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return int(self._ms)

    def monotonic(self) -> float:
        return self._ms / 1000.0

    def advance(self, seconds: float) -> None:
        self._ms += seconds * 1000.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class FeedClock(Clock):
    """Market time as a replay's feed knows it: the close of the newest closed candle.

    For replays of historical candles (the simulator, a custom endpoint) "now" for the
    stale-candle check is the market's own time, and a sped-up replay makes wall-clock
    graces meaningless: a candle is stale exactly when a newer one has already closed
    - as a candle backfilled after a gap, or caught up after a reconnect, is.
    """

    def __init__(self, feed, base: Clock | None = None) -> None:
        self._feed = feed
        self._base = base or SystemClock()

    def now_ms(self) -> int:
        return int(self._feed.market_time_ms or 0)

    def monotonic(self) -> float:
        return self._base.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(seconds)


class CandleClock(Clock):
    """Backtest time: the close of the last candle processed; sleeping is instant."""

    def __init__(self) -> None:
        self.ms = 0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.ms / 1000.0

    async def sleep(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
