"""Session statistics: is this session making or losing money, and how hard is it working.

Why these figures: they are the ones the engine's ``SessionStats`` keeps from the
journal (so the console and the end-of-session report agree) - equity, PnL since
the start, realised PnL, trades, fees, steps, max drawdown - plus uptime.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from .. import format as fmt


@dataclass(frozen=True)
class StatsView:
    stats: tuple  # sorted (key, value) pairs of EngineSnapshot.stats
    uptime_s: float | None


def stats_table(view: StatsView | None) -> Table:
    stats = dict(view.stats) if view is not None else {}
    if stats.get("start_equity") is None and not stats.get("steps"):
        stats = {}  # the engine has not read the account yet: nothing to show
    start = stats.get("start_equity")
    pnl = stats.get("pnl")
    pnl_text = Text("-")
    if pnl is not None and start:
        pnl_text = Text(f"{fmt.money(pnl, signed=True)} ({fmt.pct(pnl / start, signed=True)})",
                        style="green" if pnl > 0 else "red" if pnl < 0 else "")
    grid = Table.grid(padding=(0, 1))
    for _ in range(2):
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", min_width=9)
    grid.add_row("Equity", fmt.money(stats.get("equity")) if stats else "-", "PnL", pnl_text)
    grid.add_row("Realized", fmt.money(stats.get("realized_pnl"), signed=True) if stats else "-",
                 "Fees", fmt.money(stats.get("fees"), digits=4) if stats else "-")
    grid.add_row("Trades", str(stats.get("trades", "-")), "Steps", str(stats.get("steps", "-")))
    grid.add_row("Uptime", fmt.duration(view.uptime_s) if view is not None else "-",
                 "Max DD", fmt.pct(stats.get("max_drawdown")) if stats else "-")
    return grid


class StatsPane(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__(stats_table(None), **kwargs)
        self._view: StatsView | None = None

    def show(self, view: StatsView | None) -> None:
        if view == self._view:
            return
        self._view = view
        self.update(stats_table(view))
