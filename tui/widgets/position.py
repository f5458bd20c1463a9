"""The position pane: what the account holds right now, as the exchange reported it.

Why words and signs: side is LONG / SHORT / FLAT in text and the unrealised PnL
carries its sign, so nothing depends on red/green. Values come straight from the
engine's last refresh (``PositionState``); the console computes nothing of its own.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from trader_core.engine import EngineSnapshot

from .. import format as fmt

_UNSET = object()


def position_table(snapshot: EngineSnapshot | None) -> Table:
    grid = Table.grid(padding=(0, 1))
    for _ in range(2):
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", min_width=9)
    position = snapshot.position if snapshot is not None else None
    if position is None:
        grid.add_row("Side", "-", "Size", "-")
        grid.add_row("Entry", "-", "Mark", "-")
        grid.add_row("uPnL", "-", "Lev", "-")
        grid.add_row("Liq", "-", "", "")
        return grid
    qty = position.quantity
    if qty > 0:
        side = Text("LONG", style="bold green")
    elif qty < 0:
        side = Text("SHORT", style="bold red")
    else:
        side = Text("FLAT", style="bold")
    pnl = float(position.unrealized_pnl)
    pnl_text = Text(fmt.money(pnl, signed=True), style="green" if pnl > 0 else "red" if pnl < 0 else "")
    flat = qty == 0
    grid.add_row("Side", side, "Size", fmt.quantity(abs(qty)))
    mark = fmt.price(position.mark_price) if position.mark_price else "-"  # a flat account reports no mark
    grid.add_row("Entry", "-" if flat else fmt.price(position.entry_price), "Mark", mark)
    grid.add_row("uPnL", pnl_text, "Lev", f"{position.leverage}x" if position.leverage else "-")
    liq = position.liquidation_price
    grid.add_row("Liq", "-" if flat or not liq else fmt.price(liq), "", "")
    return grid


class PositionPane(Static):
    def __init__(self, **kwargs) -> None:
        super().__init__(position_table(None), **kwargs)
        self._shown: object = _UNSET

    def show(self, snapshot: EngineSnapshot | None) -> None:
        position = snapshot.position if snapshot is not None else None
        if position == self._shown:
            return
        self._shown = position
        self.update(position_table(snapshot))
