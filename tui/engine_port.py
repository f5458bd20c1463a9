"""What the console may touch of a trading engine: its snapshot and its four commands.

Why a protocol: the architecture's first rule is that the UI never calls an
exchange, a feed or the model. Typing the app against this narrow surface (instead
of ``TradingEngine``) makes the rule visible and lets tests hand the app either the
real engine or a read-side double with a frozen snapshot.
"""

from __future__ import annotations

from typing import Any, Protocol

from trader_core.engine import EngineSnapshot


class ConsoleEngine(Protocol):
    @property
    def snapshot(self) -> EngineSnapshot: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    async def flatten(self) -> Any: ...  # an ``EmergencyRecord``: .flat, .position_before/after, ...

    def stop(self) -> None: ...
