"""The outcome of one soak: what ran, what happened, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import invariants as inv
from .attribution import FaultOutcome
from .schedule import ScheduledFault
from .settings import SoakOptions
from .trader import ResourceSample, TraderProcess


@dataclass
class SoakResult:
    options: SoakOptions
    schedule: tuple[ScheduledFault, ...]
    outcomes: list[FaultOutcome]
    processes: list[TraderProcess]
    verdict: inv.Verdict
    trends: list[inv.Trend]
    latched: list[inv.LatchedStretch]
    span: tuple[int, int]  # first and last candle open time
    steps: int
    wall_s: float
    aborted: str = ""
    figures: dict = field(default_factory=dict)
    samples: list[ResourceSample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.aborted and self.verdict.ok
