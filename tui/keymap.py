"""The console's keys, in one place: the app's bindings and the help screen's text.

Why here: the help screen, the footer and the bindings must never disagree about
what a key does. Only the flatten keys are *priority* bindings - they must fire
from any screen, a modal or a focused text field included. ``p`` and ``q`` stay
ordinary so a modal (or a text field) keeps them from acting behind the
operator's back. ``ctrl+f`` is the flatten alias for terminals where function
keys need a modifier (macOS) or are eaten by the terminal; it is not a printable
key, so typing in a field can never trigger it by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

FLATTEN_KEYS = "f9,ctrl+f"


@dataclass(frozen=True)
class KeyHelp:
    keys: str
    what: str


APP_BINDINGS: list[Binding] = [
    Binding(FLATTEN_KEYS, "flatten_all", "Flatten all", key_display="F9/^F", priority=True, id="flatten"),
    Binding("p", "toggle_pause", "Pause/Resume", id="pause"),
    Binding("q", "quit", "Quit", id="quit"),
    Binding("s", "sessions", "Sessions", id="sessions"),
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
]

HELP: tuple[KeyHelp, ...] = (
    KeyHelp("F9  or  Ctrl+F", "FLATTEN ALL: cancel every open order and close the position at market, "
            "at once, from any screen (dialogs included). The engine stays PAUSED afterwards; "
            "the result appears as a notification and in the event log, and is written to the "
            "emergencies CSV."),
    KeyHelp("p", "Pause / resume. Paused: market data, the journal and the screen keep going, "
            "but no new orders are sent."),
    KeyHelp("q  or  Ctrl+Q", "Quit. With a position open you are asked whether to flatten first. "
            "The engine stops cleanly (the current step finishes, connections close)."),
    KeyHelp("s", "Past sessions of this run (every mode), with how each went and ended; Esc closes. "
            "The session keeps running behind it."),
    KeyHelp("?", "This help."),
    KeyHelp("Tab / Shift+Tab", "Move between panes and buttons; arrows scroll the actions table and the log."),
    KeyHelp("Esc", "Close a dialog without acting."),
)
