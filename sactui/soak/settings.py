"""What one soak is asked to do (``SoakOptions``) and how it can stop short (``SoakAborted``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .schedule import Profile


class SoakAborted(Exception):
    """The harness lost lockstep with the trader (a candle never journaled, a start that never
    finished): the soak stops, and the report says where and why."""


@dataclass(frozen=True)
class SoakOptions:
    seed: int
    profile: Profile
    data: Path  # 1m candles (the span and the training data)
    workdir: Path  # runs/, logs/, config.toml, the report
    span_start: str = "2023-08-01"  # first candle of the span (UTC); after the training data
    train_start: str = "2023-07-18"
    train_end: str = "2023-07-25"
    max_drawdown: float = 0.08
    train_id: str = "soak"
    row_timeout_s: float = 60.0
    start_timeout_s: float = 120.0
    sample_every: int = 30  # candles between resource samples
    warmup_candles: int = 60  # of each process's life, before its resources are judged
    flat_tolerance: float = 0.05
    breach_max_shock: float = 0.9  # a breach waits for a position a crash of at most this can breach with
    breach_max_wait: int = 240  # candles a breach may wait for such a position
    say: Callable[[str], None] = print
