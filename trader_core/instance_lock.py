"""One trading process per run and mode: an OS lock on the session folder.

Why: a second ``sactui`` started on a run that is already trading took the running
session for a crashed one and "resumed" it - same tag, same journal - and the
exchange accepted the same client ids twice. ``flock`` on ``<folder>/.lock`` is held
for as long as the session runs and released by the kernel when the process dies
(kill -9 included), so a stale lock can never block a restart. The holder writes
its pid into the file so the refusal can name it. The lock is taken before
anything else touches the folder: a refused start changes nothing in it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import AlreadyRunningError, JournalError

LOCK_FILE = ".lock"


class SessionLock:
    """An exclusive, non-blocking lock on a session folder; ``release()`` or process exit frees it."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, what: str) -> "SessionLock":
        """Lock ``folder`` (created if needed) or raise ``AlreadyRunningError`` naming the holder."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot create the session lock in {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise AlreadyRunningError(
                f"{what} is already running in {who} (lock {folder / LOCK_FILE}); stop it first - "
                "two sessions on one run would trade twice"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(folder, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
