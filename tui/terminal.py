"""Keep the console's way out open when its terminal goes away.

When the far end of the console's pty closes (``tmux kill-server``, a dropped SSH
connection, a closed terminal window) the kernel hangs the tty up: writes fail with
EIO, reads return end-of-file, and the session leader gets SIGHUP *and* SIGCONT.
Textual's ``LinuxDriver`` (checked against textual 8.2.8) survives neither:

* its SIGCONT handler re-enters application mode unconditionally - it is meant for
  the resume after a Ctrl+Z - so on the dead tty it starts a second output thread and
  a second input thread;
* its output thread (``WriterThread``) does not catch write errors: the first EIO
  kills it, its queue (30 writes) fills, and the next ``driver.write`` - made from the
  event loop - blocks for ever in ``Queue.put``. With the loop frozen no signal
  callback runs any more: the engine had stopped cleanly, but the process never exits
  and SIGTERM changes nothing (seen with gdb: the main thread parked in
  ``LinuxDriver.stop_application_mode -> WriterThread.write -> Queue.put``).

``GuardedLinuxDriver`` closes both holes where they open, and tells the app with a
``TerminalLost`` message so it stops the session as it does for SIGHUP:

* the output thread writes through ``TerminalOutput``: at the first failed write it
  stops writing (later output is dropped, so nothing can block), points the process's
  stdout / stderr descriptors that were that terminal at /dev/null (so the final report
  and the interpreter's last flush cannot fail either) and reports the loss, once;
* SIGCONT resumes application mode only after a suspend made by this driver (SIGTSTP);
  a SIGCONT that finds the terminal gone reports the loss instead.
"""

from __future__ import annotations

import os
import termios
import threading
from typing import Callable, TextIO

from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message


class TerminalLost(Message):
    """The console's terminal is gone: nobody can see the console or type into it."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


class TerminalOutput:
    """The file Textual's output thread writes to: the terminal, until a write fails.

    Any failure counts as losing the terminal. The output thread cannot report an
    error anywhere, and a dead output thread freezes the whole console; a console that
    cannot show its state should stop its session cleanly instead.
    """

    def __init__(self, stream: TextIO, on_lost: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self.lost: str | None = None  # why, once the terminal is gone

    def write(self, text: str) -> None:
        if self.lost is None:
            try:
                self._stream.write(text)
            except (OSError, ValueError) as exc:
                self.lose(f"writing to the terminal failed: {exc}")

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self.lose(f"writing to the terminal failed: {exc}")

    def fileno(self) -> int:
        return self._stream.fileno()

    def lose(self, why: str) -> None:
        """Stop writing, silence the dead descriptors, report once (any thread, or a signal handler)."""
        with self._lock:
            if self.lost is not None:
                return
            self.lost = why
        _silence_standard_descriptors(self._stream)
        self._on_lost(why)


def _silence_standard_descriptors(terminal: TextIO) -> None:
    """Point stdout and stderr at /dev/null where they are the lost terminal.

    A file or pipe they were redirected to is left alone. Without this the session
    report printed after the console closes, and the interpreter's flush of its
    streams at exit, would fail on the dead tty (Python then exits with 120)."""
    try:
        lost = os.fstat(terminal.fileno())
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            try:
                if os.path.samestat(os.fstat(fd), lost):
                    os.dup2(null, fd)
            except OSError:
                pass
    finally:
        os.close(null)


class GuardedLinuxDriver(LinuxDriver):
    """Textual's Linux driver, made safe against a terminal that disappears (see the module)."""

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.output = TerminalOutput(self._file, self._report_lost)
        self._file = self.output  # what the output thread writes to (``WriterThread(self._file)``)
        self._output_was_tty = os.isatty(self.output.fileno())
        self._resume_on_cont = False

    def _report_lost(self, why: str) -> None:
        try:
            self.send_message(TerminalLost(why))  # thread-safe: through the loop's wake-up pipe
        except RuntimeError:  # the event loop is already closed: nothing left to stop
            pass

    def terminal_gone(self) -> bool:
        """True when the terminal we draw on was a tty and no longer answers as one."""
        if self.output.lost is not None:
            return True
        if not self._output_was_tty:
            return False
        try:
            termios.tcgetattr(self.output.fileno())
        except (termios.error, OSError, ValueError):
            return True
        return False

    def _sigtstp_application(self, *args) -> None:
        self._resume_on_cont = self._auto_restart  # Textual suspends application mode only then
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args) -> None:
        if self.terminal_gone():
            self.output.lose("the terminal hung up")
        if self._resume_on_cont:
            # Back from our own suspend: restart application mode (on a lost terminal too,
            # so Textual has an output thread again - it only drops what it is given).
            self._resume_on_cont = False
            super()._sigcont_application(*args)
