"""The emergency log: every warning, retry, reconnect and emergency, with its time.

Why it reads the snapshot's event tuple by identity: ``EngineEvent``s carry no
sequence number and the engine keeps only its most recent ones, so the log
remembers the last event object it wrote and appends whatever follows it. The
console adds its own lines (an F9 result, an engine crash) through ``note``. Levels
are written as words (WARNING, ERROR, EMERGENCY) - colour only repeats them - and
``max_lines`` bounds memory over a days-long session.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widgets import RichLog

from trader_core.engine import EngineEvent

from .. import format as fmt

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red", "emergency": "bold reverse red"}
MAX_LINES = 1000


def event_line(time_ms: int, level: str, kind: str, message: str) -> Text:
    line = Text()
    line.append(fmt.clock_text(time_ms), style="dim")
    line.append(" ")
    line.append(f"{level.upper():<9}", style=LEVEL_STYLES.get(level, ""))
    line.append(f" {kind}: " if kind else " ", style="bold")
    line.append(message)
    return line


class EventLog(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, min_width=20, wrap=True, markup=False, highlight=False, **kwargs)
        self._last: EngineEvent | None = None
        self.plain_lines: list[str] = []  # what was written, for tests and for copying out

    def show(self, events: Sequence[EngineEvent]) -> list[EngineEvent]:
        """Write the events not written yet; returns them (the app raises a toast for emergencies)."""
        if not events or events[-1] is self._last:
            return []
        start = 0
        if self._last is not None:
            for index in range(len(events) - 1, -1, -1):
                if events[index] is self._last:
                    start = index + 1
                    break
        fresh = list(events[start:])
        for event in fresh:
            self._write(event_line(event.time_ms, event.level, event.kind, event.message))
        self._last = events[-1]
        return fresh

    def note(self, time_ms: int, level: str, kind: str, message: str) -> None:
        """A line from the console itself (not from the engine)."""
        self._write(event_line(time_ms, level, kind, message))

    def _write(self, line: Text) -> None:
        self.plain_lines.append(line.plain)
        del self.plain_lines[:-MAX_LINES]
        self.write(line)
