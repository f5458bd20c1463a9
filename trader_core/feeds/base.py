"""What the engine may ask of a source of closed candles: the ``Feed`` protocol.

Why a protocol: the engine runs on the Binance websocket feed, a replay of a candle
file for backtests, and the simulator's websocket - and used to find out which by
probing attributes with ``getattr``. Every feed now says the same things, so the
engine asks directly.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..candles import Candle


@runtime_checkable
class Feed(Protocol):
    #: No I/O: the next candle is always ready (a replay), so the engine need not race it against a stop.
    in_process: bool
    #: The market stream is up (a replay always is).
    connected: bool
    #: The latest update of the candle forming now, or None (a replay has none).
    forming: Candle | None

    async def history(self, count: int) -> list[Candle]:
        """The last ``count`` closed candles; the feed continues after the last one."""

    def start(self) -> None:
        """Begin delivering closed candles after the history."""

    async def next_closed(self) -> Candle:
        """The next closed candle, once and in order (``FeedExhausted`` at the end of a replay)."""

    async def closed_between(self, start_ms: int, end_ms: int) -> list[Candle]:
        """Closed candles with ``start_ms <= open time <= end_ms`` (crash recovery), oldest first."""

    def message_age_s(self) -> float | None:
        """Seconds since the last market message (None before the first)."""

    async def stop(self) -> None: ...
