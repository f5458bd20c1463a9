"""Stopping background tasks: cancel, then wait for each to finish, whatever it ends with.

Why one helper: the feed, the account streams and the risk watch each own long-running
tasks, and each stop must not return while a task still runs (it could push into a book
or journal a row after the session ended) nor raise because a task failed on its way out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task | None]) -> None:
    """Cancel every task (``None`` is skipped), then await each; their outcome is not the caller's concern."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: a task's failure ends with it
            pass
