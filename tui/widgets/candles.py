"""Live candles: the last closed candles, the forming one, and the position's entry price.

Why it is careful about when it draws: building a plotext figure costs tens of
milliseconds on the one event loop that also runs the engine, so the chart is
rebuilt only when what it shows changed (a candle closed, the forming candle or
the entry moved) - and then at most ``max_hz`` times a second, so a fast replay
closing ten candles a second costs two figures, not ten. The built figure is cached and
reused for every repaint (a modal opening, a toast) until the data or the size
changes. The x axis is the candle index (integers are twice as fast to lay out as
dates) with a handful of time labels. The forming candle is the rightmost one,
drawn in other colours *and* named in the title; the entry price is a horizontal
line named in the title, so neither needs colour to be read.

``compact`` is the form for small terminals (80x24): as many of the last candles as fit
the width, no plot title (what the lines are goes into the pane's border title), two
time labels - so the market stays in view beside the event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from textual_plotext import PlotextPlot

from trader_core.candles import Candle

from .. import format as fmt

MAX_CANDLES = 60


@dataclass(frozen=True)
class ChartView:
    symbol: str
    interval: str
    candles: tuple[Candle, ...]
    forming: Candle | None
    entry_price: float | None
    side: str  # LONG / SHORT / ""


class CandleChart(PlotextPlot):
    def __init__(self, max_candles: int = MAX_CANDLES, max_hz: float = 2.0, compact: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_candles = max_candles
        self.compact = compact
        self.min_interval_s = 1.0 / max_hz
        self._view: ChartView | None = None
        self._drawn_at: float | None = None
        self._version = 0
        self._cache: tuple[tuple, object] | None = None
        self.draws = 0  # how many figures were built (tests and benchmarks read it)

    def show(self, view: ChartView, now_s: float) -> bool:
        """Redraw if something visible changed and the rate allows; True if it redrew."""
        view = ChartView(view.symbol, view.interval, tuple(view.candles[-self.max_candles:]), view.forming,
                         view.entry_price, view.side)
        if view == self._view:
            return False
        if self._drawn_at is not None and now_s - self._drawn_at < self.min_interval_s:
            return False  # drawn recently: the next tick will catch up
        self._view, self._drawn_at = view, now_s
        self._configure(view)
        self._version += 1
        self.refresh()
        return True

    def _configure(self, view: ChartView) -> None:
        plt = self.plt
        plt.clear_figure()
        candles: Sequence[Candle] = view.candles
        if self.compact and candles:
            fit = max(8, (self.size.width or 40) - 12)  # one column a candle, beside the price axis
            candles = candles[-fit:]
        if not candles:
            self.border_title = f"Candles · {view.symbol} {view.interval}"
            plt.title("waiting for candles")
            return
        xs = list(range(len(candles)))
        plt.candlestick(xs, {
            "Open": [c.open for c in candles], "Close": [c.close for c in candles],
            "High": [c.high for c in candles], "Low": [c.low for c in candles],
        })
        self.border_title = (f"Candles · {view.symbol} {view.interval} · {len(candles)} closed · "
                             f"last {fmt.price(candles[-1].close)}")
        notes = []  # the plot's own title: what the lines and the odd candle are, most important first
        if view.entry_price:
            plt.hline(view.entry_price, "yellow")
            notes.append(f"── entry {fmt.price(view.entry_price)} {view.side}")
        if view.forming is not None and view.forming.open_time > candles[-1].open_time:
            f = view.forming
            plt.candlestick([len(candles)], {"Open": [f.open], "Close": [f.close], "High": [f.high], "Low": [f.low]},
                            colors=["cyan", "magenta"])
            notes.append(f"rightmost: forming {fmt.price(f.close)}")
        if self.compact:  # no room for a plot title: the border says it
            self.border_title = (f"last {fmt.price(candles[-1].close)}"  # the header names the symbol
                                 + (f" · entry {fmt.price(view.entry_price)} {view.side}" if view.entry_price
                                    else " · no position"))
            plt.xticks([0, len(candles) - 1], [fmt.candle_time(candles[0].open_time),
                                               fmt.candle_time(candles[-1].open_time)])
            plt.yfrequency(2)
            return
        plt.title(" · ".join(notes) if notes else "no position")
        ticks = max(2, min(8, (self.size.width or 100) // 18))
        step = max(1, (len(candles) - 1) // (ticks - 1)) if len(candles) > 1 else 1
        positions = list(range(0, len(candles), step))
        plt.xticks(positions, [fmt.candle_time(candles[i].open_time) for i in positions])

    def render(self):
        key = (self._version, self.size.width, self.size.height, self.app.theme)
        if self._cache is None or self._cache[0] != key:
            self.draws += 1
            self._cache = (key, super().render())
        return self._cache[1]
