"""The trader under test: a real ``sactui --headless`` process, and what it costs the machine.

Why a real process: the soak must exercise what an operator runs - the command line, the
launcher, the lock, the journal's recovery after SIGKILL - not an engine inside the
harness. The harness owns the simulator (the exchange outlives the trader, as Binance
does); this module starts, kills and samples the trader. Its output goes to a log file
of its own, read afterwards for ERROR lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: What a started session prints once it reconciled with the exchange and is about to trade.
READY_MARK = ": ready"


@dataclass(frozen=True)
class ResourceSample:
    """One look at the trader: resident memory, open file descriptors, asyncio tasks."""

    candle: int  # span position when sampled
    process: int  # the trader process's number in the soak (1, 2, ...)
    rss_kib: int
    fds: int
    tasks: int | None  # from the heartbeat (None until its first beat)

    def as_dict(self) -> dict:
        return {"candle": self.candle, "process": self.process, "rss_kib": self.rss_kib, "fds": self.fds,
                "tasks": self.tasks}


@dataclass
class TraderProcess:
    """One run of the trader, from its start to its exit."""

    number: int
    proc: subprocess.Popen
    log_path: Path
    start_candle: int
    started_wall: float
    end_candle: int | None = None
    exit_code: int | None = None
    end_cause: str = ""  # kill_random, kill_held_order, drawdown_breach, stopped, unexpected
    ready_wall: float | None = None
    #: (candle, byte offset of the log) at each close: which candle a log line belongs to
    log_marks: list[tuple[int, int]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def is_ready(self) -> bool:
        return READY_MARK in self.log_text()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed that was not already."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)

    def terminate(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def as_dict(self) -> dict:
        return {"number": self.number, "pid": self.pid, "start_candle": self.start_candle,
                "end_candle": self.end_candle, "exit_code": self.exit_code, "end_cause": self.end_cause,
                "startup_s": None if self.ready_wall is None else round(self.ready_wall - self.started_wall, 2),
                "log": self.log_path.name}


def start_trader(number: int, *, train_id: str, runs_dir: Path, endpoint: str, config: Path, env: dict[str, str],
                 log_dir: Path, start_candle: int) -> TraderProcess:
    """``sactui --train-id X --headless --endpoint URL`` (testnet mode) with its own log file."""
    log_path = Path(log_dir) / f"trader-{number}.log"
    args = [sys.executable, "-m", "sactui", "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless",
            "--endpoint", endpoint, "--config", str(config)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return TraderProcess(number, proc, log_path, start_candle, time.monotonic())


async def sample(trader: TraderProcess, candle: int, journal_folder: Path, timeout_s: float = 2.0,
                 ) -> ResourceSample | None:
    """Memory and descriptors from ``/proc``, the task count from a heartbeat written after this call.

    Called between candles, when the trader has journaled the last close and waits for the
    next: a beat written now counts its long-lived tasks, not the ones a step has in flight
    (an older beat may even predate the session's streams)."""
    asked = time.time()
    tasks = None
    deadline = time.monotonic() + timeout_s
    while tasks is None and time.monotonic() < deadline:
        try:
            beat = json.loads((Path(journal_folder) / "heartbeat.json").read_text())
        except (OSError, ValueError):
            beat = {}
        if beat.get("pid") == trader.pid and float(beat.get("time_s") or 0) >= asked \
                and isinstance(beat.get("tasks"), int):
            tasks = beat["tasks"]
        else:
            await asyncio.sleep(0.01)
    try:
        status = Path(f"/proc/{trader.pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{trader.pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return ResourceSample(candle, trader.number, rss, fds, tasks)
