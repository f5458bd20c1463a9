"""The live-mode confirmation: type the symbol before anything connects to mainnet.

Why typing and not a yes/no: a reflexive Enter must never start trading real
money. Cancel holds the focus when the dialog opens (so a bare Enter cancels),
Escape cancels; typing goes to the symbol field wherever the focus is, and only
the symbol typed exactly - same letters, same case, nothing around it - proceeds. The dialog returns the typed symbol (passed on as
``SessionOptions.confirm_live``, which the launcher checks again) or ``None``.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class LiveConfirmScreen(ModalScreen[str | None]):
    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, symbol: str, train_id: str = "") -> None:
        super().__init__()
        self.symbol = symbol
        self.train_id = train_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="live-dialog"):
            yield Label(" LIVE · REAL MONEY ", id="live-badge")
            yield Static(
                "This session trades REAL MONEY on Binance mainnet"
                + (f" with run {self.train_id}" if self.train_id else "") + ".\n"
                f"To connect, type the symbol [b]{self.symbol}[/b] exactly and press Enter.\n"
                "Enter without typing, Cancel or Esc: nothing connects.",
                id="live-text",
            )
            yield Input(placeholder=f"type {self.symbol}", id="symbol", select_on_focus=False)
            yield Static("", id="live-error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Connect LIVE", id="confirm", variant="error")

    def on_key(self, event: events.Key) -> None:
        """Typing starts in the field even while Cancel has the focus."""
        field = self.query_one("#symbol", Input)
        if event.is_printable and event.character and self.focused is not field:
            event.stop()
            event.prevent_default()
            field.focus()
            field.insert_text_at_cursor(event.character)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self._try_confirm()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try_confirm()

    def _try_confirm(self) -> None:
        typed = self.query_one("#symbol", Input).value
        if typed == self.symbol:
            self.dismiss(typed)
            return
        shown = typed if typed else "nothing"
        self.query_one("#live-error", Static).update(
            f"REFUSED: you typed {shown!r}, the symbol is {self.symbol!r}. Nothing connected."
        )
        self.query_one("#symbol", Input).value = ""

    def action_cancel(self) -> None:
        self.dismiss(None)
