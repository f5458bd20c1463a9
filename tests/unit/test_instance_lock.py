"""One process per run and mode: the session folder's OS lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from trader_core.errors import AlreadyRunningError, ExitCode
from trader_core.instance_lock import LOCK_FILE, SessionLock


def test_a_second_holder_is_refused_naming_the_first_and_a_release_frees_it(tmp_path):
    first = SessionLock.acquire(tmp_path / "simulacion", "a sim session of tiny")
    with pytest.raises(AlreadyRunningError) as err:
        SessionLock.acquire(tmp_path / "simulacion", "a sim session of tiny")
    assert err.value.exit_code == ExitCode.ALREADY_RUNNING == 8
    assert f"process {os.getpid()}" in str(err.value)
    first.release()
    again = SessionLock.acquire(tmp_path / "simulacion", "a sim session of tiny")
    assert again.held
    again.release()


def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path):
    folder = tmp_path / "produccion"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from trader_core.instance_lock import SessionLock; "
        f"SessionLock.acquire({str(folder)!r}, 'x'); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunningError, match=f"process {holder.pid}"):
            SessionLock.acquire(folder, "x")
        holder.kill()
        holder.wait(10)
        deadline = time.monotonic() + 5
        while True:
            try:
                lock = SessionLock.acquire(folder, "x")
                break
            except AlreadyRunningError:
                assert time.monotonic() < deadline, "the lock outlived its killed holder"
                time.sleep(0.05)
        assert (folder / LOCK_FILE).read_text().strip() == str(os.getpid())
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
