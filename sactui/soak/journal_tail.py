"""Follow the step journals of a run folder as the trader writes them, reading only what is new.

Why: the harness closes the next candle only after the trader journaled the last one, so
it looks at the journal after every close - 2,880 times in a full soak. Re-reading whole
files each time would cost more than the trading itself; here every file is read from
where the last look stopped, and a line is taken only once it is complete (the trader's
row may be half-written at the moment we look: a kill -9 can even leave it so).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

STEPS_GLOB = "registro_*.csv"


@dataclass
class _Followed:
    offset: int = 0
    header: list[str] | None = None
    pending: bytes = b""


@dataclass
class JournalTail:
    """Every complete step row written so far in ``folder``, by candle open time."""

    folder: Path
    rows_by_candle: dict[int, list[dict]] = field(default_factory=dict)  # more than one: a duplicate
    files: dict[Path, _Followed] = field(default_factory=dict)
    rows_read: int = 0

    def poll(self) -> int:
        """Read what was appended since the last poll; the number of new rows."""
        new = 0
        for path in sorted(Path(self.folder).glob(STEPS_GLOB)):
            state = self.files.setdefault(path, _Followed())
            try:
                with open(path, "rb") as handle:
                    handle.seek(state.offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            if not chunk:
                continue
            state.offset += len(chunk)
            data = state.pending + chunk
            complete, newline, state.pending = data.rpartition(b"\n")
            if not newline:
                continue
            for line in complete.split(b"\n"):
                if not line:
                    continue
                cells = next(csv.reader(io.StringIO(line.decode("utf-8"))))
                if state.header is None:
                    state.header = cells
                    continue
                row = dict(zip(state.header, cells))
                row["_file"] = path.name
                self.rows_by_candle.setdefault(int(row["candle_open_time"]), []).append(row)
                new += 1
        self.rows_read += new
        return new

    def has(self, candle_open_time: int) -> bool:
        return candle_open_time in self.rows_by_candle

    def row(self, candle_open_time: int) -> dict | None:
        rows = self.rows_by_candle.get(candle_open_time)
        return rows[-1] if rows else None

    def missing(self, candle_open_times) -> list[int]:
        return [t for t in candle_open_times if t not in self.rows_by_candle]
