"""The header: which money is at stake (mode), on what, in which state, how fresh the data is.

Why it is built this way: the first thing an operator must never misread is
whether this console trades real money. LIVE is a reversed red badge that says
"LIVE · REAL MONEY" in words (and the whole header gets a red frame), so it reads
the same on a monochrome terminal or to a colour-blind operator. The engine state
and the feed state are words too; the age of the last market message tells a
silent feed from a quiet market. The clock is injected so screenshots are
reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from trader_core.modes import Mode
from trader_core.states import EngineState

from .. import format as fmt

MODE_BADGES = {
    "live": (" LIVE · REAL MONEY ", "bold reverse red"),
    "testnet": (" TESTNET ", "bold reverse yellow"),
    "sim": (" SIM · offline ", "bold reverse green"),
    "backtest": (" BACKTEST ", "bold reverse blue"),
}
#: Engine states, plus the console's own words before an engine exists (FAILED, WAITING).
STATE_STYLES: dict[str, str] = {
    EngineState.RUNNING.value: "bold green",
    EngineState.PAUSED.value: "bold reverse yellow",
    EngineState.REDUCING.value: "bold reverse magenta",
    EngineState.HALTED.value: "bold reverse red",
    EngineState.STOPPED.value: "bold",
    EngineState.STARTING.value: "bold cyan",
    "FAILED": "bold reverse red",
}


@dataclass(frozen=True)
class SessionIdentity:
    """What the header can say before an engine exists (e.g. while --live awaits confirmation)."""

    mode: str
    symbol: str
    interval: str
    train_id: str


@dataclass(frozen=True)
class HeaderView:
    identity: SessionIdentity
    state: str
    connected: bool | None  # None: no engine yet
    market_age_s: float | None
    now_ms: int
    detail: str = ""  # halted reason / last error / what the console is waiting for
    not_flat: bool = False  # the emergency protocol is still closing a position the exchange holds
    held_for_s: float | None = None  # an IP ban holds trading this much longer


def header_text(view: HeaderView) -> Table:
    ident = view.identity
    badge, badge_style = MODE_BADGES.get(ident.mode, (f" {ident.mode.upper()} ", "bold reverse"))
    left = Text(no_wrap=True, overflow="ellipsis")
    left.append(badge, style=badge_style)
    left.append(f" {ident.symbol} {ident.interval} ", style="bold")
    left.append("│ ")
    state = str(view.state)
    left.append(f" {state} " if state != EngineState.RUNNING else state, style=STATE_STYLES.get(state, "bold"))
    if view.not_flat:
        left.append(" ")
        left.append(" NOT FLAT · closing ", style="bold reverse red blink")
    if view.held_for_s is not None:
        left.append(" ")
        left.append(f" BANNED · resumes in {fmt.age(view.held_for_s)} ", style="bold reverse yellow")
    left.append(" │ feed ")
    if view.connected is None:
        left.append("not connected")
    elif view.connected:
        left.append("up", style="green")
        left.append(f", {fmt.age(view.market_age_s)} ago" if view.market_age_s is not None else ", no message yet")
    else:
        left.append(" DOWN ", style="bold reverse red")
        if view.market_age_s is not None:
            left.append(f" last message {fmt.age(view.market_age_s)} ago")
    right = Text(f"{fmt.clock_text(view.now_ms)} UTC", no_wrap=True)
    second = Text(no_wrap=True, overflow="ellipsis")
    second.append("run ", style="dim")
    second.append(ident.train_id)
    if view.detail:
        second.append("  │ ")
        second.append(view.detail, style="bold")
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, right)
    grid.add_row(second, Text(""))
    return grid


class SessionHeader(Static):
    """Two lines at the top; re-rendered only when what it shows changed."""

    def __init__(self, identity: SessionIdentity, **kwargs) -> None:
        super().__init__(**kwargs)
        self._view: HeaderView | None = None
        self.set_class(identity.mode == Mode.LIVE, "-live")

    def show(self, view: HeaderView) -> None:
        if view == self._view:
            return
        self._view = view
        self.set_class(view.identity.mode == Mode.LIVE, "-live")
        self.update(header_text(view))
