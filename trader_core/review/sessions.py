"""Every session of a run, across modes, from the files it left: the sessions index.

Why from files: a session that crashed, was killed or ran months ago has no process to
ask. Each mode's folder (``simulacion/``, ``produccion/``, ``backtest/``) holds one
``registro_<stamp>.csv`` per session (plus its ``emergencias_<stamp>.csv`` when there was an
emergency), ``session.json`` for the latest one and ``sessions.jsonl`` with the final
record of every session that ended. How a session ended comes from that record; for a
session older than the record (or one still running) it is read from the journal itself -
an emergency row that left the engine HALTED, ``SKIPPED:down`` / ``:recovered`` rows after
a crash - and said to be inferred.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, UnknownRunError
from ..journal import SessionStats, read_emergencies, read_steps
from ..modes import Mode
from ..session import HISTORY_FILE, SESSION_FILE
from ..states import EngineState

#: The folders sessions live in, and the mode each implies (``produccion/`` is testnet or live:
#: the rows say which).
FOLDERS: tuple[str, ...] = tuple(dict.fromkeys(mode.journal_folder for mode in Mode))
STEPS_PREFIX, EMERGENCIES_PREFIX = "registro_", "emergencias_"


@dataclass(frozen=True)
class SessionInfo:
    """One session: where its files are, what it did, how it ended."""

    session_id: str  # "<mode>-<stamp>", e.g. "sim-20261130_120659"
    mode: str
    folder: Path
    steps_path: Path
    emergencies_path: Path  # may not exist: it appears with the first emergency
    tag: str  # the client-order-id tag ("" when no record names it)
    started_at: str  # ISO UTC, wall time (the record's, else the first row's decision time)
    ended_at: str  # ISO UTC, wall time ("" while running)
    first_candle_ms: int | None  # open time of the first journaled candle
    last_candle_ms: int | None  # open time of the last journaled candle
    steps: int
    trades: int
    start_equity: float
    end_equity: float
    pnl: float
    fees: float
    funding: float
    realized_pnl: float
    max_drawdown: float
    status: str  # running / stopped / halted / crashed / unknown
    ending: str  # how it ended, in words
    emergencies: tuple[str, ...] = field(default=())  # triggers, in order (a second row of one seq counted once)
    resumed: bool = False  # crashed and resumed at least once
    inferred: bool = False  # no record of its end: ``ending`` is read from the journal

    @property
    def stamp(self) -> str:
        return self.steps_path.stem[len(STEPS_PREFIX):]

    @property
    def pnl_fraction(self) -> float:
        return self.pnl / self.start_equity if self.start_equity > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "session_id": self.session_id, "mode": self.mode, "tag": self.tag, "started_at": self.started_at,
            "ended_at": self.ended_at, "first_candle_open_ms": self.first_candle_ms,
            "last_candle_open_ms": self.last_candle_ms, "steps": self.steps, "trades": self.trades,
            "start_equity": self.start_equity, "end_equity": self.end_equity, "pnl": self.pnl, "fees": self.fees,
            "funding": self.funding, "realized_pnl": self.realized_pnl, "max_drawdown": self.max_drawdown,
            "status": self.status, "ending": self.ending, "emergencies": list(self.emergencies),
            "resumed": self.resumed, "inferred": self.inferred, "steps_file": str(self.steps_path),
            "emergencies_file": str(self.emergencies_path) if self.emergencies_path.exists() else None,
        }


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_history(folder: Path) -> dict[str, dict]:
    """The last record of each ended session in ``sessions.jsonl``, by steps file name."""
    records: dict[str, dict] = {}
    try:
        text = (Path(folder) / HISTORY_FILE).read_text(encoding="utf-8")
    except OSError:
        return records
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash mid-write
        if isinstance(record, dict) and isinstance(record.get("steps_file"), str):
            records[record["steps_file"]] = record
    return records


def start_equity_of(rows: list[dict]) -> float:
    """Equity before the first row's order: its equity plus the fee that order paid (the
    order itself moves PnL between unrealised and realised, not equity)."""
    first = rows[0]
    fee = float(first.get("order_fee") or 0) if first.get("order_qty") not in ("0", "", None) else 0.0
    return float(first["equity"]) + fee


def _emergency_triggers(emergencies: list[dict]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for row in emergencies:
        seen.setdefault(row.get("seq") or str(len(seen)), row.get("trigger", "?"))
    return tuple(seen.values())


def _ending(record: dict | None, rows: list[dict], emergencies: list[dict], live: dict | None) -> tuple[str, str, bool]:
    """(status, ending in words, inferred) for one session."""
    flattens = sum(1 for t in _emergency_triggers(emergencies) if t == "operator_flatten")
    down = sum(1 for r in rows if r["order_status"] == "SKIPPED:down")
    recovered = sum(1 for r in rows if r["order_status"].endswith(":recovered"))
    notes = []
    if flattens:
        notes.append(f"F9 flatten x{flattens}")
    if down or recovered or (record or {}).get("resumed"):
        what = [f"{down} candle(s) down"] if down else []
        what += [f"{recovered} order(s) recovered"] if recovered else []
        notes.append("crashed and resumed" + (f" ({', '.join(what)})" if what else ""))
    halting = [e for e in emergencies if e.get("state_after") == EngineState.HALTED and e.get("trigger") != "operator_flatten"]
    if live is not None:  # the latest session of its folder, and the folder's status says what it is now
        status = live["condition"]
        words = {"running": "running", "stale": "running, heartbeat stale",
                 "crashed": "crashed (the process is gone without a clean stop)"}.get(status)
        if words is not None:
            return status, "; ".join([words, *notes]), False
    if record is not None:
        status = str(record.get("status") or "unknown")
        reason = str(record.get("end_reason") or "")
        if status == "halted":
            trigger = halting[-1]["trigger"] if halting else reason.split(":", 1)[0]
            words = f"halted by the emergency protocol ({trigger}): {reason}" if reason else f"halted ({trigger})"
        elif status == "crashed":
            words = f"crashed: {reason}" if reason else "crashed"
        elif reason.startswith("failed to start"):
            words = reason
        else:
            words = "stopped" if reason in ("", "stopped") else f"stopped: {reason}"
        return status, "; ".join([words, *notes]), False
    if halting:
        last = halting[-1]
        words = f"halted by the emergency protocol ({last['trigger']}): {last.get('detail', '')}".rstrip(": ")
        return "halted", "; ".join([words, *notes]) + " (inferred from the journal)", True
    words = "ended; no record says whether it stopped cleanly or crashed"
    return "unknown", "; ".join([words, *notes]) + " (inferred from the journal)", True


def _mode_of(folder_name: str, rows: list[dict], record: dict | None) -> str:
    for source in (record or {}, rows[0] if rows else {}):
        mode = source.get("mode")
        if mode in {m.value for m in Mode}:
            return mode
    return {"simulacion": "sim", "backtest": "backtest"}.get(folder_name, "testnet")


def session_info(train_id: str, folder: Path, steps_path: Path, history: dict[str, dict],
                 current: dict | None, live: dict | None = None) -> SessionInfo | None:
    """The summary of the session whose journal is ``steps_path`` (None when it has no row)."""
    rows = read_steps(steps_path)
    if not rows:
        return None
    stamp = steps_path.stem[len(STEPS_PREFIX):]
    emergencies_path = steps_path.with_name(f"{EMERGENCIES_PREFIX}{stamp}.csv")
    emergencies = read_emergencies(emergencies_path)
    record = history.get(steps_path.name)
    is_current = current is not None and current.get("steps_file") == steps_path.name
    if is_current and current.get("status") in ("stopped", "halted"):
        record = current
    start_equity = start_equity_of(rows)
    stats = SessionStats.from_rows(rows, start_equity, emergencies=emergencies)
    status, ending, inferred = _ending(record, rows, emergencies, live if is_current else None)
    mode = _mode_of(folder.name, rows, record if record is not None else current if is_current else None)
    source = record if record is not None else current if is_current else {}
    running = status in ("running", "stale")
    return SessionInfo(
        session_id=f"{mode}-{stamp}", mode=mode, folder=folder, steps_path=steps_path,
        emergencies_path=emergencies_path, tag=str(source.get("session_tag") or ""),
        started_at=str(source.get("started_at") or rows[0]["time"]),
        ended_at="" if running else str(source.get("ended_at") or rows[-1]["time"]),
        first_candle_ms=int(rows[0]["candle_open_time"]), last_candle_ms=int(rows[-1]["candle_open_time"]),
        steps=stats.steps, trades=stats.trades, start_equity=start_equity, end_equity=stats.equity,
        pnl=stats.pnl, fees=stats.fees, funding=sum(float(r["funding"] or 0) for r in rows),
        realized_pnl=stats.realized_pnl, max_drawdown=stats.max_drawdown, status=status, ending=ending,
        emergencies=_emergency_triggers(emergencies), resumed="crashed and resumed" in ending, inferred=inferred,
    )


def _folder_condition(train_id: str, folder: Path, stale_s: float) -> dict | None:
    """Whether the folder's latest session runs now (from its heartbeat and lock), as
    ``sactui status`` judges it; None when nothing runs there."""
    from ..monitoring.status import inspect_folder

    status = inspect_folder(train_id, folder, stale_s=stale_s)
    return {"condition": status.condition} if status.condition in ("running", "stale", "crashed") else None


def list_sessions(runs_dir: Path, train_id: str, *, stale_s: float = 120.0) -> list[SessionInfo]:
    """Every session of the run, oldest first (by the stamp of its journal, then mode)."""
    run_path = Path(runs_dir) / train_id
    if not run_path.is_dir():
        raise UnknownRunError(f"unknown train id {train_id!r} in {runs_dir}/; see 'sactui runs'")
    sessions: list[SessionInfo] = []
    for name in FOLDERS:
        folder = run_path / name
        if not folder.is_dir():
            continue
        history = read_history(folder)
        current = _read_json(folder / SESSION_FILE)
        live = _folder_condition(train_id, folder, stale_s) if name != Mode.BACKTEST.journal_folder else None
        for steps_path in sorted(folder.glob(f"{STEPS_PREFIX}*.csv")):
            info = session_info(train_id, folder, steps_path, history, current, live)
            if info is not None:
                sessions.append(info)
    return sorted(sessions, key=lambda s: (s.stamp, s.mode))


def find_session(sessions: list[SessionInfo], wanted: str | None) -> SessionInfo:
    """The session named ``wanted``: its id, its stamp, a unique prefix of either, or ``last``
    (also when ``wanted`` is None). One-line errors name what exists."""
    if not sessions:
        raise ConfigError("this run has no session yet (no journal with a row in simulacion/, produccion/ "
                          "or backtest/)")
    if wanted in (None, "", "last", "latest"):
        return sessions[-1]
    exact = [s for s in sessions if wanted in (s.session_id, s.stamp, s.tag)]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [s for s in sessions if s.session_id.startswith(wanted) or s.stamp.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(s.session_id for s in (matches or sessions)[-6:])
    if matches:
        raise ConfigError(f"--session {wanted!r} matches {len(matches)} sessions ({shown}); give more of the id")
    raise ConfigError(f"no session {wanted!r} in this run; the latest are: {shown} (see 'sactui sessions')")
