"""``sactui watch``: a process of its own that still speaks when the trading process cannot.

Why: the worst stories are the silent ones - the bot died and nobody heard for hours
because the alert needed the dying process to send it. This loop reads only the
files a session writes atomically (``status.inspect_folder``) every
``[watch] poll_seconds`` and alerts through the same ``[alerts]`` URLs when a run's
condition changes for the worse:

- **crashed**: the heartbeat says running but its pid is gone (kill -9, an OOM kill),
  or the session ended with an error - at the next poll after the death;
- **stale**: the pid lives but the heartbeat is older than ``[watch] stale_seconds``
  (a hung process);
- **halted** / **latched** / **NOT FLAT**: the emergency protocol stopped the run, the
  drawdown latch is in force, or a position is still being closed.

A clean stop (``q``, SIGTERM, end of data) writes a last beat that says so and is
*not* a crash. Getting better (running again) is said at info level. Conditions that
are already bad when the watch starts are alerted once, at start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .dispatcher import LEVELS, Alert
from .status import RunStatus, StatusCode, inspect_folder

BAD = {"crashed": "emergency", "stale": "emergency", "halted": "error"}


@dataclass
class _Seen:
    condition: str
    latched: bool
    not_flat: bool
    pid: int | None


class Watchdog:
    def __init__(self, folders: list[tuple[str, Path]], *, stale_s: float, submit: Callable[[Alert], object],
                 say: Callable[[str], None] = print, min_level: str = "info",
                 now_s: Callable[[], float] = time.time) -> None:
        self.folders = list(folders)
        self.stale_s = stale_s
        self.submit = submit
        self.say = say
        self.min_rank = LEVELS.index(min_level)
        self.now_s = now_s
        self._seen: dict[str, _Seen] = {}

    def poll(self) -> list[RunStatus]:
        statuses = []
        for train_id, folder in self.folders:
            st = inspect_folder(train_id, folder, stale_s=self.stale_s, now_s=self.now_s(), read_journal=False)
            self._compare(st)
            statuses.append(st)
        return statuses

    def _alert(self, level: str, st: RunStatus, title: str, body: str) -> None:
        where = f"{st.mode or '?'} {st.train_id} ({Path(st.folder).name}/)"
        self.say(f"{level.upper():<9} {st.train_id} {Path(st.folder).name}: {title}: {body}")
        if LEVELS.index(level) >= self.min_rank:
            self.submit(Alert(level, f"watch:{st.folder}:{title}", f"sactui watch: {title}",
                              f"{body}\nrun: {where}\nlast step: {st.last_step_time or '-'}; equity "
                              f"{'-' if st.equity is None else f'{st.equity:,.2f}'}; position {st.position_qty or '-'}"))

    def _compare(self, st: RunStatus) -> None:
        before = self._seen.get(st.folder)
        self._seen[st.folder] = _Seen(st.condition, st.latched, st.not_flat, st.pid)
        first = before is None
        was = None if first else before.condition
        if st.condition != was or (st.condition == "running" and before is not None and before.pid != st.pid):
            if st.condition == "crashed":
                self._alert("emergency", st, "CRASHED", "; ".join(p for p in st.problems if "LATCHED" not in p)
                            or "the session did not end cleanly")
            elif st.condition == "stale":
                self._alert("emergency", st, "HEARTBEAT STALE", "; ".join(st.problems[:1]))
            elif st.condition == "halted":
                self._alert("error", st, "HALTED", st.end_reason or "the session ended HALTED")
            elif st.condition == "running":
                if was in ("crashed", "stale", "halted"):
                    self._alert("info", st, "running again", f"process {st.pid}, engine {st.engine_state}")
                else:
                    self.say(f"INFO      {st.train_id} {Path(st.folder).name}: running (process {st.pid}, "
                             f"engine {st.engine_state})")
            elif st.condition == "stopped":
                self.say(f"INFO      {st.train_id} {Path(st.folder).name}: stopped cleanly"
                         + (f" ({st.end_reason})" if st.end_reason else ""))
            elif first:
                self.say(f"INFO      {st.train_id} {Path(st.folder).name}: no session yet")
        if st.latched and (first or not before.latched):
            self._alert("emergency", st, "LATCHED", f"the drawdown latch refuses every start since "
                        f"{st.latch['time']}: {st.latch['reason']}")
        if st.not_flat and (first or not before.not_flat):
            self._alert("emergency", st, "NOT FLAT", "the emergency protocol is closing a position that is not "
                        "flat" if st.running else "the session ended with a position left open")

    @staticmethod
    def exit_code(statuses: list[RunStatus]) -> int:
        return int(max([StatusCode.OK, *(s.code for s in statuses)]))
