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


class _Window:
    """A fixed-length window of the most recent values, with a resync countdown."""

    __slots__ = ("size", "values", "_until_resync")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window must be >= 1, got {size}")
        self.size = size
        self.values: deque[float] = deque(maxlen=size)
        self._until_resync = size

    @property
    def full(self) -> bool:
        return len(self.values) == self.size

    def due_for_resync(self) -> bool:
        self._until_resync -= 1
        if self._until_resync <= 0:
            self._until_resync = self.size
            return True
        return False


class RollingMean:
    """Mean of the last ``window`` values; ``None`` until the window is full."""

    __slots__ = ("_w", "_sum")

    def __init__(self, window: int) -> None:
        self._w = _Window(window)
        self._sum = 0.0

    def update(self, x: float) -> float | None:
        w = self._w
        dropped = w.values[0] if w.full else 0.0
        w.values.append(x)
        if w.due_for_resync():
            self._sum = math.fsum(w.values)
        else:
            self._sum += x - dropped
        return self._sum / w.size if w.full else None


class RollingVariance:
    """Population (ddof=0) mean and variance of the last ``window`` values.

    ``update`` returns ``(mean, variance)`` once the window is full, else ``None``.
    """

    __slots__ = ("_w", "_mean", "_m2")

    def __init__(self, window: int) -> None:
        self._w = _Window(window)
        self._mean = 0.0
        self._m2 = 0.0

    def update(self, x: float) -> tuple[float, float] | None:
        w = self._w
        if w.full:
            old = w.values[0]
            w.values.append(x)
            old_mean = self._mean
            self._mean = old_mean + (x - old) / w.size
            self._m2 += (x - old) * (x - self._mean + old - old_mean)
        else:
            w.values.append(x)
            n = len(w.values)
            delta = x - self._mean
            self._mean += delta / n
            self._m2 += delta * (x - self._mean)
        if w.due_for_resync():
            self._resync()
        if not w.full:
            return None
        return self._mean, max(self._m2, 0.0) / w.size

    def _resync(self) -> None:
        values = self._w.values
        mean = math.fsum(values) / len(values)
        self._mean = mean
        self._m2 = math.fsum((v - mean) * (v - mean) for v in values)
