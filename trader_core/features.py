"""The feature set: one definition of every indicator, computed at two speeds.

Each indicator declares its parameters once and carries

* a **batch** path over a whole DataFrame (the ``ta`` library for SMA, RSI, MACD and
  Bollinger Bands; numpy for the price/volume features) - used in training;
* an **incremental** path that updates in O(1) per closed candle - used live;
* its **warm-up** (candles before its first value, as ``ta`` masks them) and its
  **settle** length (candles after which the seed of an exponential average weighs
  less than ``SETTLE_TOLERANCE``, so a live session that starts from downloaded
  history sees the same values training saw); both are derived from the parameters;
* the **model transform** from raw values (price units) to scale-free model inputs,
  written once over numpy arrays and used by both paths.

The run's ``config_metadata.yaml`` stores ``FeatureSet.to_metadata()``; the live side
rebuilds the identical set with ``FeatureSet.from_metadata``. Nothing is typed twice.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
import ta

from .errors import DataError, RunError
from .frozen import quick_init
from .streaming import Ewm, RollingMean, RollingVariance

#: Seed influence below which an exponential average counts as settled.
SETTLE_TOLERANCE = 1e-9

Arrays = Sequence[np.ndarray]


def _maximum(a, b):
    """Elementwise max for arrays (batch) and plain floats (one live row) alike."""
    return np.maximum(a, b) if isinstance(a, np.ndarray) else max(a, b)


def _ewm_settle(alpha: float) -> int:
    """Updates after which a seed's weight ``(1-alpha)**n`` is below the tolerance."""
    return math.ceil(math.log(SETTLE_TOLERANCE) / math.log(1.0 - alpha))


def _fmt(value: float) -> str:
    return f"{value:g}"


#: Narrowest band width, as a fraction of price, that a band-relative feature divides by.
#: Below one basis point the band is degenerate (a flat market) and dividing by it would
#: turn rounding noise into large feature swings.
MIN_BAND_WIDTH = 1e-4


class Indicator(ABC):
    """One indicator: parameters, both computation paths and the model transform."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def raw_columns(self) -> tuple[str, ...]: ...

    @property
    @abstractmethod
    def model_columns(self) -> tuple[str, ...]: ...

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Candles needed before the first value exists."""

    @property
    def settle(self) -> int:
        """Candles after which the value no longer depends on where the series started."""
        return self.warmup

    @abstractmethod
    def batch(self, candles: pd.DataFrame) -> Arrays:
        """Raw values for every row (NaN before warm-up), in ``raw_columns`` order."""

    @abstractmethod
    def stream(self) -> "IndicatorStream":
        """A fresh O(1) updater producing the same raw values one candle at a time."""

    @abstractmethod
    def model(self, raw: Arrays, close: np.ndarray) -> Arrays:
        """Scale-free model inputs from raw values, in ``model_columns`` order."""

    def params(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


class IndicatorStream(ABC):
    @abstractmethod
    def update(self, o: float, h: float, l: float, c: float, v: float) -> tuple[float, ...]:
        """Raw values after this candle (NaN while not warm)."""


# --------------------------------------------------------------------------- price / volume


class _LaggedChange(Indicator):
    """Change of a per-candle value over ``period`` candles: ``x[t] - x[t - period]``.

    Subclasses say which value (``_value`` for one candle, ``_values`` for a frame) and
    name their column; both paths subtract the same logs, so they agree exactly.
    """

    period: int
    prefix: ClassVar[str]

    @staticmethod
    @abstractmethod
    def _value(o: float, h: float, l: float, c: float, v: float) -> float: ...

    @staticmethod
    @abstractmethod
    def _values(candles: pd.DataFrame) -> np.ndarray: ...

    @property
    def raw_columns(self):
        return (f"{self.prefix}_{self.period}",)

    @property
    def model_columns(self):
        return self.raw_columns

    @property
    def warmup(self):
        return self.period + 1

    def batch(self, candles):
        x = self._values(candles)
        out = np.full(x.shape, np.nan)
        out[self.period:] = x[self.period:] - x[: -self.period]
        return (out,)

    def stream(self):
        return _LaggedChangeStream(self)

    def model(self, raw, close):
        return (raw[0],)


class _LaggedChangeStream(IndicatorStream):
    def __init__(self, spec: _LaggedChange) -> None:
        self._value = spec._value
        self._size = spec.period + 1
        self._past: deque[float] = deque(maxlen=self._size)

    def update(self, o, h, l, c, v):
        past = self._past
        past.append(self._value(o, h, l, c, v))
        if len(past) < self._size:
            return (math.nan,)
        return (past[-1] - past[0],)


@dataclass(frozen=True)
class LogReturn(_LaggedChange):
    """Log return of the close over ``period`` candles."""

    kind: ClassVar[str] = "log_return"
    prefix: ClassVar[str] = "log_return"
    period: int = 1

    @staticmethod
    def _value(o, h, l, c, v):
        return math.log(c)

    @staticmethod
    def _values(candles):
        return np.log(candles["close"].to_numpy(dtype=np.float64))


@dataclass(frozen=True)
class VolumeChange(_LaggedChange):
    """Change of log(1 + volume) over ``period`` candles (defined for zero-volume rows)."""

    kind: ClassVar[str] = "volume_change"
    prefix: ClassVar[str] = "volume_change"
    period: int = 1

    @staticmethod
    def _value(o, h, l, c, v):
        return math.log1p(v)

    @staticmethod
    def _values(candles):
        return np.log1p(candles["volume"].to_numpy(dtype=np.float64))


@dataclass(frozen=True)
class CandleShape(Indicator):
    """High-low range and open-to-close body of the candle, relative to price."""

    kind: ClassVar[str] = "candle_shape"

    @property
    def raw_columns(self):
        return ("hl_range", "body")

    @property
    def model_columns(self):
        return self.raw_columns

    @property
    def warmup(self):
        return 1

    def batch(self, candles):
        o, h, l, c = (candles[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
        return ((h - l) / c, (c - o) / o)

    def stream(self):
        return _CandleShapeStream()

    def model(self, raw, close):
        return (raw[0], raw[1])


class _CandleShapeStream(IndicatorStream):
    def update(self, o, h, l, c, v):
        return ((h - l) / c, (c - o) / o)


# --------------------------------------------------------------------------- ta indicators


@dataclass(frozen=True)
class SMA(Indicator):
    """Simple moving average of the close; the model sees the close's distance to it."""

    kind: ClassVar[str] = "sma"
    window: int = 20

    @property
    def raw_columns(self):
        return (f"sma_{self.window}",)

    @property
    def model_columns(self):
        return (f"sma_{self.window}_distance",)

    @property
    def warmup(self):
        return self.window

    def batch(self, candles):
        sma = ta.trend.SMAIndicator(candles["close"], window=self.window).sma_indicator()
        return (sma.to_numpy(dtype=np.float64),)

    def stream(self):
        return _SMAStream(self.window)

    def model(self, raw, close):
        return (close / raw[0] - 1.0,)


class _SMAStream(IndicatorStream):
    def __init__(self, window: int) -> None:
        self._mean = RollingMean(window)

    def update(self, o, h, l, c, v):
        m = self._mean.update(c)
        return (math.nan if m is None else m,)


@dataclass(frozen=True)
class RSI(Indicator):
    """Wilder's RSI as ``ta`` computes it (EWM with alpha = 1/window, first diff seeded 0)."""

    kind: ClassVar[str] = "rsi"
    window: int = 14

    @property
    def raw_columns(self):
        return (f"rsi_{self.window}",)

    @property
    def model_columns(self):
        return (f"rsi_{self.window}_scaled",)

    @property
    def warmup(self):
        return self.window

    @property
    def settle(self):
        return self.window + _ewm_settle(1.0 / self.window)

    def batch(self, candles):
        rsi = ta.momentum.RSIIndicator(candles["close"], window=self.window).rsi()
        return (rsi.to_numpy(dtype=np.float64),)

    def stream(self):
        return _RSIStream(self.window)

    def model(self, raw, close):
        return (raw[0] / 100.0,)


class _RSIStream(IndicatorStream):
    def __init__(self, window: int) -> None:
        self._window = window
        self._up = Ewm.from_alpha(1.0 / window)
        self._down = Ewm.from_alpha(1.0 / window)
        self._prev = math.nan

    def update(self, o, h, l, c, v):
        diff = c - self._prev  # NaN on the first candle, which ta turns into 0 gains/losses
        self._prev = c
        up = diff if diff > 0 else 0.0
        down = -diff if diff < 0 else 0.0
        up_avg = self._up.update(up)
        down_avg = self._down.update(down)
        if self._up.count < self._window:
            return (math.nan,)
        if down_avg == 0:
            return (100.0,)
        return (100.0 - 100.0 / (1.0 + up_avg / down_avg),)


@dataclass(frozen=True)
class MACD(Indicator):
    """MACD line, signal and histogram (EMAs with ``adjust=False``, as in ``ta``)."""

    kind: ClassVar[str] = "macd"
    fast: int = 12
    slow: int = 26
    signal: int = 9

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(f"macd needs 0 < fast < slow, got fast={self.fast} slow={self.slow}")

    @property
    def _suffix(self) -> str:
        return f"{self.fast}_{self.slow}_{self.signal}"

    @property
    def raw_columns(self):
        s = self._suffix
        return (f"macd_{s}", f"macd_signal_{s}", f"macd_hist_{s}")

    @property
    def model_columns(self):
        return tuple(f"{name}_relative" for name in self.raw_columns)

    @property
    def warmup(self):
        return self.slow + self.signal - 1

    @property
    def settle(self):
        return self.warmup + _ewm_settle(2.0 / (self.slow + 1)) + _ewm_settle(2.0 / (self.signal + 1))

    def batch(self, candles):
        m = ta.trend.MACD(
            candles["close"], window_slow=self.slow, window_fast=self.fast, window_sign=self.signal
        )
        line = m.macd().to_numpy(dtype=np.float64)
        signal = m.macd_signal().to_numpy(dtype=np.float64)
        hist = m.macd_diff().to_numpy(dtype=np.float64)
        # ta leaves the line defined while the signal warms up; the set is valid only when all are.
        line = np.where(np.isnan(signal), np.nan, line)
        return (line, signal, hist)

    def stream(self):
        return _MACDStream(self)

    def model(self, raw, close):
        line, signal, hist = raw
        return (line / close, signal / close, hist / close)


class _MACDStream(IndicatorStream):
    def __init__(self, spec: MACD) -> None:
        self._spec = spec
        self._fast = Ewm.from_span(spec.fast)
        self._slow = Ewm.from_span(spec.slow)
        self._signal = Ewm.from_span(spec.signal)

    def update(self, o, h, l, c, v):
        fast = self._fast.update(c)
        slow = self._slow.update(c)
        if self._slow.count < self._spec.slow:
            return (math.nan, math.nan, math.nan)
        line = fast - slow
        signal = self._signal.update(line)
        if self._signal.count < self._spec.signal:
            return (math.nan, math.nan, math.nan)
        return (line, signal, line - signal)


@dataclass(frozen=True)
class BollingerBands(Indicator):
    """Bollinger Bands (SMA +/- ``deviations`` population standard deviations)."""

    kind: ClassVar[str] = "bollinger"
    window: int = 20
    deviations: float = 2

    @property
    def _suffix(self) -> str:
        return f"{self.window}_{_fmt(self.deviations)}"

    @property
    def raw_columns(self):
        s = self._suffix
        return (f"bb_upper_{s}", f"bb_middle_{s}", f"bb_lower_{s}")

    @property
    def model_columns(self):
        s = self._suffix
        return (f"bb_position_{s}", f"bb_width_{s}")

    @property
    def warmup(self):
        return self.window

    def batch(self, candles):
        bb = ta.volatility.BollingerBands(
            candles["close"], window=self.window, window_dev=self.deviations
        )
        return (
            bb.bollinger_hband().to_numpy(dtype=np.float64),
            bb.bollinger_mavg().to_numpy(dtype=np.float64),
            bb.bollinger_lband().to_numpy(dtype=np.float64),
        )

    def stream(self):
        return _BollingerStream(self)

    def model(self, raw, close):
        upper, middle, lower = raw
        width = upper - lower
        # Where the close sits in the band: -0.5 at the lower band, +0.5 at the upper one.
        position = (close - middle) / _maximum(width, MIN_BAND_WIDTH * close)
        return (position, width / middle)


class _BollingerStream(IndicatorStream):
    def __init__(self, spec: BollingerBands) -> None:
        self._dev = spec.deviations
        self._var = RollingVariance(spec.window)

    def update(self, o, h, l, c, v):
        stats = self._var.update(c)
        if stats is None:
            return (math.nan, math.nan, math.nan)
        mean, variance = stats
        std = math.sqrt(variance)
        return (mean + self._dev * std, mean, mean - self._dev * std)


INDICATORS: dict[str, type[Indicator]] = {
    cls.kind: cls for cls in (LogReturn, CandleShape, VolumeChange, SMA, RSI, MACD, BollingerBands)
}


# --------------------------------------------------------------------------- the set


@dataclass(frozen=True)
class FeatureSet:
    """An ordered set of indicators: the model's market inputs, column by column."""

    indicators: tuple[Indicator, ...]

    @classmethod
    def default(cls) -> "FeatureSet":
        return cls(
            (
                LogReturn(1),
                CandleShape(),
                VolumeChange(1),
                SMA(20),
                RSI(14),
                MACD(12, 26, 9),
                BollingerBands(20, 2),
            )
        )

    # -- metadata round trip
    def to_metadata(self) -> list[dict[str, Any]]:
        return [{"kind": ind.kind, **ind.params()} for ind in self.indicators]

    @classmethod
    def from_metadata(cls, entries: list[dict[str, Any]]) -> "FeatureSet":
        if not isinstance(entries, list) or not entries:
            raise RunError("config_metadata.yaml: 'features' must be a non-empty list")
        built = []
        for entry in entries:
            params = dict(entry)
            kind = params.pop("kind", None)
            if kind not in INDICATORS:
                raise RunError(
                    f"config_metadata.yaml: unknown feature kind {kind!r}; "
                    f"known: {', '.join(sorted(INDICATORS))}"
                )
            indicator_cls = INDICATORS[kind]
            allowed = {f.name for f in fields(indicator_cls)}
            unknown = set(params) - allowed
            if unknown:
                raise RunError(
                    f"config_metadata.yaml: feature {kind!r} has unknown parameter(s) "
                    f"{', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed)) or 'none'}"
                )
            try:
                built.append(indicator_cls(**params))
            except (TypeError, ValueError) as exc:
                raise RunError(f"config_metadata.yaml: feature {kind!r}: {exc}") from None
        return cls(tuple(built))

    # -- layout
    @property
    def raw_columns(self) -> tuple[str, ...]:
        return tuple(c for ind in self.indicators for c in ind.raw_columns)

    @property
    def model_columns(self) -> tuple[str, ...]:
        return tuple(c for ind in self.indicators for c in ind.model_columns)

    @property
    def warmup(self) -> int:
        """Candles before every indicator has a value (the first model row)."""
        return max(ind.warmup for ind in self.indicators)

    @property
    def settle(self) -> int:
        """History a live session downloads so its values match training's."""
        return max(ind.settle for ind in self.indicators)

    # -- batch path
    def batch_raw(self, candles: pd.DataFrame) -> pd.DataFrame:
        columns: dict[str, np.ndarray] = {}
        for ind in self.indicators:
            columns.update(zip(ind.raw_columns, ind.batch(candles)))
        return pd.DataFrame(columns, index=candles.index)

    def model_matrix(self, raw: pd.DataFrame | np.ndarray, close: np.ndarray) -> np.ndarray:
        """(rows, model features) float64 from raw values in ``raw_columns`` order."""
        values = raw.to_numpy(dtype=np.float64) if isinstance(raw, pd.DataFrame) else raw
        close = np.asarray(close, dtype=np.float64)
        out = np.empty((values.shape[0], len(self.model_columns)))
        col = j = 0
        for ind in self.indicators:
            width = len(ind.raw_columns)
            for column in ind.model(tuple(values[:, col + k] for k in range(width)), close):
                out[:, j] = column
                j += 1
            col += width
        return out

    def batch(self, candles: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Raw indicator frame and model matrix for every candle (NaN rows before warm-up)."""
        raw = self.batch_raw(candles)
        model = self.model_matrix(raw, candles["close"].to_numpy(dtype=np.float64))
        model[: self.warmup - 1] = np.nan
        return raw, model

    # -- incremental path
    def incremental(self) -> "IncrementalFeatures":
        return IncrementalFeatures(self)


@quick_init
@dataclass(frozen=True)
class FeatureRow:
    """The features of one closed candle, from the incremental path."""

    raw: tuple[float, ...]
    model: np.ndarray  # shape (model features,), float64


class IncrementalFeatures:
    """Feeds closed candles one at a time; O(1) work per candle per indicator."""

    def __init__(self, feature_set: FeatureSet) -> None:
        self.feature_set = feature_set
        self._streams = [ind.stream() for ind in feature_set.indicators]
        self._updates = tuple(stream.update for stream in self._streams)
        self._warmup = feature_set.warmup
        # (first raw column, past the last one, transform) per indicator, worked out once.
        self._transforms = []
        col = 0
        for ind in feature_set.indicators:
            width = len(ind.raw_columns)
            self._transforms.append((col, col + width, ind.model))
            col += width
        self.count = 0

    @property
    def warm(self) -> bool:
        return self.count >= self._warmup

    def update(self, o: float, h: float, l: float, c: float, v: float) -> FeatureRow | None:
        """Add one closed candle; the feature row once every indicator is warm, else None."""
        if not (
            math.isfinite(o) and math.isfinite(h) and math.isfinite(l) and math.isfinite(c)
            and math.isfinite(v) and c > 0 and o > 0 and v >= 0
        ):
            raise DataError(
                f"candle with invalid values (open={o}, high={h}, low={l}, close={c}, volume={v}): "
                "refusing to compute features from it"
            )
        raw: list[float] = []
        for update in self._updates:
            raw += update(o, h, l, c, v)
        self.count += 1
        if self.count < self._warmup:
            return None
        # The same model transforms as the batch path, evaluated on one row of floats
        # (identical IEEE arithmetic, without numpy's per-call overhead on 1-element arrays).
        model: list[float] = []
        for start, stop, transform in self._transforms:
            model += transform(raw[start:stop], c)
        return FeatureRow(tuple(raw), np.array(model, dtype=np.float64))
