"""A supervisor for the tmux tests: starts tmux, then waits for the console like a service manager.

Why a separate process: the console runs under the tmux server, not under pytest, so
pytest cannot ``wait`` for it. This process makes itself a child subreaper
(``PR_SET_CHILD_SUBREAPER``, Linux): the tmux server it starts, which daemonizes, is
re-parented to it, and so is the console once that server is gone. It then ``waitpid``s
the console as any supervisor waits for its service - the very wait that hung for ever
before the console learnt to leave a dead terminal - and writes the real exit status.

    python supervise.py RESULT_JSON PID_FILE -- tmux ARGS...

``PID_FILE`` is written by the shell that ``exec``s the console inside tmux. ``RESULT_JSON``
gets ``{"pid": N, "exit_code": C}`` (``C`` negative: killed by signal ``-C``), or
``{"error": "..."}``. It is a helper run by ``test_tmux.py``, not a test.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    result, pid_file = Path(argv[0]), Path(argv[1])
    command = argv[argv.index("--") + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return _report(result, error=f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")
    started = subprocess.run(command, capture_output=True, text=True)
    if started.returncode != 0:
        return _report(result, error=f"{' '.join(command)}: {started.stderr.strip()}")
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        if time.monotonic() > deadline:
            return _report(result, error=f"no pid in {pid_file} after 30 s")
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    while True:  # reap whatever ends (the tmux server too) until the console does
        try:
            ended, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return _report(result, error=f"lost track of pid {pid}: it is not a descendant")
        if ended == pid:
            return _report(result, pid=pid, exit_code=os.waitstatus_to_exitcode(status))


def _report(path: Path, **fields) -> int:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(fields))
    partial.replace(path)  # the test never reads half a file
    return 1 if "error" in fields else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
