"""The engine's states, defined once: what each allows, checked at one gate.

Why an enum: the state names were strings repeated across the engine, the risk
checks, the launcher, the headless runner and the console, where a typo is a
silent "not equal". ``EngineState`` is a ``str`` enum, so it prints and compares as
its name (a journal row's ``state`` column, a header), but misspelling a member is
an error at import time.
"""

from __future__ import annotations

import enum


class EngineState(str, enum.Enum):
    STARTING = "STARTING"  # connecting, warming up, reconciling: nothing is traded
    RUNNING = "RUNNING"  # one decision per closed candle
    PAUSED = "PAUSED"  # the operator paused: data keeps flowing and is journaled, no new orders
    REDUCING = "REDUCING"  # the emergency protocol is closing: only orders that reduce exposure
    HALTED = "HALTED"  # stopped by the emergency protocol (a drawdown stop also latches the run)
    STOPPED = "STOPPED"  # the session ended (stop, end of data)

    def __str__(self) -> str:
        return self.value

    @property
    def takes_orders(self) -> bool:
        """New orders may go out (model orders; the emergency's closes go through REDUCING)."""
        return self in (EngineState.RUNNING, EngineState.REDUCING)
