"""Candles from a DataFrame behind the live feed's interface, for backtests.

Why: a backtest must run the same engine loop as live trading, so it needs a feed the
engine cannot tell from ``KlineFeed``: ``history(count)`` for the warm-up, then
``next_closed()`` once per closed candle, in order. Here the candles are the rows of
a loaded candle frame (``candles.load_candles``): rows before ``start_index`` are the
history, rows from ``start_index`` on are delivered one by one, and the end of the
frame raises ``FeedExhausted`` - the normal end of a backtest, not an error. The frame
is converted to Python lists once, so a delivery costs one ``Candle`` construction.
"""

from __future__ import annotations

import pandas as pd

from ..candles import COLUMNS, Candle
from ..errors import DataError, FeedExhausted


class ReplayFeed:

    in_process = True  # candles from memory: always ready, never stale
    def __init__(self, frame: pd.DataFrame, start_index: int, *, symbol: str = "", interval: str = "") -> None:
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"candle frame for replay lacks column(s) {', '.join(missing)}")
        if not 0 <= start_index <= len(frame):
            raise DataError(f"replay start index {start_index} is outside the {len(frame)} candles given")
        self.symbol = symbol
        self.interval = interval
        self._times: list[int] = frame["open_time"].to_numpy(dtype="int64").tolist()
        self._ohlcv: list[list[float]] = [frame[c].to_numpy(dtype="float64").tolist() for c in COLUMNS[1:]]
        self.start_index = start_index
        self._next = start_index
        self.last_open_time: int | None = None  # of the last candle delivered (history included)
        self.forming: Candle | None = None  # a replay has no forming candle
        self.connected = True
        self.reconnects = 0
        self.malformed_messages = 0
        self.backfilled = 0

    def _candle(self, i: int) -> Candle:
        o, h, l, c, v = self._ohlcv
        return Candle(self._times[i], o[i], h[i], l[i], c[i], v[i])

    @property
    def remaining(self) -> int:
        """Candles ``next_closed`` will still deliver."""
        return len(self._times) - self._next

    async def history(self, count: int) -> list[Candle]:
        """The ``count`` candles just before ``start_index``, oldest first."""
        if count < 0:
            raise ValueError(f"history count must be >= 0, got {count}")
        if count > self.start_index:
            raise DataError(
                f"the replay has {self.start_index} candles before its start, {count} are needed "
                "to warm up the indicators; start later in the data"
            )
        candles = [self._candle(i) for i in range(self.start_index - count, self.start_index)]
        if candles:
            self.last_open_time = candles[-1].open_time
        return candles

    def start(self) -> None:
        self.connected = True

    async def next_closed(self) -> Candle:
        """The next row as a closed candle; ``FeedExhausted`` after the last one."""
        i = self._next
        if i >= len(self._times):
            raise FeedExhausted(f"replay finished after {len(self._times) - self.start_index} candles")
        self._next = i + 1
        candle = self._candle(i)
        self.last_open_time = candle.open_time
        return candle

    async def closed_between(self, start_ms: int, end_ms: int) -> list[Candle]:
        """The frame's candles with ``start_ms <= open time <= end_ms``."""
        return [self._candle(i) for i, t in enumerate(self._times) if start_ms <= t <= end_ms]

    async def stop(self) -> None:
        self.connected = False

    def message_age_s(self) -> float:
        return 0.0
