"""End to end in a real terminal: tmux runs ``sactui --sim``; keys, signals, a vanishing terminal.

The console script runs a really trained tiny run against the loopback simulator
replaying real 1h candles at 36000x (ten candles a second) in a 160x48 tmux pane.
The tests check what the operator - or the supervisor - would: the screen
(``capture-pane``), the CSVs and ``session.json`` under ``<run>/simulacion/``, the
process's exit status and how long it took.

tmux runs on a private socket (``-L``) so the tests never touch anyone's sessions,
and only the server they started is killed. Without tmux these tests FAIL and say
what to install: a console test that silently skips proves nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import CANDLES_1H, real_candle_file
from trader_core.journal import read_emergencies, read_steps

SACTUI = str(Path(sys.executable).parent / "sactui")
SUPERVISE = str(Path(__file__).with_name("supervise.py"))
STEP_ROW = re.compile(r"\d\d-\d\d \d\d:\d\d\s+[+-]\d\.\d{3}")  # a row of the actions table
EXIT_HANGUP = 129  # the console's documented exit code when its terminal went away


@pytest.fixture(autouse=True)
def tmux_installed():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed, and these tests run the console in a real terminal: "
                    "install it (apt-get install tmux; brew install tmux on macOS)", pytrace=False)


class Tmux:
    def __init__(self, name: str) -> None:
        self.socket, self.session = f"sactui-e2e-{name}-{os.getpid()}", "sactui"

    def argv(self, *args: str) -> list[str]:
        return ["tmux", "-L", self.socket, *args]

    def __call__(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=10)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr}")
        return result.stdout

    def new_session_argv(self, shell_command: str) -> list[str]:
        """A detached 160x48 session running ``shell_command`` with a clean terminal environment."""
        # COLUMNS/LINES would override the pane size (they can leak in as 80x24 from the environment)
        env = ["env", "-u", "COLUMNS", "-u", "LINES", f"PATH={os.environ.get('PATH', '')}", "TERM=xterm-256color"]
        return self.argv("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "160", "-y", "48",
                         *env, "sh", "-c", shell_command)

    def start(self, shell_command: str) -> None:
        subprocess.run(self.new_session_argv(shell_command), check=True, timeout=10)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)


def poll(predicate, timeout: float, what: str, interval: float = 0.05):
    """The predicate's first truthy value; an AssertionError naming ``what`` on timeout."""
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


def _text(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def console_command(runs_dir: Path, train_id: str) -> str:
    return " ".join(shlex.quote(part) for part in (
        SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--speed", "36000",
        "--data", str(real_candle_file(CANDLES_1H)),
    ))


def wait_for_journaled_steps(tmux: Tmux, journal_dir: Path, count: int = 3) -> Path:
    """The journal once it holds ``count`` steps; on a timeout the error shows the pane."""
    try:
        steps_path = poll(lambda: _one(journal_dir, "registro_*.csv"), 60, "the journal")
        poll(lambda: len(read_steps(steps_path)) >= count, 60, f"{count} journaled steps")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the pane shows:\n{tmux('capture-pane', '-p', '-t', tmux.session, check=False)}")
    return steps_path


def assert_stopped_cleanly(journal_dir: Path, steps_path: Path) -> None:
    """session.json closed as stopped, and the journal ends with a whole row."""
    session = json.loads((journal_dir / "session.json").read_text())
    assert session["status"] == "stopped", session  # ended cleanly: a restart starts a new session
    assert steps_path.read_bytes().endswith(b"\n")  # the step in progress finished its row
    rows = read_steps(steps_path)
    assert rows and all(r["mode"] == "sim" for r in rows)


def kill_leftovers(marker: str) -> None:
    """SIGKILL whatever still runs with ``marker`` (a test's unique runs dir) on its command line."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def test_sim_session_in_tmux_f9_flattens_and_q_quits(tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    journal_dir = runs_dir / train_id / "simulacion"
    exit_file = tmp_path / "exit-code"
    tmux = Tmux("keys")
    tmux.start(f"{console_command(runs_dir, train_id)}; echo $? > {shlex.quote(str(exit_file))}")
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
        code = poll(lambda: _text(exit_file), 5, "sactui to exit after q")
        assert code == "0", tmux.screen()
        assert time.monotonic() - started < 5
        assert_stopped_cleanly(journal_dir, steps_path)
    finally:
        tmux("kill-server", check=False)
        kill_leftovers(str(runs_dir))


def test_kill_server_stops_the_session_and_the_process_exits_within_5s(tiny_run_copy, tmp_path):
    """The terminal vanishes under a running console (issue 8): ``tmux kill-server``.

    The console is the pane's session leader (the shell ``exec``s it), so on the hang-up
    the kernel sends it SIGHUP *and* SIGCONT and its tty answers EIO. A supervisor waits
    for it (``supervise.py``); before the fix that wait never ended - the session was
    stopped, but the process hung in Textual's output queue and ignored SIGTERM."""
    runs_dir, train_id = tiny_run_copy
    journal_dir = runs_dir / train_id / "simulacion"
    pid_file, result_file = tmp_path / "pid", tmp_path / "supervisor.json"
    tmux = Tmux("hangup")
    shell = f"echo $$ > {shlex.quote(str(pid_file))}; exec {console_command(runs_dir, train_id)}"
    supervisor = subprocess.Popen([sys.executable, SUPERVISE, str(result_file), str(pid_file), "--",
                                   *tmux.new_session_argv(shell)])
    try:
        steps_path = wait_for_journaled_steps(tmux, journal_dir)
        pid = int(poll(lambda: _text(pid_file), 5, "the console's pid"))
        assert Path(f"/proc/{pid}").exists() and not result_file.exists()
        tmux("kill-server")
        outcome = json.loads(poll(lambda: _text(result_file), 5, "the console to exit after tmux kill-server"))
        assert outcome == {"pid": pid, "exit_code": EXIT_HANGUP}
        assert_stopped_cleanly(journal_dir, steps_path)
    finally:
        tmux("kill-server", check=False)
        kill_leftovers(str(runs_dir))
        supervisor.kill()
        supervisor.wait(5)


def test_a_dead_terminal_alone_stops_the_console(tiny_run_copy, tmp_path):
    """No signal at all: the console's parent shell ignores SIGHUP and lives on, so the
    kernel signals nobody else; the console only finds its terminal answering EIO.
    It must notice that by itself, stop cleanly and exit 129 within 5 s."""
    runs_dir, train_id = tiny_run_copy
    journal_dir = runs_dir / train_id / "simulacion"
    exit_file = tmp_path / "exit-code"
    tmux = Tmux("eio")
    tmux.start(f"trap '' HUP; {console_command(runs_dir, train_id)}; echo $? > {shlex.quote(str(exit_file))}")
    try:
        steps_path = wait_for_journaled_steps(tmux, journal_dir)
        tmux("kill-server")
        code = poll(lambda: _text(exit_file), 5, "the console to exit after its terminal died")
        assert code == str(EXIT_HANGUP)
        assert_stopped_cleanly(journal_dir, steps_path)
    finally:
        tmux("kill-server", check=False)
        kill_leftovers(str(runs_dir))


def start_with_pid(tmux: Tmux, runs_dir: Path, train_id: str, tmp_path: Path) -> tuple[Path, Path]:
    """The console ``exec``ed by a shell that wrote its pid; the pane stays after it exits.

    Returns (pid file, exit-code file)."""
    exit_file, pid_file = tmp_path / "exit-code", tmp_path / "pid"
    inner = f"echo $$ > {shlex.quote(str(pid_file))}; exec {console_command(runs_dir, train_id)}"
    tmux.start(f"sh -c {shlex.quote(inner)}; echo $? > {shlex.quote(str(exit_file))}; sleep 60")
    return pid_file, exit_file


def assert_terminal_given_back(tmux: Tmux) -> None:
    """The console left the alternate screen and printed its report on the shell's screen."""
    screen = tmux.screen()
    assert "session statistics:" in screen and re.search(r"steps: \d+\s+trades: \d+", screen), screen
    assert "Model actions" not in screen, screen


def test_sigterm_as_systemd_sends_it_stops_cleanly_and_gives_the_terminal_back(tiny_run_copy, tmp_path):
    """A service stop: systemd sends SIGTERM, then SIGCONT (in case the process was
    stopped). The console ends as cleanly as with q: exit 0 within 5 s, session stopped,
    the terminal given back with the session report printed on it."""
    runs_dir, train_id = tiny_run_copy
    journal_dir = runs_dir / train_id / "simulacion"
    tmux = Tmux("term")
    pid_file, exit_file = start_with_pid(tmux, runs_dir, train_id, tmp_path)
    try:
        steps_path = wait_for_journaled_steps(tmux, journal_dir)
        pid = int(poll(lambda: _text(pid_file), 5, "the console's pid"))
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
        code = poll(lambda: _text(exit_file), 5, "sactui to exit after SIGTERM + SIGCONT")
        assert code == "0"
        assert_stopped_cleanly(journal_dir, steps_path)
        assert_terminal_given_back(tmux)
    finally:
        tmux("kill-server", check=False)
        kill_leftovers(str(runs_dir))


def test_a_stray_sigcont_changes_nothing_keys_work_and_q_exits(tiny_run_copy, tmp_path):
    """A SIGCONT that resumes nothing (``kill -CONT``, a job-control ``bg``): the console
    still answers its keys (p four times, F9), and q still ends it - exit 0 within 5 s. F9 first
    leaves the account flat and the engine paused, so q never has a question to ask.

    Why it needs a test: Textual's own handler restarts application mode on any SIGCONT,
    starting a second input thread. A key then wakes both threads, one takes it, and the
    other blocks in ``os.read`` on the terminal for good - and, not being a daemon thread,
    keeps the interpreter from exiting (seen with gdb: session stopped and reported, the
    process parked in ``threading._shutdown``)."""
    runs_dir, train_id = tiny_run_copy
    journal_dir = runs_dir / train_id / "simulacion"
    tmux = Tmux("cont")
    pid_file, exit_file = start_with_pid(tmux, runs_dir, train_id, tmp_path)
    try:
        steps_path = wait_for_journaled_steps(tmux, journal_dir)
        poll(lambda: " RUNNING " in tmux.screen().splitlines()[0], 30, "RUNNING in the header")
        pid = int(poll(lambda: _text(pid_file), 5, "the console's pid"))
        threads_before = len(os.listdir(f"/proc/{pid}/task"))
        os.kill(pid, signal.SIGCONT)
        for state in ("PAUSED", "RUNNING") * 2:  # each key is one more chance for a second reader to get stuck
            tmux.keys("p")
            poll(lambda: f" {state} " in tmux.screen().splitlines()[0], 5, f"{state} after p")
        # Textual's restart would add its output and input threads again (+2) - the hang's
        # cause, and whether a key then strands a reader is a race; this count is not. The
        # journal's thread pool may legitimately add one.
        assert len(os.listdir(f"/proc/{pid}/task")) < threads_before + 2, "SIGCONT restarted application mode"
        tmux.keys("F9")
        poll(lambda: "FLAT:" in tmux.screen() and " PAUSED " in tmux.screen().splitlines()[0], 20,
             "the flatten report and PAUSED after F9")
        tmux.keys("q")
        code = poll(lambda: _text(exit_file), 5, "sactui to exit after q")
        assert code == "0"
        assert_stopped_cleanly(journal_dir, steps_path)
        assert_terminal_given_back(tmux)
    finally:
        tmux("kill-server", check=False)
        kill_leftovers(str(runs_dir))
