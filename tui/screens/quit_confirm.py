"""Quitting with a position open: flatten first, leave it open, or stay.

Why ask: leaving a position open when the console goes away is a legitimate
choice (the operator may restart at once), but it must be a choice. "Stay" has
the focus, so a stray Enter changes nothing; ``f`` and ``l`` pick the other two.
The answer is ``"flatten"``, ``"leave"`` or ``None`` (stay). The position shown is the
one held *now*: the app calls ``show`` on every render tick while the dialog is open, so
the side, size and unrealised PnL the operator decides on are never the ones of the
moment the dialog opened.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

FLATTEN, LEAVE = "flatten", "leave"


class QuitConfirmScreen(ModalScreen[str | None]):
    AUTO_FOCUS = "#stay"
    BINDINGS = [
        Binding("escape", "stay", "Stay"),
        Binding("f", "choose('flatten')", "Flatten, then quit"),
        Binding("l", "choose('leave')", "Quit, leave open"),
    ]

    def __init__(self, position_text: str) -> None:
        super().__init__()
        self.position_text = position_text

    @staticmethod
    def _text(position_text: str) -> str:
        return (f"{position_text}\n\nFlatten it before quitting?  "
                "[b]f[/b] flatten, then quit · [b]l[/b] quit and leave it open · [b]Esc[/b] stay")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="quit-dialog"):
            yield Static("[b]A position is open[/b]", id="quit-title")
            yield Static(self._text(self.position_text), id="quit-text")
            with Horizontal(id="buttons"):
                yield Button("Stay", id="stay")
                yield Button("Quit, leave open (l)", id="leave", variant="warning")
                yield Button("Flatten, then quit (f)", id="flatten", variant="error")

    def show(self, position_text: str) -> None:
        """The position as it is now (called on the app's render tick)."""
        if position_text != self.position_text:
            self.position_text = position_text
            if self.is_mounted:
                self.query_one("#quit-text", Static).update(self._text(position_text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"flatten": FLATTEN, "leave": LEAVE}.get(event.button.id or ""))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    def action_stay(self) -> None:
        self.dismiss(None)
