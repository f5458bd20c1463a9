"""The watchdog and ``sactui status`` against real ``sactui --sim`` processes: kill -9, a clean
stop, a latch - read from the files the session writes, by processes of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from datetime import datetime, timezone


from monitoring_support import SACTUI, Receiver, exit_code, run_status, wait_for, write_config
from trader_core.latch import write_latch

STALE_S = 3.0


def sim_session(runs_dir, train_id, data, log, config, speed=60):
    """A --sim session replaying slowly: it runs until stopped."""
    return subprocess.Popen([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless",
                             "--speed", str(speed), "--data", str(data), "--config", str(config), "--quiet"],
                            stdout=log, stderr=subprocess.STDOUT)


def watch(runs_dir, train_id, log, config):
    return subprocess.Popen([SACTUI, "watch", "--train-id", train_id, "--runs-dir", str(runs_dir),
                             "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)


async def ready(log_path, proc):
    await wait_for(lambda: ": ready" in log_path.read_text() or proc.poll() is not None, 90, "the session to be ready")
    assert proc.poll() is None, log_path.read_text()[-2000:]


def heartbeat(runs_dir, train_id):
    path = runs_dir / train_id / "simulacion" / "heartbeat.json"
    return json.loads(path.read_text()) if path.is_file() else {}


async def test_kill_9_is_alerted_by_the_watchdog_within_the_staleness_and_a_clean_stop_is_not(
        tiny_run_copy, candles_1h_path, tmp_path, procs):
    runs_dir, train_id = tiny_run_copy
    async with Receiver() as receiver:
        config = write_config(tmp_path / "config.toml", urls=[f"json://127.0.0.1:{receiver.port}/watch"],
                              alerts={"events": ["emergency"]},  # the session itself says nothing of stops here
                              watch={"heartbeat_seconds": 0.5, "stale_seconds": STALE_S, "poll_seconds": 0.2})
        watch_log = tmp_path / "watch.log"
        with open(watch_log, "w") as wlog:
            watcher = watch(runs_dir, train_id, wlog, config)
            procs.append(watcher)
            await wait_for(lambda: "no session yet" in watch_log.read_text(), 60, "the watch to look")
            # 1. a clean stop (SIGTERM: the same engine.stop() as the console's q) is not a crash
            log_path = tmp_path / "clean.log"
            with open(log_path, "w") as log:
                clean = sim_session(runs_dir, train_id, candles_1h_path, log, config)
                procs.append(clean)
                await ready(log_path, clean)
            await wait_for(lambda: "running (process" in watch_log.read_text(), 30, "the watch to see it run")
            clean.send_signal(signal.SIGTERM)
            assert await exit_code(clean) == 0
            assert heartbeat(runs_dir, train_id)["status"] == "stopped"
            await wait_for(lambda: "stopped cleanly" in watch_log.read_text(), 30, "the watch to see the clean stop")
            await asyncio.sleep(STALE_S + 1.0)  # past the staleness: a crash would have been said by now
            assert receiver.received == [], receiver.titles()
            # 2. kill -9: the watchdog speaks for the dead process
            log_path = tmp_path / "killed.log"
            with open(log_path, "w") as log:
                victim = sim_session(runs_dir, train_id, candles_1h_path, log, config)
                procs.append(victim)
                await ready(log_path, victim)
            await wait_for(lambda: heartbeat(runs_dir, train_id).get("pid") == victim.pid, 30, "its heartbeat")
            await wait_for(lambda: watch_log.read_text().count("running (process") >= 2, 30, "the watch to see it")
            killed_at = asyncio.get_running_loop().time()
            os.kill(victim.pid, signal.SIGKILL)
            alert = await receiver.wait_for(lambda j: j["title"] == "sactui watch: CRASHED", STALE_S,
                                            "of the crash")
            assert alert["at"] - killed_at <= STALE_S
            assert f"process {victim.pid} is gone without a clean stop" in alert["json"]["message"]
            assert alert["json"]["type"] == "failure"
            await exit_code(victim, 10)
            watcher.send_signal(signal.SIGTERM)
            assert await exit_code(watcher) == 0
    assert [t for t in receiver.titles()] == ["sactui watch: CRASHED"]
    assert "CRASHED" in watch_log.read_text()


async def test_status_json_for_a_running_a_stopped_a_latched_and_a_crashed_run(
        tiny_run_copy, candles_1h_path, tmp_path, procs):
    runs_dir, train_id = tiny_run_copy
    config = write_config(tmp_path / "config.toml",
                          watch={"heartbeat_seconds": 0.5, "stale_seconds": STALE_S, "poll_seconds": 0.2})
    code, doc = run_status(runs_dir, train_id, config)
    assert code == 0 and doc == {"exit_code": 0, "runs": []}  # never run: nothing to say, nothing wrong
    # running
    log_path = tmp_path / "s1.log"
    with open(log_path, "w") as log:
        proc = sim_session(runs_dir, train_id, candles_1h_path, log, config, speed=1800)  # a candle every 2 s
        procs.append(proc)
        await ready(log_path, proc)
    await wait_for(lambda: heartbeat(runs_dir, train_id).get("last_step_time"), 60, "a step in the heartbeat")
    code, doc = run_status(runs_dir, train_id, config)
    (run,) = doc["runs"]
    assert code == 0 and doc["exit_code"] == 0
    assert run["condition"] == "running" and run["running"] and run["pid"] == proc.pid and run["pid_alive"]
    assert run["mode"] == "sim" and run["engine_state"] == "RUNNING" and not run["latched"]
    assert run["heartbeat_age_s"] < STALE_S and run["equity"] > 0 and run["position_qty"] is not None
    assert run["journal"].endswith(".csv") and run["emergencies_journal"].endswith(".csv")
    assert run["last_step_time"] and run["last_row"]["order_status"] and run["today_pnl"] is not None
    # stopped cleanly
    proc.send_signal(signal.SIGTERM)
    assert await exit_code(proc) == 0
    code, doc = run_status(runs_dir, train_id, config)
    (run,) = doc["runs"]
    assert code == 0 and run["condition"] == "stopped" and not run["running"] and not run["pid_alive"]
    assert run["session_status"] == "stopped" and run["engine_state"] == "STOPPED"
    # latched (the drawdown latch of an earlier stop, as the emergency protocol writes it)
    write_latch(runs_dir / train_id / "simulacion", "max_drawdown: drawdown 15.10% reached the limit 15.00%",
                8490, 10000, datetime(2026, 11, 30, tzinfo=timezone.utc))
    code, doc = run_status(runs_dir, train_id, config)
    (run,) = doc["runs"]
    assert code == 11 and run["latched"] and run["latch"]["reason"].startswith("max_drawdown")
    assert any("sactui unlatch" in p for p in run["problems"])
    subprocess.run([SACTUI, "unlatch", "--train-id", train_id, "--runs-dir", str(runs_dir), "--yes", train_id],
                   check=True, capture_output=True, timeout=60)
    # crashed: kill -9
    log_path = tmp_path / "s2.log"
    with open(log_path, "w") as log:
        proc = sim_session(runs_dir, train_id, candles_1h_path, log, config)
        procs.append(proc)
        await ready(log_path, proc)
    await wait_for(lambda: heartbeat(runs_dir, train_id).get("pid") == proc.pid, 30, "its heartbeat")
    os.kill(proc.pid, signal.SIGKILL)
    await exit_code(proc, 10)
    code, doc = run_status(runs_dir, train_id, config)
    (run,) = doc["runs"]
    assert code == 13 and run["condition"] == "crashed" and not run["pid_alive"] and run["pid"] == proc.pid
    assert run["session_status"] == "running"  # as the dead process left it: the next start resumes
    assert any("gone without a clean stop" in p for p in run["problems"])
    # the plain text form says the same, with the same exit code
    text = subprocess.run([SACTUI, "status", "--train-id", train_id, "--runs-dir", str(runs_dir), "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert text.returncode == 13 and "CRASHED" in text.stdout and "needs the operator (exit 13: crashed)" in text.stdout
