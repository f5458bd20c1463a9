"""Crash-safe session state: ``produccion/session.json`` says which session is running.

Why: when the process dies (kill -9, power cut, OOM) the next start must continue the
*same* session - the same tag inside client order ids, so an order already placed on
a candle is found instead of placed twice; the same journal files; the same peak
equity, so the drawdown guard does not silently reset - while a clean stop or a
change of mode starts a fresh one. session.json is only ever replaced atomically
(temp file, fsync, rename), so it is always either the old or the new version.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

from .journal import Journal, SessionStats, read_emergencies, read_steps
from .step_record import decimal_text

SESSION_FILE = "session.json"
#: One JSON line per session that ended (or was found crashed and not resumed): session.json only
#: ever names the latest session, and ``sactui sessions`` must say how every one of them ended.
HISTORY_FILE = "sessions.jsonl"
#: ``status`` in session.json: running (or crashed: the next start resumes it), stopped (a clean
#: end: q, Ctrl-C, SIGTERM, SIGHUP, end of data), halted (the emergency protocol ended it).
RUNNING, STOPPED, HALTED = "running", "stopped", "halted"


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old or the new file, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; not possible on every platform)
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def append_history(folder: Path, record: dict) -> None:
    """Append one session's final record to ``sessions.jsonl`` (one line, fsynced; a cut last
    line is skipped by readers). A failure here never stops a session from ending."""
    try:
        with open(Path(folder) / HISTORY_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_session_tag() -> str:
    """8 hex characters: short enough for client order ids, random enough not to repeat."""
    return secrets.token_hex(4)


@dataclass
class SessionState:
    """The session this process runs: its tag, journal, statistics and where it left off."""

    tag: str
    resumed: bool
    journal: Journal
    stats: SessionStats
    last_candle_open_time: int | None
    mode: str
    started_at: str
    start_equity: Decimal | None
    notes: tuple[str, ...] = field(default=())  # what happened at begin, for the operator's log
    #: The position the session found (and adopted) at its start: what a journal without
    #: rows expects after a crash. Recorded in session.json by ``record_start_position``.
    start_position: Decimal = Decimal(0)
    store: "SessionStore | None" = field(default=None, repr=False, compare=False)

    def record_start_position(self, quantity: Decimal) -> None:
        """Remember the position adopted at start (atomically, in session.json)."""
        self.start_position = quantity
        if self.store is not None:
            self.store.update(start_position=decimal_text(quantity))


class SessionStore:
    """Begins, resumes and ends the sessions of one run's ``produccion/`` directory."""

    def __init__(self, production_dir: Path, new_tag: Callable[[], str] = new_session_tag) -> None:
        self.production_dir = Path(production_dir)
        self.path = self.production_dir / SESSION_FILE
        self._new_tag = new_tag

    def read(self) -> dict | None:
        """The recorded session, or None when there is none (or it cannot be read)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, data: dict) -> None:
        write_text_atomic(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def begin(
        self, mode: str, start_equity: Decimal | None, now: datetime, *, durable: bool = True,
        resumable: bool = True,
    ) -> SessionState:
        """Resume the crashed session of this mode, or start a new one and mark it running.

        ``resumable=False`` (the offline ``--sim`` exchange, which restarts flat with the
        process) always starts a new session and says why.
        """
        self.production_dir.mkdir(parents=True, exist_ok=True)
        previous = self.read()
        notes: list[str] = []
        if self.path.exists() and previous is None:
            notes.append(f"{self.path.name} was unreadable; starting a new session")
        if previous is not None and previous.get("status") == RUNNING:
            if previous.get("mode") == mode and self._files_named(previous) and resumable:
                return self._resume(previous, start_equity, durable, notes)
            if not resumable:
                notes.append(
                    f"session {previous.get('session_tag')} had not ended cleanly, but the offline exchange "
                    "starts again flat with a fresh balance: a new session begins (the old journal is kept)"
                )
            else:
                notes.append(
                    f"session {previous.get('session_tag')} ({previous.get('mode')}) had not ended cleanly; "
                    f"starting a new {mode} session"
                )
        return self._start(mode, start_equity, now, durable, notes, previous)

    @staticmethod
    def _files_named(data: dict) -> bool:
        return all(isinstance(data.get(k), str) and data[k] for k in ("session_tag", "steps_file", "emergencies_file"))

    def _resume(self, data: dict, start_equity: Decimal | None, durable: bool, notes: list[str]) -> SessionState:
        # Bare names only: session.json never points outside its own directory.
        steps_path = self.production_dir / Path(data["steps_file"]).name
        emergencies_path = self.production_dir / Path(data["emergencies_file"]).name
        journal = Journal.resume(steps_path, emergencies_path, durable=durable)
        recorded = _decimal_or_none(data.get("start_equity"))
        if recorded is None and start_equity is not None:  # the crash came before equity was known
            recorded = start_equity
            data = {**data, "start_equity": str(start_equity)}
            self._write(data)
        rows = read_steps(steps_path)
        stats = SessionStats.from_rows(rows, recorded, emergencies=read_emergencies(emergencies_path))
        last = max((int(r["candle_open_time"]) for r in rows), default=None)
        notes.append(
            f"resumed session {data['session_tag']} after an unclean stop "
            f"({len(rows)} steps journaled)"
        )
        return SessionState(
            tag=data["session_tag"], resumed=True, journal=journal, stats=stats,
            last_candle_open_time=last, mode=data["mode"], started_at=str(data.get("started_at", "")),
            start_equity=recorded, notes=tuple(notes) + journal.notes,
            start_position=_decimal_or_none(data.get("start_position")) or Decimal(0), store=self,
        )

    def _start(
        self, mode: str, start_equity: Decimal | None, now: datetime, durable: bool, notes: list[str],
        previous: dict | None,
    ) -> SessionState:
        old_tag = previous.get("session_tag") if previous else None
        if (previous is not None and previous.get("status") == RUNNING and self._files_named(previous)
                and (self.production_dir / Path(previous["steps_file"]).name).exists()):
            append_history(self.production_dir, {**previous, "status": "crashed",
                                                 "end_reason": f"did not end cleanly; a new {mode} session began"})
        tag = self._new_tag()
        while tag == old_tag:  # ids of the new session must never match the last one's
            tag = self._new_tag()
        journal = Journal.create(self.production_dir, now, durable=durable)
        started_at = _iso(now)
        self._write({
            "session_tag": tag, "started_at": started_at, "mode": mode,
            "steps_file": journal.steps_path.name, "emergencies_file": journal.emergencies_path.name,
            "status": RUNNING, "start_equity": None if start_equity is None else str(start_equity),
        })
        stats = SessionStats(start_equity=None if start_equity is None else float(start_equity))
        return SessionState(
            tag=tag, resumed=False, journal=journal, stats=stats, last_candle_open_time=None,
            mode=mode, started_at=started_at, start_equity=start_equity, notes=tuple(notes), store=self,
        )

    def update(self, **values: str) -> None:
        """Add or change keys of the running session's record (atomically)."""
        data = self.read() or {}
        data.update(values)
        self._write(data)

    def end(self, state: SessionState, now: datetime | None = None, *, status: str = STOPPED,
            reason: str = "") -> None:
        """Mark the session ended (``stopped`` or ``halted``: the next start is a new session)
        and close its journal."""
        if status not in (STOPPED, HALTED):
            raise ValueError(f"a session ends stopped or halted, not {status!r}")
        state.journal.close()
        record = {
            "session_tag": state.tag, "started_at": state.started_at, "mode": state.mode,
            "steps_file": state.journal.steps_path.name,
            "emergencies_file": state.journal.emergencies_path.name,
            "status": status, "end_reason": " ".join(reason.splitlines()),
            "start_equity": None if state.start_equity is None else str(state.start_equity),
            "ended_at": _iso(now or datetime.now(timezone.utc)),
        }
        self._write(record)
        if state.journal.steps_path.exists():  # a start that journaled nothing leaves no trace beyond session.json
            append_history(self.production_dir, {**record, "resumed": state.resumed})


def _decimal_or_none(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
