"""The replayed market: which candle is forming, how far it has formed, and its wire shapes.

Why: the simulator must show a client the same picture Binance would at that moment
in history: closed candles up to now, one forming candle whose high/low/close grow
toward the real ones through a few partial updates, and a price (the forming
candle's close so far). This module holds only that state and renders it as REST
kline rows and websocket kline payloads; it does no I/O, so it is easy to test.

Right after a close, before the next candle's first update, no trade has happened in
the new interval: the price is still the closed candle's close (on Binance the first
trade after a close is at or next to it), so an order sent just after a close fills
there, as the backtest assumes. The real next open differs from the close in about
half of real BTCUSDT candles; it appears with the new candle's first update.

The 6-column candle files carry no trade count, quote volume or taker-buy split.
When the frame has Binance's extra columns (``quote_volume``, ``count``,
``taker_buy_volume``, ``taker_buy_quote_volume``) they are used; otherwise they are
synthesised deterministically: quote volume = volume x (high + low + close) / 3,
trades = max(1, round(volume)), taker buys = half of each. Trade ids are the running
count of those trades. Features use OHLCV only, so nothing downstream depends on them.

A price shock (``faults.price_shock``) sets ``shock_price``: the last price (and so
the mark, fills, positionRisk, account) is that price until the next update of the
market, which ends it. The candle itself keeps its real values - a wick the data
never had would reach the features through the klines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from ..accounting import price_to_decimal
from ..candles import Candle, infer_interval
from ..errors import DataError
from ..exchanges.filters import SymbolFilters
from ..time_utils import interval_ms, iso_ms
from .formatting import fixed, shown_places

QUOTE_PLACES = 5
_EXTRA_COLUMNS = ("quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume")


class ReplayExhausted(DataError):
    """The candle data has no further candle to make current: the replay is over."""


@dataclass(frozen=True)
class KlineState:
    """One candle as the exchange shows it at one moment (closed or partially formed)."""

    index: int
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_base: Decimal
    taker_quote: Decimal
    first_trade_id: int
    closed: bool


class MarketReplay:
    """Candles ``[0, current_index)`` are closed, ``current_index`` is forming.

    The forming candle advances in ``updates_per_candle = interim_updates + 1`` equal
    steps: after step j >= 1 its values are the open moved the fraction j / updates of
    the way toward the real high, low, close and volume (rounded onto the tick and step
    grids), so every partial update is a consistent candle, highs only rise, lows only
    fall, and the last step is exactly the real candle. At step 0 (no trade yet) it is
    flat at the previous close with no volume; the data's first candle, having no
    previous one, starts flat at its own open.
    """

    def __init__(
        self, candles: pd.DataFrame, start_index: int, filters: SymbolFilters, interim_updates: int
    ) -> None:
        if len(candles) < 2:
            raise DataError("the simulator needs at least 2 candles (one closed, one forming)")
        if not 0 <= start_index < len(candles):
            raise DataError(
                f"start index {start_index} is outside the data (0..{len(candles) - 1}); "
                "candles before it are history, the one at it is the first forming candle"
            )
        if interim_updates < 0:
            raise ValueError(f"interim_updates must be >= 0, got {interim_updates}")
        missing = [c for c in ("open_time", "open", "high", "low", "close", "volume") if c not in candles]
        if missing:
            raise DataError(f"candle frame lacks column(s) {', '.join(missing)}")
        self.filters = filters
        self.interval = infer_interval(candles)
        self.interval_ms = interval_ms(self.interval)
        self.updates_per_candle = interim_updates + 1
        self.open_times = candles["open_time"].to_numpy(dtype=np.int64)
        self._ohlcv = candles[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
        self._extras = (
            candles[list(_EXTRA_COLUMNS)].to_numpy(dtype=np.float64)
            if all(c in candles for c in _EXTRA_COLUMNS) else None
        )
        trades = (
            self._extras[:, 1].astype(np.int64) if self._extras is not None
            else np.maximum(1, np.rint(self._ohlcv[:, 4])).astype(np.int64)
        )
        self._trades = trades
        self._first_trade = np.concatenate(([1], 1 + np.cumsum(trades)[:-1])).astype(np.int64)
        self._price_places = shown_places(filters.tick_size)
        self._qty_places = shown_places(filters.step_size)
        self.current_index = start_index
        self.progress = 0  # partial updates applied to the forming candle
        self.shock_price: Decimal | None = None  # a price shock in force (see faults.price_shock)
        self._forming_cache: tuple[int, int, KlineState] | None = None
        self._closed_rows: dict[int, list] = {}  # rendered REST rows of closed candles

    # ------------------------------------------------------------------ state

    def __len__(self) -> int:
        return len(self.open_times)

    @property
    def at_last_candle(self) -> bool:
        """The forming candle is the data's last: no candle could become current after it."""
        return self.current_index >= len(self) - 1

    def ensure_can_advance(self) -> None:
        if self.at_last_candle:
            last = int(self.open_times[-1])
            raise ReplayExhausted(
                f"the candle data ends at {iso_ms(last)}: the candle forming now is the last one, "
                "so no further candle can close (load more data or start earlier)"
            )

    def advance(self) -> KlineState:
        """Apply the forming candle's next update; returns the candle as it now stands.

        The final update closes it (``closed=True``) and makes the next candle current.
        Raises ``ReplayExhausted`` (changing nothing) when no candle follows.
        """
        self.ensure_can_advance()
        self.shock_price = None  # a shock lasts until the market moves on
        self.progress += 1
        state = self.kline(self.current_index, self.progress)
        if state.closed:
            self.current_index += 1
            self.progress = 0
        return state

    @property
    def forming(self) -> KlineState:
        cached = self._forming_cache
        if cached is not None and cached[0] == self.current_index and cached[1] == self.progress:
            return cached[2]
        state = self.kline(self.current_index, self.progress)
        self._forming_cache = (self.current_index, self.progress, state)
        return state

    @property
    def price(self) -> Decimal:
        """Last traded price: the forming candle's close so far (the previous close
        until the forming candle's first update), or a price shock in force."""
        if self.shock_price is not None:
            return self.shock_price
        return self.forming.close

    @property
    def update_id(self) -> int:
        """A number that grows with every update of the market (bookTicker's ``lastUpdateId``)."""
        return self.current_index * self.updates_per_candle + self.progress

    def market_time_ms(self) -> int:
        """The replay's clock: the forming candle's open plus the fraction formed."""
        return int(self.open_times[self.current_index]) + self.interval_ms * self.progress // self.updates_per_candle

    def candle(self, index: int) -> Candle:
        o, h, l, c, v = self._ohlcv[index]
        return Candle(int(self.open_times[index]), float(o), float(h), float(l), float(c), float(v))

    # ------------------------------------------------------------------ values

    def kline(self, index: int, progress: int | None = None) -> KlineState:
        """Candle ``index`` after ``progress`` of its updates (None or full = closed)."""
        full = self.updates_per_candle
        step = full if progress is None else min(progress, full)
        o, h, l, c, v = (price_to_decimal(x) for x in self._ohlcv[index])
        t = int(self.open_times[index])
        trades_total = int(self._trades[index])
        if self._extras is not None:
            q_total, _, vb_total, qb_total = (price_to_decimal(x) for x in self._extras[index])
        else:
            q_total = (v * (h + l + c) / 3).quantize(Decimal(1).scaleb(-QUOTE_PLACES), ROUND_HALF_UP)
            vb_total = (v / 2).quantize(self.filters.step_size, ROUND_DOWN)
            qb_total = (q_total / 2).quantize(Decimal(1).scaleb(-QUOTE_PLACES), ROUND_HALF_UP)
        if step >= full:
            high, low, close, volume = h, l, c, v
            quote, trades, vb, qb = q_total, trades_total, vb_total, qb_total
        elif step == 0 and index > 0:
            # No trade in this interval yet: shown the way Binance shows a kline without
            # trades - every price at the last traded one (the previous close), nothing
            # traded. Its first update brings its first trade: the real open.
            o = high = low = close = price_to_decimal(self._ohlcv[index - 1][3])
            volume = quote = vb = qb = Decimal(0)
            trades = 0
        else:
            frac = Decimal(step) / Decimal(full)
            tick = self.filters.tick_size
            high = min(h, max(o, self._on_grid(o + (h - o) * frac, tick, ROUND_CEILING)))
            low = max(l, min(o, self._on_grid(o + (l - o) * frac, tick, ROUND_FLOOR)))
            close = min(high, max(low, self._on_grid(o + (c - o) * frac, tick, ROUND_HALF_UP)))
            volume = (v * frac).quantize(self.filters.step_size, ROUND_DOWN) if step else Decimal(0)
            quote = (q_total * frac).quantize(Decimal(1).scaleb(-QUOTE_PLACES), ROUND_DOWN)
            trades = trades_total * step // full
            vb = (vb_total * frac).quantize(self.filters.step_size, ROUND_DOWN)
            qb = (qb_total * frac).quantize(Decimal(1).scaleb(-QUOTE_PLACES), ROUND_DOWN)
        return KlineState(
            index=index, open_time=t, close_time=t + self.interval_ms - 1, open=o, high=high, low=low,
            close=close, volume=volume, quote_volume=quote, trades=trades, taker_base=vb,
            taker_quote=qb, first_trade_id=int(self._first_trade[index]), closed=step >= full,
        )

    @staticmethod
    def _on_grid(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
        return (value / tick).to_integral_value(rounding=rounding) * tick

    # ------------------------------------------------------------------ wire shapes

    def price_str(self, value: Decimal) -> str:
        return fixed(value, self._price_places)

    def qty_str(self, value: Decimal) -> str:
        return fixed(value, self._qty_places)

    def rest_row(self, k: KlineState) -> list:
        """A 12-element ``/fapi/v1/klines`` row."""
        return [
            k.open_time, self.price_str(k.open), self.price_str(k.high), self.price_str(k.low),
            self.price_str(k.close), self.qty_str(k.volume), k.close_time,
            fixed(k.quote_volume, QUOTE_PLACES), k.trades, self.qty_str(k.taker_base),
            fixed(k.taker_quote, QUOTE_PLACES), "0",
        ]

    def ws_body(self, k: KlineState, with_symbol: str | None) -> dict:
        """The ``k`` object of a kline event (``s`` only for plain, not continuous, klines)."""
        body: dict = {"t": k.open_time, "T": k.close_time}
        if with_symbol is not None:
            body["s"] = with_symbol
        body.update({
            "i": self.interval,
            "f": k.first_trade_id,
            "L": k.first_trade_id + k.trades - 1,
            "o": self.price_str(k.open), "c": self.price_str(k.close),
            "h": self.price_str(k.high), "l": self.price_str(k.low),
            "v": self.qty_str(k.volume), "n": k.trades, "x": k.closed,
            "q": fixed(k.quote_volume, QUOTE_PLACES), "V": self.qty_str(k.taker_base),
            "Q": fixed(k.taker_quote, QUOTE_PLACES), "B": "0",
        })
        return body

    def visible_rows(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[list]:
        """REST klines: closed candles plus the forming one, filtered by open time, ascending.

        As on Binance: with ``startTime`` the first ``limit`` rows from it; with only
        ``endTime`` the last ``limit`` rows up to it; with neither the latest ``limit``.
        """
        times = self.open_times[: self.current_index + 1]
        lo = int(np.searchsorted(times, start_ms, "left")) if start_ms is not None else 0
        hi = int(np.searchsorted(times, end_ms, "right")) if end_ms is not None else len(times)
        if hi <= lo:
            return []
        if start_ms is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        rows = []
        for i in range(lo, hi):
            if i == self.current_index:
                rows.append(self.rest_row(self.forming))
                continue
            row = self._closed_rows.get(i)
            if row is None:
                row = self._closed_rows[i] = self.rest_row(self.kline(i))
            rows.append(list(row))
        return rows
