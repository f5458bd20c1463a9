"""End to end in a real terminal: tmux runs ``sactui --sim``, a person's keys are sent.

The console script runs a really trained tiny run against the loopback simulator
replaying real 1h candles at 36000x (ten candles a second) in a 160x48 tmux
pane. The test waits until the actions table shows steps, presses F9, and checks
what the operator would check: the screen (``capture-pane``) and the CSVs under
``<run>/simulacion/`` - the account flat in the journal and an ``operator_flatten``
row in the emergencies file. Then ``q`` must end the process cleanly.

tmux runs on a private socket (``-L``) so the test never touches anyone's sessions,
and only the server it started is killed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import CANDLES_1H, real_candle_file
from trader_core.journal import read_emergencies, read_steps

SACTUI = str(Path(sys.executable).parent / "sactui")
STEP_ROW = re.compile(r"\d\d-\d\d \d\d:\d\d\s+[+-]\d\.\d{3}")  # a row of the actions table

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str, session: str) -> None:
        self.socket, self.session = socket, session

    def __call__(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr}")
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)


def poll(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _one(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    return found[-1] if found else None


def test_sim_session_in_tmux_f9_flattens_and_q_quits(tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    data = real_candle_file(CANDLES_1H)
    journal_dir = runs_dir / train_id / "simulacion"
    exit_file = tmp_path / "exit-code"
    command = " ".join(shlex.quote(part) for part in (
        SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--speed", "36000", "--data", str(data),
    )) + f"; echo $? > {shlex.quote(str(exit_file))}"
    tmux = Tmux(f"sactui-e2e-{os.getpid()}", "sactui")
    # COLUMNS/LINES would override the pane size (they can leak in as 80x24 from the environment)
    env_cmd = ["env", "-u", "COLUMNS", "-u", "LINES", f"PATH={os.environ.get('PATH', '')}", "TERM=xterm-256color",
               "sh", "-c", command]
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "160", "-y", "48", *env_cmd)
    try:
        tmux("set-option", "-t", tmux.session, "remain-on-exit", "on", check=False)
        # 1. the console is up and the model is acting: rows in the actions table
        poll(lambda: len(STEP_ROW.findall(tmux.screen())) >= 3, 60, "steps in the actions table")
        screen = tmux.screen()
        assert "SIM · offline" in screen and "BTCUSDT 1h" in screen and "RUNNING" in screen
        # 2. give the agent a moment to hold a position (the flatten is then a real close)
        steps_path = poll(lambda: _one(journal_dir, "registro_*.csv"), 10, "the journal")
        poll(lambda: any(r["position_qty"] != "0" for r in read_steps(steps_path)), 15, "an open position")
        # 3. F9: flatten all, at once
        tmux.keys("F9")
        def flattened_screen():
            screen = tmux.screen()
            return screen if "FLAT:" in screen and " PAUSED " in screen else None

        after = poll(flattened_screen, 20, "the flatten report and PAUSED on screen")
        emergencies_path = poll(lambda: _one(journal_dir, "emergencias_*.csv"), 10, "the emergencies file")
        rows = read_emergencies(emergencies_path)
        assert [r["trigger"] for r in rows] == ["operator_flatten"]
        assert rows[0]["flat"] == "true" and rows[0]["position_after"] == "0" and rows[0]["mode"] == "sim"
        # the engine keeps journaling while paused: the account stays flat, no order is sent
        poll(lambda: read_steps(steps_path)[-1]["state"] == "PAUSED", 10, "a paused step")
        last = read_steps(steps_path)[-1]
        assert last["position_qty"] == "0" and last["order_status"].startswith("SKIPPED")
        assert re.search(r"Side\s+FLAT", after)
        print("\n--- capture-pane after F9 ---\n" + after)
        # 4. q: flat, so no question; the process ends cleanly within seconds
        started = time.monotonic()
        tmux.keys("q")
        code = poll(lambda: exit_file.read_text().strip() if exit_file.exists() else None, 15, "sactui to exit")
        assert code == "0", tmux.screen()
        assert time.monotonic() - started < 10
    finally:
        tmux("kill-server", check=False)


def test_sigterm_stops_the_console_cleanly(tiny_run_copy, tmp_path):
    """A service stop or a dropped SSH session: the console ends as cleanly as with q."""
    import json
    import signal

    runs_dir, train_id = tiny_run_copy
    data = real_candle_file(CANDLES_1H)
    journal_dir = runs_dir / train_id / "simulacion"
    exit_file, pid_file = tmp_path / "exit-code", tmp_path / "pid"
    command = f"echo $$ > {shlex.quote(str(pid_file))}; exec " + " ".join(shlex.quote(part) for part in (
        SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--speed", "36000", "--data", str(data),
    ))
    wrapper = f"sh -c {shlex.quote(command)}; echo $? > {shlex.quote(str(exit_file))}"
    tmux = Tmux(f"sactui-e2e-term-{os.getpid()}", "sactui")
    env_cmd = ["env", "-u", "COLUMNS", "-u", "LINES", f"PATH={os.environ.get('PATH', '')}", "TERM=xterm-256color",
               "sh", "-c", wrapper]
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.session, "-x", "160", "-y", "48", *env_cmd)
    try:
        poll(lambda: len(STEP_ROW.findall(tmux.screen())) >= 3, 60, "steps in the actions table")
        pid = int(poll(lambda: pid_file.read_text().strip() if pid_file.exists() else None, 5, "the pid"))
        os.kill(pid, signal.SIGTERM)
        code = poll(lambda: exit_file.read_text().strip() if exit_file.exists() else None, 15, "sactui to exit")
        assert code == "0"
        session = json.loads((journal_dir / "session.json").read_text())
        assert session["status"] == "stopped"  # ended cleanly: a restart starts a new session
        rows = read_steps(_one(journal_dir, "registro_*.csv"))
        assert rows and all(r["mode"] == "sim" for r in rows)
    finally:
        tmux("kill-server", check=False)
