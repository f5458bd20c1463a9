"""The operator's audit trail: one CSV row per decision step, one per emergency.

Why: the journal is what a person reads after the fact to learn what the agent did
with real money, so it must survive the worst way a process can end. Every row is
flushed and fsynced before ``write_*`` returns (a kill -9 or a power cut loses
nothing already written), every row is exactly one line (cell text never contains a
newline), and a restarted session cuts off the one incomplete line an interrupted
write can leave and appends after the last complete row. The step columns are
``JOURNAL_COLUMNS`` - the training environment's info keys - so one analysis script
reads training rollouts, backtests and live sessions alike.

``SessionStats`` are the running totals the console shows and prints at the end; a
restarted session rebuilds them from the journal, so its peak equity (and with it
the drawdown guard) continues where the crashed process left off.
"""

from __future__ import annotations

import csv
import io
import numbers
import operator
import os
import shutil
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Sequence

from .accounting import drawdown
from .client_ids import TRIGGER_CODES
from .errors import JournalError
from .step_record import JOURNAL_COLUMNS, StepRecord

#: What may start the emergency protocol (``EmergencyRecord.trigger``).
EMERGENCY_TRIGGERS: tuple[str, ...] = tuple(TRIGGER_CODES)
#: Free space a journal folder must have before a session may trade in it.
MIN_FREE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EmergencyRecord:
    """One run of the emergency protocol: why, the account around it, what was closed."""

    time: str  # ISO UTC
    trigger: str  # one of EMERGENCY_TRIGGERS
    detail: str
    equity: float
    peak_equity: float
    drawdown: float
    position_before: str  # Decimal as text, signed
    position_after: str
    cancelled_orders: int
    close_orders: str  # client order ids joined by ";"
    flat: bool
    state_after: str
    mode: str
    seq: int = 0  # the session's emergency number (one emergency may write a second row when it ends)
    close_attempts: int = 0  # close-all rounds run (each: cancel, close, re-read)
    close_fills: int = 0  # close orders that executed something
    closed_qty: str = "0"  # signed quantity the close orders executed
    close_avg_price: str = ""
    fees: str = "0"  # fees of those fills, as the exchange charged them
    realized_pnl: str = "0"  # PnL those fills realised, as the exchange booked it

    def __post_init__(self) -> None:
        if self.trigger not in EMERGENCY_TRIGGERS:
            raise ValueError(f"emergency trigger must be one of {', '.join(EMERGENCY_TRIGGERS)}, got {self.trigger!r}")

    @staticmethod
    def join_ids(client_order_ids: Iterable[str]) -> str:
        """The ``close_orders`` cell for these client order ids."""
        return ";".join(client_order_ids)


EMERGENCY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(EmergencyRecord))


def _cell(value: object) -> str:
    """One CSV cell: floats by repr (round-trip exact), Decimals plain, text on one line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):  # float, numpy floats: never "np.float64(...)"
        return repr(float(value))
    text = str(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.splitlines())  # one row = one line, or a repair could split a row
    return text


def _text(value: str) -> str:
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


#: Exact-type fast paths for the cells of every row (the hot path of a backtest).
_FAST_CELL = {float: repr, str: _text, int: str, bool: lambda v: "true" if v else "false"}


def _fast_cell(value: object) -> str:
    formatter = _FAST_CELL.get(type(value))
    return formatter(value) if formatter is not None else _cell(value)


#: Cell types ``csv.writer`` already writes as ``_cell`` would: an exact float by repr (csv's own
#: conversion for floats), an int by str, a str as it is unless it holds a line break. Not bool
#: ("True"), Decimal (may be scientific), None or numpy scalars: those rows go through ``_cell``.
_PLAIN_CELL_TYPES = frozenset({float, int, str})


class _LineBuffer(list):
    """Where the csv writer puts a row's line, so it can be checked before it reaches the file."""

    write = list.append


def _cut_partial_line(path: Path) -> int:
    """Truncate ``path`` after its last newline; the number of bytes cut (0 if none)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "r+b") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Walk back in chunks to the last newline (a partial row is at most a few hundred bytes).
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 4096)
            fh.seek(start)
            chunk = fh.read(end - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


class _CsvAppender:
    """An append-only CSV file with a fixed header; each row durable before returning.

    The file is created with its first row, so a session that never journals anything (a
    refused start) leaves no empty file behind, and the emergencies file appears with the
    first emergency."""

    def __init__(self, path: Path, columns: Sequence[str], durable: bool) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.durable = durable
        self._fh = None
        self._closed = False
        self._values = operator.attrgetter(*self.columns)  # one C call for all cells of a row
        self._lines = _LineBuffer()
        self._writer = csv.writer(self._lines, lineterminator="\n")

    def _open(self) -> None:
        try:
            self._fh = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise JournalError(f"cannot open the journal file {self.path}: {exc.strerror or exc}") from None
        if self._fh.tell() == 0:
            self._write(self._line(self.columns))

    def _line(self, cells: Sequence[object]) -> str:
        """The CSV line of these cells, terminator included."""
        self._writer.writerow(cells)
        return self._lines.pop()

    def _row_line(self, record: object) -> str:
        """The record's line: its values handed to csv as they are when they are all plain (every
        step row: no Python call per cell, which was most of a backtest's journal time), else each
        cell through ``_cell``.
        A line break inside a text cell would make csv quote it over two lines: such a row is
        redone through ``_cell``, which keeps it on one."""
        values = self._values(record)
        if _PLAIN_CELL_TYPES.issuperset(map(type, values)):
            line = self._line(values)
            if line.count("\n") == 1 and "\r" not in line:
                return line
        return self._line([_fast_cell(value) for value in values])

    def _write(self, line: str) -> None:
        try:
            self._fh.write(line)
            if self.durable:  # a backtest's journal is written through the buffer, flushed at close
                self._fh.flush()
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise JournalError(f"cannot write the journal file {self.path}: {exc.strerror or exc}") from None

    @property
    def is_open(self) -> bool:
        return not self._closed

    def write(self, record: object) -> None:
        if self._closed:
            raise JournalError(f"journal file {self.path.name} is closed; cannot record another row")
        if self._fh is None:
            self._open()
        self._write(self._row_line(record))

    def close(self) -> None:
        self._closed = True
        if self._fh is not None and not self._fh.closed:
            try:
                self._fh.close()
            except OSError:  # the buffered rows of a backtest could not be flushed: said by the caller
                pass


def ensure_writable(folder: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Refuse to trade into a folder where the journal could not be written.

    Probes for real (create, write, fsync, delete a file) rather than trusting
    permission bits, which say nothing to root or about a full or read-only disk.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("sactui journal probe\n")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise JournalError(
            f"the journal folder {folder} is not writable ({exc.strerror or exc}); fix it before trading - "
            "nothing was sent"
        ) from None
    if free < min_free_bytes:
        raise JournalError(
            f"the journal folder {folder} has only {free // 1024} KiB free; free some space before trading "
            "- nothing was sent"
        )


def _check_header(path: Path, columns: Sequence[str]) -> None:
    """Refuse to append to a file whose header names other columns (another schema)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh), [])
    if tuple(header) != tuple(columns):
        raise JournalError(
            f"{path} has different columns than this version writes; "
            "move it aside (it stays evidence) and start a new session"
        )


def _utc_stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%d_%H%M%S")


class Journal:
    """The steps file and the emergencies file of one session."""

    def __init__(
        self, steps_path: Path, emergencies_path: Path, *, durable: bool = True, notes: Sequence[str] = (),
    ) -> None:
        self.steps_path = Path(steps_path)
        self.emergencies_path = Path(emergencies_path)
        #: What ``resume`` had to repair, in words for the operator's log.
        self.notes: tuple[str, ...] = tuple(notes)
        self._steps = _CsvAppender(self.steps_path, JOURNAL_COLUMNS, durable)
        try:
            self._emergencies = _CsvAppender(self.emergencies_path, EMERGENCY_COLUMNS, durable)
        except BaseException:
            self._steps.close()
            raise

    @classmethod
    def create(cls, production_dir: Path, started: datetime, *, durable: bool = True) -> Journal:
        """New ``registro_<stamp>.csv`` and ``emergencias_<stamp>.csv`` (stamp = ``started`` in UTC).

        An existing file is never overwritten: a second session started within the
        same second gets ``_2``, ``_3``... appended to the stamp.
        """
        production_dir = Path(production_dir)
        production_dir.mkdir(parents=True, exist_ok=True)
        stamp = _utc_stamp(started)
        suffix, n = "", 1
        while True:
            steps = production_dir / f"registro_{stamp}{suffix}.csv"
            emergencies = production_dir / f"emergencias_{stamp}{suffix}.csv"
            if not steps.exists() and not emergencies.exists():
                return cls(steps, emergencies, durable=durable)
            n += 1
            suffix = f"_{n}"

    @classmethod
    def resume(cls, steps_path: Path, emergencies_path: Path, *, durable: bool = True) -> Journal:
        """Reopen a session's files for appending, cutting an interrupted last line.

        Everything up to the last newline is kept untouched; what follows it can
        only be a row whose write was cut short, and it is removed (and named in
        ``notes``) so the next row starts on a line of its own.
        """
        notes: list[str] = []
        for path, columns in ((Path(steps_path), JOURNAL_COLUMNS), (Path(emergencies_path), EMERGENCY_COLUMNS)):
            if not path.exists():
                continue  # nothing was written to it yet: it appears with its first row
            cut = _cut_partial_line(path)
            if cut:
                notes.append(
                    f"{path.name}: removed an incomplete last line ({cut} bytes) left by an interrupted "
                    "write; every complete row was kept"
                )
            _check_header(path, columns)
        return cls(Path(steps_path), Path(emergencies_path), durable=durable, notes=notes)

    def write_step(self, record: StepRecord) -> None:
        """Append one step row (``JOURNAL_COLUMNS`` order) and make it durable."""
        self._steps.write(record)

    def write_emergency(self, record: EmergencyRecord) -> None:
        """Append one emergency row (``EMERGENCY_COLUMNS`` order) and make it durable."""
        self._emergencies.write(record)

    @property
    def is_open(self) -> bool:
        return self._steps.is_open

    @property
    def durable(self) -> bool:
        """Every row fsynced before ``write_*`` returns (all but backtests)."""
        return self._steps.durable

    def close(self) -> None:
        """Close both files; safe to call twice."""
        self._steps.close()
        self._emergencies.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_rows(path: Path) -> list[dict]:
    """The complete rows of a journal file ([] while the file does not exist: nothing written yet)."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # an interrupted write: not a row
    return list(csv.DictReader(io.StringIO(text, newline="")))


def read_steps(path: Path) -> list[dict]:
    """The complete step rows of a journal file, as dicts of strings (restart, analysis)."""
    return _read_rows(path)


def read_emergencies(path: Path) -> list[dict]:
    """The complete rows of an emergencies file, as dicts of strings."""
    return _read_rows(path)


def stats_lines(stats: dict) -> list[str]:
    """Session statistics (``SessionStats.as_dict`` / a snapshot's ``stats``), one fact per line."""
    start = stats.get("start_equity") or 0.0
    pnl = stats.get("pnl", 0.0)
    pct = f" ({pnl / start:+.2%})" if start > 0 else ""
    return [
        f"steps: {stats.get('steps', 0)}",
        f"trades: {stats.get('trades', 0)}",
        f"fees paid: {stats.get('fees', 0.0):.4f}",
        f"PnL: {pnl:+.2f}{pct} (equity {start:.2f} -> {stats.get('equity', 0.0):.2f})",
        f"realized PnL: {stats.get('realized_pnl', 0.0):+.2f}",
        f"max drawdown: {stats.get('max_drawdown', 0.0):.2%} (peak equity {stats.get('peak_equity', 0.0):.2f})",
        f"uptime: {_format_duration(stats.get('uptime_s', 0.0))}",
    ]


def _format_duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


@dataclass
class SessionStats:
    """Running session totals, updated once per journaled step.

    ``realized_pnl`` is the last row's cumulative figure; ``fees`` sums the fees of
    filled orders; drawdown is measured from the highest equity seen, starting at
    ``start_equity`` (or the first row's equity when the start is unknown).
    """

    start_equity: float | None
    steps: int = 0
    trades: int = 0
    fees: float = 0.0
    realized_pnl: float = 0.0
    equity: float = 0.0
    peak_equity: float = 0.0
    max_drawdown: float = 0.0
    last_candle_open_time: int | None = None
    started_monotonic: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.start_equity is not None:
            self.start_equity = float(self.start_equity)
            if self.steps == 0:
                self.equity = self.start_equity
                self.peak_equity = max(self.peak_equity, self.start_equity)

    def _apply(self, equity: float, filled: bool, fee: float, realized: float, candle_open_time: int) -> None:
        if self.start_equity is None:
            self.start_equity = equity
        self.steps += 1
        if filled:
            self.trades += 1
            self.fees += fee
        self.realized_pnl = realized
        self.equity = equity
        if equity > self.peak_equity:
            self.peak_equity = equity
        if self.peak_equity > 0:
            self.max_drawdown = max(self.max_drawdown, drawdown(equity, self.peak_equity))
        if self.last_candle_open_time is None or candle_open_time > self.last_candle_open_time:
            self.last_candle_open_time = candle_open_time

    def update(self, record: StepRecord) -> None:
        """Count one journaled step (a trade when its order executed anything)."""
        filled = record.order_qty not in ("0", "")
        self._apply(
            float(record.equity), filled, float(record.order_fee or 0) if filled else 0.0,
            float(record.realized_pnl), int(record.candle_open_time),
        )

    def _apply_emergency(self, equity: float, fills: int, fees: float) -> None:
        self.trades += fills
        self.fees += fees
        self.equity = equity
        if equity > self.peak_equity:
            self.peak_equity = equity
        if self.peak_equity > 0:
            self.max_drawdown = max(self.max_drawdown, drawdown(equity, self.peak_equity))

    def update_emergency(self, record: EmergencyRecord) -> None:
        """Count the close orders of an emergency, F9 or quit-and-flatten (fills and fees)."""
        self._apply_emergency(float(record.equity), int(record.close_fills), float(record.fees or 0))

    @classmethod
    def from_rows(
        cls, rows: Iterable[dict], start_equity: float | Decimal | None, started_monotonic: float | None = None,
        emergencies: Iterable[dict] = (),
    ) -> SessionStats:
        """The statistics a session had after these journal rows (``read_steps`` and
        ``read_emergencies`` output), replayed in time order."""
        stats = cls(
            start_equity=None if start_equity is None else float(start_equity),
            started_monotonic=time.monotonic() if started_monotonic is None else started_monotonic,
        )
        tagged = [(row["time"], 0, row) for row in rows] + [(row["time"], 1, row) for row in emergencies]
        for _time, kind, row in sorted(tagged, key=lambda item: (item[0], item[1])):
            if kind == 1:
                stats._apply_emergency(float(row["equity"]), int(row.get("close_fills") or 0),
                                       float(row.get("fees") or 0))
                continue
            filled = row["order_qty"] not in ("0", "")
            stats._apply(
                float(row["equity"]), filled, float(row["order_fee"] or 0) if filled else 0.0,
                float(row["realized_pnl"]), int(row["candle_open_time"]),
            )
        return stats

    @property
    def pnl(self) -> float:
        """Equity gained since the session started."""
        return 0.0 if self.start_equity is None else self.equity - self.start_equity

    def uptime_s(self, now_monotonic: float | None = None) -> float:
        now = time.monotonic() if now_monotonic is None else now_monotonic
        return max(0.0, now - self.started_monotonic)

    def summary_lines(self, now_monotonic: float | None = None) -> list[str]:
        """The end-of-session report, one fact per line."""
        return stats_lines(self.as_dict(now_monotonic))

    def as_dict(self, now_monotonic: float | None = None) -> dict:
        """The statistics as plain values (for snapshots and JSON)."""
        return {
            "start_equity": self.start_equity, "steps": self.steps, "trades": self.trades,
            "fees": self.fees, "realized_pnl": self.realized_pnl, "equity": self.equity,
            "peak_equity": self.peak_equity, "max_drawdown": self.max_drawdown, "pnl": self.pnl,
            "last_candle_open_time": self.last_candle_open_time,
            "uptime_s": self.uptime_s(now_monotonic),
        }
