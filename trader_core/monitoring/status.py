"""What a session folder says about its run - from files only: ``sactui status`` and ``sactui watch``.

Why files only: the answer must be the same whether the trading process is healthy,
hung, or dead (ARCHITECTURE rule 11). Four files, each written atomically by the
session: ``heartbeat.json`` (alive, state, figures), ``session.json`` (running /
stopped / halted), ``HALTED`` (the drawdown latch) and the journal (the last row,
today's PnL). The pid in the heartbeat is asked with signal 0; nothing is locked, so
a status check can never stand in the way of a session starting.

Conditions and exit codes (stable; the highest over all runs is the command's):

=========  ====  ==========================================================
condition  code  meaning
=========  ====  ==========================================================
running       0  the process is alive and its heartbeat is fresh
stopped       0  ended cleanly (q, SIGTERM, end of data)
never         0  no session has run in this folder
halted       10  ended HALTED by the emergency protocol (or HALTED while it runs)
latched      11  the drawdown latch refuses every start until 'sactui unlatch'
stale        12  the process is alive but its heartbeat is older than [watch] stale_seconds
crashed      13  the process is gone without a clean stop (kill -9, OOM, an error)
not flat     14  the emergency protocol is still closing a position that is not flat
=========  ====  ==========================================================
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StatusCode
from ..instance_lock import LOCK_FILE
from ..journal import read_steps
from ..latch import read_latch
from ..modes import LATCHING_FOLDERS
from ..session import HALTED as SESSION_HALTED
from ..session import RUNNING as SESSION_RUNNING
from ..session import SessionStore
from ..states import EngineState
from . import heartbeat


@dataclass
class RunStatus:
    train_id: str
    folder: str
    condition: str  # running, stale, crashed, stopped, halted, never
    code: int
    problems: list[str] = field(default_factory=list)
    mode: str | None = None
    running: bool = False
    pid: int | None = None
    pid_alive: bool = False
    heartbeat_age_s: float | None = None
    heartbeat_status: str | None = None
    engine_state: str | None = None
    session_status: str | None = None
    end_reason: str | None = None
    latched: bool = False
    latch: dict | None = None
    last_step_time: str | None = None
    last_row: dict | None = None
    position_qty: str | None = None
    entry_price: str | None = None
    equity: float | None = None
    drawdown: float | None = None
    today_pnl: float | None = None
    not_flat: bool = False
    journal: str | None = None
    emergencies_journal: str | None = None
    metrics_url: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lock_pid(folder: Path) -> int | None:
    try:
        text = (folder / LOCK_FILE).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def today_pnl(rows: list[dict], now_s: float) -> float | None:
    """Equity at the last row minus equity at the last row before today (UTC); the first row of today
    when the session began today."""
    if not rows:
        return None
    today = datetime.fromtimestamp(now_s, tz=timezone.utc).strftime("%Y-%m-%d")
    before = [r for r in rows if str(r.get("time", ""))[:10] < today]
    of_today = [r for r in rows if str(r.get("time", ""))[:10] == today]
    if not of_today:
        return 0.0
    base = before[-1] if before else of_today[0]
    last, start = _float(of_today[-1].get("equity")), _float(base.get("equity"))
    return None if last is None or start is None else last - start


def inspect_folder(train_id: str, folder: Path, *, stale_s: float, now_s: float | None = None,
                   read_journal: bool = True) -> RunStatus:
    """The status of the session folder ``folder`` (``simulacion/`` or ``produccion/``) of a run.

    ``read_journal=False`` (the watchdog, every few seconds) skips the journal: no last row, no today's PnL."""
    now = time.time() if now_s is None else now_s
    folder = Path(folder)
    beat = heartbeat.read_heartbeat(folder)
    record = SessionStore(folder).read()
    latch = read_latch(folder)
    st = RunStatus(train_id=train_id, folder=str(folder), condition="never", code=StatusCode.OK)
    if record is not None:
        st.session_status = record.get("status")
        st.end_reason = record.get("end_reason") or None
        st.mode = record.get("mode")
        if record.get("steps_file"):
            st.journal = str(folder / Path(str(record["steps_file"])).name)
        if record.get("emergencies_file"):
            st.emergencies_journal = str(folder / Path(str(record["emergencies_file"])).name)
    if latch is not None:
        st.latched = True
        st.latch = {"reason": latch.reason, "time": latch.time, "equity": latch.equity, "peak": latch.peak,
                    "drawdown": latch.drawdown}
    if beat is not None:
        st.pid = beat.get("pid") if isinstance(beat.get("pid"), int) else None
        st.pid_alive = heartbeat.pid_alive(st.pid)
        beat_time = _float(beat.get("time_s"))
        st.heartbeat_age_s = None if beat_time is None else round(max(0.0, now - beat_time), 3)
        st.heartbeat_status = beat.get("status")
        st.engine_state = beat.get("state")
        st.mode = beat.get("mode") or st.mode
        st.last_step_time = beat.get("last_step_time")
        st.position_qty = beat.get("position_qty")
        st.entry_price = beat.get("entry_price")
        st.equity = _float(beat.get("equity"))
        st.drawdown = _float(beat.get("drawdown"))
        st.not_flat = bool(beat.get("not_flat"))
        st.metrics_url = beat.get("metrics_url")
        st.journal = beat.get("journal") or st.journal
        st.emergencies_journal = beat.get("emergencies_journal") or st.emergencies_journal
        st.end_reason = beat.get("end_reason") or st.end_reason
    rows: list[dict] = []
    if read_journal and st.journal and Path(st.journal).is_file():
        try:
            rows = read_steps(Path(st.journal))
        except Exception:  # noqa: BLE001 - a journal being written may end in half a row; status still answers
            rows = []
    if rows:
        last = rows[-1]
        st.last_row = {k: last.get(k) for k in ("time", "candle_open_time", "close", "order_status", "position_qty",
                                                  "equity", "drawdown", "state")}
        st.last_step_time = st.last_step_time or last.get("time")
        if beat is None:
            st.position_qty = last.get("position_qty")
            st.entry_price = last.get("entry_price")
            st.equity = _float(last.get("equity"))
            st.drawdown = _float(last.get("drawdown"))
            st.engine_state = last.get("state")
        st.today_pnl = today_pnl(rows, now)
    _classify(st, beat, record, folder, stale_s)
    return st


def _classify(st: RunStatus, beat: dict | None, record: dict | None, folder: Path, stale_s: float) -> None:
    codes = [StatusCode.OK]
    if beat is not None and st.heartbeat_status == heartbeat.RUNNING:
        if not st.pid_alive:
            st.condition = "crashed"
            st.problems.append(f"process {st.pid} is gone without a clean stop (last heartbeat "
                               f"{st.heartbeat_age_s:.0f} s ago)" if st.heartbeat_age_s is not None
                               else f"process {st.pid} is gone without a clean stop")
            codes.append(StatusCode.CRASHED)
        elif st.heartbeat_age_s is None or st.heartbeat_age_s > stale_s:
            st.condition = "stale"
            st.running = True
            st.problems.append(f"process {st.pid} is alive but its heartbeat is {st.heartbeat_age_s} s old "
                               f"(stale after {stale_s:g} s): hung?")
            codes.append(StatusCode.STALE)
        else:
            st.condition = "running"
            st.running = True
            if st.engine_state == EngineState.HALTED:
                st.problems.append(f"HALTED while running: {st.end_reason or 'see the emergencies journal'}")
                codes.append(StatusCode.HALTED)
            if st.not_flat:
                st.problems.append("NOT FLAT: the emergency protocol keeps closing the position")
                codes.append(StatusCode.NOT_FLAT)
    elif beat is not None:
        ended = st.heartbeat_status
        if ended == heartbeat.HALTED or (record or {}).get("status") == SESSION_HALTED:
            st.condition = "halted"
            st.problems.append(f"the session ended HALTED: {st.end_reason or ''}".rstrip(": "))
            codes.append(StatusCode.HALTED)
        elif ended == heartbeat.FAILED:
            st.condition = "crashed"
            st.problems.append(f"the session ended with an error: {st.end_reason}")
            codes.append(StatusCode.CRASHED)
        else:
            st.condition = "stopped"
        if st.not_flat:
            st.problems.append("the session ended NOT FLAT: a position was left open")
            codes.append(StatusCode.NOT_FLAT)
    elif record is not None:  # a session without a heartbeat (written before monitoring existed, or starting)
        pid = _lock_pid(folder)
        if record.get("status") == SESSION_RUNNING:
            if heartbeat.pid_alive(pid):
                st.condition, st.running, st.pid, st.pid_alive = "running", True, pid, True
            else:
                st.condition = "crashed"
                st.problems.append("session.json says running but no process holds it: it did not end cleanly")
                codes.append(StatusCode.CRASHED)
        elif record.get("status") == SESSION_HALTED:
            st.condition = "halted"
            st.problems.append(f"the session ended HALTED: {st.end_reason or ''}".rstrip(": "))
            codes.append(StatusCode.HALTED)
        else:
            st.condition = "stopped"
    if st.latched:
        st.problems.append(f"LATCHED since {st.latch['time']}: {st.latch['reason']}; review, then "
                           f"'sactui unlatch --train-id {st.train_id}'")
        codes.append(StatusCode.LATCHED)
    st.code = int(max(codes))


def run_folders(runs_dir: Path, train_ids: list[str] | None) -> list[tuple[str, Path]]:
    """(train id, session folder) pairs to look at: the given runs' latching folders that exist,
    or every run that has one."""
    runs_dir = Path(runs_dir)
    ids = train_ids if train_ids else sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) \
        if runs_dir.is_dir() else []
    pairs = []
    for train_id in ids:
        for name in LATCHING_FOLDERS:
            folder = runs_dir / train_id / name
            if folder.is_dir():
                pairs.append((train_id, folder))
    return pairs
