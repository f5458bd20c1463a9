"""The drawdown latch: after a max-drawdown stop, trading stays off until a person clears it.

Why: the mission's rule is "no automatic restart after a max-drawdown stop". A
supervisor, a cron job or an impatient operator restarting the process must not put
the agent back on the market that just cost it its limit. The emergency protocol
writes ``produccion/HALTED``; every start checks for it and refuses with a message
that says what happened and how to clear it; clearing renames the file instead of
deleting it, so the evidence of every halt stays next to the journal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from .accounting import drawdown
from .errors import LatchedError
from .session import write_text_atomic

LATCH_FILE = "HALTED"


@dataclass(frozen=True)
class Latch:
    """What stopped trading: the reason, when (ISO UTC), and the equity against its peak."""

    reason: str
    time: str
    equity: float
    peak: float
    drawdown: float


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_latch(
    production_dir: Path, reason: str, equity: float | Decimal, peak: float | Decimal, now: datetime,
) -> Latch:
    """Latch the run (atomically): from now on ``check_not_latched`` refuses to start it."""
    production_dir = Path(production_dir)
    production_dir.mkdir(parents=True, exist_ok=True)
    equity_f, peak_f = float(equity), float(peak)
    latch = Latch(
        reason=" ".join(str(reason).splitlines()), time=_iso(now), equity=equity_f, peak=peak_f,
        drawdown=drawdown(equity_f, peak_f),
    )
    payload = {
        "reason": latch.reason, "time": latch.time, "equity": latch.equity,
        "peak": latch.peak, "drawdown": latch.drawdown,
    }
    write_text_atomic(production_dir / LATCH_FILE, json.dumps(payload, indent=2) + "\n")
    return latch


def read_latch(production_dir: Path) -> Latch | None:
    """The latch in force, or None. A HALTED file that cannot be read still latches (fail safe)."""
    path = Path(production_dir) / LATCH_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:  # a directory or an unreadable file named HALTED: still latched
        return Latch(reason=f"{LATCH_FILE} exists but cannot be read ({exc.strerror or exc})", time="unknown",
                     equity=float("nan"), peak=float("nan"), drawdown=float("nan"))
    try:
        data = json.loads(text)
        return Latch(
            reason=str(data["reason"]), time=str(data["time"]), equity=float(data["equity"]),
            peak=float(data["peak"]), drawdown=float(data["drawdown"]),
        )
    except (ValueError, KeyError, TypeError):
        return Latch(reason=f"{LATCH_FILE} exists but cannot be read", time="unknown",
                     equity=float("nan"), peak=float("nan"), drawdown=float("nan"))


def check_not_latched(production_dir: Path, train_id: str) -> None:
    """Raise ``LatchedError`` when the run is latched; return quietly otherwise."""
    latch = read_latch(production_dir)
    if latch is None:
        return
    figures = (
        f" (equity {latch.equity:.2f}, peak {latch.peak:.2f}, drawdown {latch.drawdown:.2%})"
        if math.isfinite(latch.equity) and math.isfinite(latch.peak) else ""
    )
    raise LatchedError(
        f"trading of {train_id} is halted since {latch.time}: {latch.reason}{figures}; "
        f"review the journal, then run 'sactui unlatch --train-id {train_id}'"
    )


def clear_latch(production_dir: Path, now: datetime | None = None) -> Latch | None:
    """Lift the latch by renaming HALTED to ``HALTED.cleared-<UTC stamp>``; the cleared latch, or None."""
    production_dir = Path(production_dir)
    path = production_dir / LATCH_FILE
    latch = read_latch(production_dir)
    if latch is None:
        return None
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    stamp = moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = production_dir / f"{LATCH_FILE}.cleared-{stamp}"
    n = 1
    while target.exists():  # never overwrite the evidence of an earlier halt
        n += 1
        target = production_dir / f"{LATCH_FILE}.cleared-{stamp}-{n}"
    path.rename(target)
    return latch
