"""O(1)-per-value running statistics for the live (incremental) indicator path.

Live trading sees one closed candle at a time; recomputing every indicator over a
window on each candle (what ``ta`` does over a DataFrame) wastes the decision
budget. These accumulators update in constant time and agree with pandas' rolling
and ``ewm(adjust=False)`` results to ~1e-12 relative:

* ``Ewm`` performs exactly pandas' update arithmetic, in the same order.
* ``RollingMean`` / ``RollingVariance`` keep running sums (Welford's update for the
  variance) and re-derive them exactly from the window once per ``window`` updates,
  so floating-point drift cannot accumulate over months of candles while the
  amortised cost stays O(1).
"""

from __future__ import annotations

import math
from collections import deque


class Ewm:
    """Exponentially weighted mean with ``adjust=False`` (the ``ta`` convention).

    Mirrors pandas' ``ewma`` loop: pandas turns span or alpha into a centre of mass
    and back (``alpha = 1 / (1 + com)``), the first value seeds the mean, later values
    use ``((1-a)*mean + a*x) / ((1-a) + a)``, and an equal value leaves the mean as is.
    Doing the same arithmetic makes the live values bit-identical to ``ta``'s.
    """

    __slots__ = ("_alpha", "_keep", "value", "count")

    def __init__(self, com: float) -> None:
        if not com >= 0:
            raise ValueError(f"centre of mass must be >= 0, got {com}")
        self._alpha = 1.0 / (1.0 + com)
        self._keep = 1.0 - self._alpha
        self.value = math.nan
        self.count = 0

    @classmethod
    def from_alpha(cls, alpha: float) -> "Ewm":
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        return cls((1.0 - alpha) / alpha)

    @classmethod
    def from_span(cls, span: float) -> "Ewm":
        if not span >= 1:
            raise ValueError(f"span must be >= 1, got {span}")
        return cls((span - 1.0) / 2.0)

    def update(self, x: float) -> float:
        self.count += 1
        if self.count == 1:
            self.value = x
        elif self.value != x:
            self.value = (self._keep * self.value + self._alpha * x) / (self._keep + self._alpha)
        return self.value


class RollingMean:
    """Mean of the last ``window`` values; ``None`` until the window is full.

    The window's bookkeeping (is it full, is a resync due) is inline rather than a helper
    object's methods: those calls cost as much as the arithmetic, once per candle."""

    __slots__ = ("size", "_values", "_sum", "_until_resync")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.size = window
        self._values: deque[float] = deque(maxlen=window)
        self._sum = 0.0
        self._until_resync = window

    def update(self, x: float) -> float | None:
        values, size = self._values, self.size
        dropped = values[0] if len(values) == size else 0.0
        values.append(x)
        self._until_resync -= 1
        if self._until_resync <= 0:  # once per window: re-derive the sum exactly
            self._until_resync = size
            self._sum = math.fsum(values)
        else:
            self._sum += x - dropped
        return self._sum / size if len(values) == size else None


class RollingVariance:
    """Population (ddof=0) mean and variance of the last ``window`` values.

    ``update`` returns ``(mean, variance)`` once the window is full, else ``None``.
    The window's bookkeeping is inline, as in ``RollingMean``.
    """

    __slots__ = ("size", "_values", "_mean", "_m2", "_until_resync")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.size = window
        self._values: deque[float] = deque(maxlen=window)
        self._mean = 0.0
        self._m2 = 0.0
        self._until_resync = window

    def update(self, x: float) -> tuple[float, float] | None:
        values, size = self._values, self.size
        if len(values) == size:
            old = values[0]
            values.append(x)
            old_mean = self._mean
            self._mean = old_mean + (x - old) / size
            self._m2 += (x - old) * (x - self._mean + old - old_mean)
        else:
            values.append(x)
            n = len(values)
            delta = x - self._mean
            self._mean += delta / n
            self._m2 += delta * (x - self._mean)
        self._until_resync -= 1
        if self._until_resync <= 0:  # once per window: re-derive both sums exactly
            self._until_resync = size
            self._resync()
        if len(values) < size:
            return None
        return self._mean, max(self._m2, 0.0) / size

    def _resync(self) -> None:
        values = self._values
        mean = math.fsum(values) / len(values)
        self._mean = mean
        self._m2 = math.fsum((v - mean) * (v - mean) for v in values)
