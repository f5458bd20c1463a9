"""How sessions start and end, through the real ``sactui`` process: one process per run and mode,
the drawdown latch in every mode, a journal that stops being writable, and the session
file each way of ending leaves behind."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path


from support import SIM_KEY, SIM_SECRET, audit_books, session_journal
from trader_core.latch import read_latch, write_latch

SACTUI = str(Path(sys.executable).parent / "sactui")


async def wait_for(predicate, timeout=60.0, what="condition"):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def exit_code(proc, timeout=30.0) -> int:
    await wait_for(lambda: proc.poll() is not None, timeout, f"process {proc.pid} to exit")
    return proc.returncode


def sim_session(runs_dir, train_id, data, log, *extra):
    """A --sim session replaying slowly (it runs until stopped)."""
    return subprocess.Popen(
        [SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless", "--speed", "60",
         "--data", str(data), *extra], stdout=log, stderr=subprocess.STDOUT)


async def test_a_second_process_on_the_same_run_is_refused_and_changes_nothing(
        tiny_run_copy, candles_1h_path, tmp_path, procs):
    runs_dir, train_id = tiny_run_copy
    folder = runs_dir / train_id / "simulacion"
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        first = sim_session(runs_dir, train_id, candles_1h_path, log)
        procs.append(first)
        await wait_for(lambda: ": ready" in log_path.read_text(), 90, "the first session to be ready")
    before = (folder / "session.json").read_bytes()
    journals = sorted(p.name for p in folder.iterdir())
    second = subprocess.run([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless",
                             "--data", str(candles_1h_path)], capture_output=True, text=True, timeout=120)
    assert second.returncode == 8, second.stderr
    line = second.stderr.strip()
    assert "\n" not in line and f"process {first.pid}" in line and "already running" in line
    assert (folder / "session.json").read_bytes() == before  # the refused start rewrote nothing
    assert sorted(p.name for p in folder.iterdir()) == journals
    assert first.poll() is None  # the running session is untouched
    # kill -9: the kernel releases the lock, so the next start is not refused; the offline
    # exchange restarts flat, so it begins a new session and says so.
    first.kill()
    await exit_code(first, 10)
    log_path = tmp_path / "third.log"
    with open(log_path, "w") as log:
        third = sim_session(runs_dir, train_id, candles_1h_path, log)
        procs.append(third)
        await wait_for(lambda: ": ready" in log_path.read_text(), 90, "the restarted session to be ready")
    third.send_signal(signal.SIGTERM)
    assert await exit_code(third) == 0
    output = log_path.read_text()
    assert "starts again flat with a fresh balance: a new session begins" in output
    assert json.loads((folder / "session.json").read_text())["status"] == "stopped"


def test_a_sim_latch_is_found_and_cleared_by_unlatch(tiny_run_copy, candles_1h_path):
    from datetime import datetime, timezone

    runs_dir, train_id = tiny_run_copy
    folder = runs_dir / train_id / "simulacion"
    write_latch(folder, "max_drawdown: drawdown 1.00% reached the limit 0.50%", 9900, 10000,
                datetime(2026, 11, 30, tzinfo=timezone.utc))
    refused = subprocess.run([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless",
                              "--data", str(candles_1h_path)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 6 and "sactui unlatch" in refused.stderr
    cleared = subprocess.run([SACTUI, "unlatch", "--train-id", train_id, "--runs-dir", str(runs_dir), "--yes", train_id],
                             capture_output=True, text=True, timeout=60)
    assert cleared.returncode == 0, cleared.stderr
    assert "latched in simulacion/" in cleared.stdout and read_latch(folder) is None
    started = subprocess.run([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless",
                              "--max-candles", "2", "--speed", "360000", "--data", str(candles_1h_path)],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr


def test_a_directory_named_halted_still_latches_with_one_line(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    (runs_dir / train_id / "produccion" / "HALTED").mkdir(parents=True)
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET)
    result = subprocess.run([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 6
    assert result.stderr.count("\n") == 1 and "HALTED exists but cannot be read" in result.stderr


def _limit_file_size(max_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


async def test_a_journal_that_cannot_be_written_stops_trading_and_runs_the_emergency(
        sim, tiny_run_copy, tmp_path):
    """The journal file stops growing (a per-file size limit: the disk is full for it). The next
    row fails: no more orders, the emergency protocol closes, the process ends HALTED with the
    failure in its output. session.json stays 'running', so the next start (disk fixed)
    resumes the session and journals from the exchange what the journal missed."""
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET)
    args = [SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless", "--endpoint", sim.rest_base]
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_limit_file_size(6000))
    output: list[str] = []

    async def drain():
        async for line in proc.stdout:
            output.append(line.decode())

    reader = asyncio.ensure_future(drain())
    try:
        await wait_for(lambda: any(": ready" in line for line in output), 90, "the session to be ready")
        await wait_for(lambda: len(sim.streams.market_connections) > 0, 30, "the market subscription")
        for _ in range(60):
            if proc.returncode is not None:
                break
            await sim.step()
            await wait_for(lambda: any("JOURNAL WRITE FAILED" in line for line in output) or
                           len(session_journal(production)[0]) > 0, 15, "a row")
            await asyncio.sleep(0.2)
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
        await reader
    text = "".join(output)
    assert code == 7, text[-3000:]
    assert "JOURNAL WRITE FAILED" in text and "EMERGENCY (journal_failure)" in text
    emergencies = session_journal(production)[1]
    assert [e["trigger"] for e in emergencies] == ["journal_failure"] and emergencies[0]["flat"] == "true"
    assert json.loads((production / "session.json").read_text())["status"] == "running"
    rows_before = session_journal(production)[0]
    # The disk is fixed: the next start resumes and journals what the journal missed.
    restart = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_for(lambda: len(session_journal(production)[0]) > len(rows_before), 90,
                       "the resumed session's recovery rows")
        await wait_for(lambda: len(sim.streams.market_connections) > 0, 30, "the market subscription")
        restart.send_signal(signal.SIGTERM)
        assert await exit_code(restart) == 0
    finally:
        if restart.poll() is None:
            restart.kill()
    rows, emergencies = session_journal(production)
    assert audit_books(sim, rows, emergencies) == []


async def test_a_headless_session_stops_cleanly_on_sighup(tiny_run_copy, candles_1h_path, tmp_path, procs):
    """A dropped SSH session sends SIGHUP: the step finishes, files close, session.json says stopped."""
    runs_dir, train_id = tiny_run_copy
    log_path = tmp_path / "hup.log"
    with open(log_path, "w") as log:
        proc = sim_session(runs_dir, train_id, candles_1h_path, log)
        procs.append(proc)
        await wait_for(lambda: ": ready" in log_path.read_text(), 90, "the session to be ready")
    proc.send_signal(signal.SIGHUP)
    assert await exit_code(proc) == 0
    status = json.loads((runs_dir / train_id / "simulacion" / "session.json").read_text())
    assert status["status"] == "stopped" and "session statistics:" in log_path.read_text()
