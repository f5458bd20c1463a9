"""Performance of an equity curve, accumulated one point at a time.

A backtest over a year of 1m candles must not keep half a million equity values in
memory just to compute a Sharpe ratio at the end: ``RunningMetrics`` keeps the
peak, the deepest drawdown and Welford's mean/variance of log returns instead.
"""

from __future__ import annotations

import math

from .accounting import drawdown
from .time_utils import periods_per_year


class RunningMetrics:
    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.peak = 0.0
        self.max_drawdown = 0.0
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def update(self, equity: float) -> None:
        if self.last is not None and self.last > 0 and equity > 0:
            r = math.log(equity / self.last)
            self._n += 1
            delta = r - self._mean
            self._mean += delta / self._n
            self._m2 += delta * (r - self._mean)
        if self.first is None:
            self.first = equity
        self.last = equity
        self.peak = max(self.peak, equity)
        if self.peak > 0:
            self.max_drawdown = max(self.max_drawdown, drawdown(equity, self.peak))

    @property
    def total_return(self) -> float:
        return 0.0 if not self.first else self.last / self.first - 1.0

    def sharpe(self, interval: str) -> float:
        if self._n < 2:
            return 0.0
        std = math.sqrt(self._m2 / self._n)
        return self._mean / std * math.sqrt(periods_per_year(interval)) if std > 0 else 0.0
