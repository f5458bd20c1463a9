"""The drawdown gauge: how close the account is to the emergency stop.

Why this shape: the guard compares equity (unrealised PnL included) with the
session's peak, and fires at ``max_drawdown``. The gauge shows exactly that pair,
as numbers, as a bar filled to the fraction of the limit used, and as a word -
OK below half the limit, WARN from half, DANGER from 80 %, HALTED once the
engine stopped - so the level reads without colour; the colour only repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from trader_core.accounting import drawdown_stop_equity

from .. import format as fmt

WARN_AT = 0.5  # of the limit
DANGER_AT = 0.8
LEVEL_STYLES = {"OK": "bold green", "WARN": "bold reverse yellow", "DANGER": "bold reverse red",
                "HALTED": "bold reverse red"}


def level(drawdown: float, max_drawdown: float, halted: bool = False) -> str:
    if halted:
        return "HALTED"
    used = drawdown / max_drawdown if max_drawdown > 0 else 0.0
    if used >= DANGER_AT:
        return "DANGER"
    if used >= WARN_AT:
        return "WARN"
    return "OK"


@dataclass(frozen=True)
class GaugeView:
    drawdown: float
    max_drawdown: float
    halted: bool = False
    known: bool = True  # False until the engine has an account
    equity: float | None = None
    peak_equity: float = 0.0


def gauge_text(view: GaugeView, width: int, lines: int = 1) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not view.known:
        text.append("drawdown - (no account yet)", style="dim")
        return text
    word = level(view.drawdown, view.max_drawdown, view.halted)
    used = min(1.0, view.drawdown / view.max_drawdown) if view.max_drawdown > 0 else 0.0
    head = f"{fmt.pct(view.drawdown)} of max {fmt.pct(view.max_drawdown)} "
    tail = f" {used:4.0%} used "
    bar_width = max(0, width - len(head) - len(tail) - len(word) - 4)
    text.append(head)
    if bar_width >= 5:
        filled = round(used * bar_width)
        style = LEVEL_STYLES[word].replace("reverse ", "")
        text.append("▕")
        text.append("█" * filled, style=style)
        text.append("░" * (bar_width - filled), style="dim")
        text.append("▏")
    text.append(tail)
    text.append(f" {word} ", style=LEVEL_STYLES[word])
    if lines >= 2 and view.equity is not None and view.peak_equity > 0:
        stop = drawdown_stop_equity(view.peak_equity, view.max_drawdown)
        text.append(f"\npeak {fmt.money(view.peak_equity)} · stops below {fmt.money(stop)}", style="dim")
    return text


class DrawdownGauge(Widget):
    """The bar stretches to the pane's width; a second line (when there is room) says where the stop is."""

    DEFAULT_CSS = "DrawdownGauge { height: 1; }"  # the app's stylesheet gives it a second line when wide

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._view = GaugeView(0.0, 0.0, known=False)

    def show(self, view: GaugeView) -> None:
        if view != self._view:
            self._view = view
            for name in ("OK", "WARN", "DANGER", "HALTED"):
                self.set_class(view.known and level(view.drawdown, view.max_drawdown, view.halted) == name,
                               f"-{name.lower()}")
            self.refresh()

    @property
    def level(self) -> str:
        v = self._view
        return level(v.drawdown, v.max_drawdown, v.halted) if v.known else "-"

    def render(self) -> Text:
        return gauge_text(self._view, self.content_size.width or 60, self.content_size.height or 1)
