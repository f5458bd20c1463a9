"""The model's actions: one row per decision step, the same facts the journal holds.

Why keyed rows: a step never changes once journaled, so each row is keyed by its
candle's open time and added once; rows that fell out of the engine's recent-steps
window are removed. Nothing is redrawn that did not change, which keeps the event
loop free for the engine. The table follows the newest row (like ``tail -f``)
unless the operator moved the cursor up to read an older one.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widgets import DataTable

from trader_core.step_record import StepRecord

from .. import format as fmt

#: The candle is named by its open time (UTC), as everywhere in sactui (journal, reports, step lines).
COLUMNS = (("candle", "Candle open (UTC)"), ("action", "Action"), ("target", "Target"), ("order", "Order"),
           ("fill", "Fill / status"), ("latency", "Latency"))


def step_cells(step: StepRecord) -> tuple:
    if step.order_side:
        order = Text(f"{step.order_side} {fmt.quantity(step.order_qty.lstrip('-'))}",
                     style="green" if step.order_side == "BUY" else "red")
    else:
        order = Text("none", style="dim")
    if step.order_status == "FILLED" and step.order_avg_price:
        fill = Text(f"@{fmt.price(step.order_avg_price)} FILLED")
    else:
        status = step.order_status or "-"
        fill = Text(status, style="bold" if status.startswith(("REJECTED", "ERROR", "UNKNOWN")) else "dim")
    return (
        fmt.candle_time(step.candle_open_time),
        Text(f"{step.raw_action:+.3f}", justify="right"),
        Text(f"{step.target_exposure:+.2f}", justify="right"),
        order,
        fill,
        Text(f"{step.decision_latency_ms:.1f} ms", justify="right"),
    )


class ActionsTable(DataTable):
    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._keys: list[str] = []

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def step_keys(self) -> list[str]:
        """Row keys (candle open times, as text) in display order."""
        return list(self._keys)

    def show(self, steps: Sequence[StepRecord]) -> None:
        wanted = [str(step.candle_open_time) for step in steps]
        if wanted == self._keys:
            return
        following = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        keep = set(wanted)
        for key in [k for k in self._keys if k not in keep]:
            self.remove_row(key)
        present = set(self._keys) & keep
        for key, step in zip(wanted, steps):
            if key not in present:
                self.add_row(*step_cells(step), key=key)
                present.add(key)
        self._keys = wanted
        if following and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
