"""The help screen: every key and what it does, from the keymap.

Why a modal: the operator can read it while the session keeps running behind it,
and F9 still flattens while it is open.
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keymap import HELP


def help_table() -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
    table.add_column("Key", no_wrap=True, style="bold")
    table.add_column("What it does", ratio=1)
    for item in HELP:
        table.add_row(item.keys, item.what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="help-dialog"):
            yield Static("[b]sactui keys[/b]   (Esc closes)", id="help-title")
            yield Static(help_table(), id="help-keys")
            yield Static(
                "Nothing on this console is told by colour alone: sides, levels and states are words.",
                id="help-note",
            )

    def action_close(self) -> None:
        self.dismiss(None)
