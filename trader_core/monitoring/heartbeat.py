"""``heartbeat.json``: the session says "alive, and this is how I am" every few seconds.

Why a file: the watchdog must still speak when the trading process cannot (kill -9, an
out-of-memory kill, a hung loop), so it reads files only (ARCHITECTURE rule 11). The
file is replaced atomically (temp file, rename; the last beat also fsynced),
written from a task of its own between candle closes - so a 1h candle still gives a
beat every ``[watch] heartbeat_seconds`` - and the file write runs in a thread, so
the fsync never holds the event loop. A clean end writes a last beat whose ``status``
is ``stopped`` (or ``halted``, ``failed``); a beat that says ``running`` and grows old,
or whose pid is gone, is what the watchdog calls stale or crashed.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from ..session import write_text_atomic

HEARTBEAT_FILE = "heartbeat.json"
VERSION = 1
#: ``status`` of a beat: the process runs; or its last beat, written as it ended.
RUNNING, STOPPED, HALTED, FAILED = "running", "stopped", "halted", "failed"


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def beat_from_snapshot(snap, *, status: str, pid: int, interval_s: float, session_tag: str, steps_path: str,
                       emergencies_path: str, metrics_url: str | None, now_s: float | None = None,
                       last_step_time: str | None = None, end_reason: str = "", tasks: int | None = None) -> dict:
    """The heartbeat's content: plain JSON values, nothing secret. ``tasks``: the asyncio tasks alive in
    the session's loop (a count that grows over hours is a leak; ``sactui soak`` samples it)."""
    now = time.time() if now_s is None else now_s
    account, position = snap.account, snap.position
    state = snap.state.value if hasattr(snap.state, "value") else str(snap.state)
    stats = snap.stats or {}
    last_candle = stats.get("last_candle_open_time")
    return {
        "version": VERSION, "time": _iso(now), "time_s": round(now, 3), "pid": pid, "status": status,
        "interval_seconds": interval_s, "state": state, "mode": snap.mode, "train_id": snap.train_id,
        "symbol": snap.symbol, "interval": snap.interval, "session_tag": session_tag,
        "last_candle_open_time": last_candle, "last_step_time": last_step_time,
        "steps": stats.get("steps"), "trades": stats.get("trades"),
        "equity": _num(account.equity) if account else None,
        "wallet": _num(account.wallet_balance) if account else None,
        "drawdown": _num(snap.drawdown), "max_drawdown_limit": _num(snap.max_drawdown),
        "session_max_drawdown": _num(stats.get("max_drawdown")), "pnl": _num(stats.get("pnl")),
        "position_qty": None if position is None else str(position.quantity),
        "entry_price": None if position is None else str(position.entry_price),
        "mark_price": None if position is None else str(position.mark_price),
        "not_flat": bool(snap.closing), "held_until_ms": snap.held_until_ms or 0,
        "halted_reason": snap.halted_reason, "feed_connected": bool(snap.connected),
        "market_age_s": _num(snap.market_age_s), "end_reason": end_reason,
        "journal": steps_path, "emergencies_journal": emergencies_path, "metrics_url": metrics_url,
        "tasks": tasks,
    }


def write_heartbeat(folder: Path, beat: dict, durable: bool = False) -> None:
    """Replace the heartbeat atomically (temp file + rename: a reader sees the old or the new beat).

    The periodic beats skip the fsync: an fsync every few seconds queued the journal's own
    per-row fsync behind it (``benchmarks/monitoring_overhead.py``), and after a power cut
    a lost beat only makes the watchdog's verdict "crashed", which it is. The last beat of
    a session (``durable=True``) is fsynced (``session.write_text_atomic``)."""
    text = json.dumps(beat, indent=1, sort_keys=True) + "\n"
    path = Path(folder) / HEARTBEAT_FILE
    if durable:
        write_text_atomic(path, text)
        return
    tmp = path.with_name(f".{HEARTBEAT_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_heartbeat(folder: Path) -> dict | None:
    """The last beat, or None (no file, or one that cannot be read: a reader never trusts half a file)."""
    try:
        data = json.loads((Path(folder) / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: object) -> bool:
    """Whether a process with this pid exists (signal 0: nothing is sent)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    if Path("/proc").is_dir():  # a zombie (killed, not yet reaped) is gone for our purposes
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                return False
        except (OSError, IndexError):
            pass
    return True
