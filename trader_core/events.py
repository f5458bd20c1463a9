"""One event log per session, written by every part that has something to tell the operator.

Why: a dropped websocket, a retry, a ban countdown or a NOT FLAT close are only
useful if they reach the person watching. The connector, the market feed and the
engine each used to keep their own callback (and the feed's was never wired, so
its drops and gaps were invisible). Now the launcher creates one ``EventLog`` and
hands its ``emit`` to every part at construction; the console and the headless
runner read the same immutable ``EngineEvent``s, numbered so a reader finds the
new ones by sequence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

from .clock import Clock, SystemClock

RECENT_EVENTS = 200
LEVELS = ("info", "warning", "error", "emergency")

#: The level of each event kind the market feed and the connector's retry rules report.
SOURCE_LEVELS: dict[str, str] = {
    # market feed
    "reconnect": "info", "catch-up": "info", "disconnect": "warning", "backoff": "info",
    "stale": "warning", "gap": "warning", "malformed": "warning", "stream-error": "warning",
    "future": "warning", "error": "error",
    # connector retry rules
    "retry": "warning", "resync": "warning", "ban": "error", "unknown": "warning", "close": "warning",
    "rate-limit": "warning",
    "malformed-response": "warning",
    # account streams
    "stream": "info", "stream-down": "warning", "margin-call": "emergency",
}


@dataclass(frozen=True)
class EngineEvent:
    time_ms: int
    level: str  # info, warning, error, emergency
    kind: str
    message: str
    seq: int = 0  # increasing per log: a UI finds new events by it


class EventLog:
    """The session's bounded list of events plus the listeners that want each one as it happens."""

    def __init__(self, clock: Clock | None = None, keep: int = RECENT_EVENTS) -> None:
        self.clock = clock or SystemClock()
        self._events: deque[EngineEvent] = deque(maxlen=keep)
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._seq = 0

    def subscribe(self, listener: Callable[[EngineEvent], None]) -> None:
        self._listeners.append(listener)

    def emit(self, level: str, kind: str, message: str) -> EngineEvent:
        if level not in LEVELS:
            raise ValueError(f"event level must be one of {', '.join(LEVELS)}, got {level!r}")
        self._seq += 1
        event = EngineEvent(self.clock.now_ms(), level, kind, message, self._seq)
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def report(self, kind: str, message: str) -> None:
        """The ``(kind, message)`` callback of a part that reports kinds only (feed, connector);
        the level comes from ``SOURCE_LEVELS``."""
        self.emit(SOURCE_LEVELS.get(kind, "warning"), kind, message)

    @property
    def recent(self) -> tuple[EngineEvent, ...]:
        return tuple(self._events)

    @property
    def last_seq(self) -> int:
        return self._seq
