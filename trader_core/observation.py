"""The observation the model sees: one definition shared by training and live.

Layout (float32, flat): ``window_size`` rows of scaled model features, oldest first,
row-major, followed by the portfolio state ``PORTFOLIO_FIELDS``. Features are
standardised with the run's scaler (fitted on the training split only) and clipped
to ``+-clip`` so one freak candle cannot push the network far outside what it saw.

The training environment slices windows out of a pre-scaled matrix; live code keeps
a rolling ``ObservationWindow``. Both end in ``build_observation``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .accounting import drawdown as drawdown_from_peak
from .frozen import quick_init

PORTFOLIO_FIELDS = ("exposure", "unrealized_pnl_fraction", "drawdown")
DEFAULT_CLIP = 10.0


@quick_init
@dataclass(frozen=True)
class PortfolioState:
    """The account as the model sees it, scale-free.

    ``exposure`` is the signed position notional over (equity x max leverage), so it
    lives on the same [-1, 1] scale as the action that asked for it.
    """

    exposure: float
    unrealized_pnl_fraction: float
    drawdown: float

    @classmethod
    def from_account(
        cls, equity: float, position_notional: float, unrealized_pnl: float, peak_equity: float,
        max_leverage: float,
    ) -> "PortfolioState":
        if equity <= 0:
            return cls(0.0, -1.0, 1.0)
        return cls(
            exposure=position_notional / (equity * max_leverage),
            unrealized_pnl_fraction=unrealized_pnl / equity,
            drawdown=drawdown_from_peak(equity, peak_equity),
        )

    def as_tuple(self) -> tuple[float, float, float]:
        """The values in ``PORTFOLIO_FIELDS`` order."""
        return self.exposure, self.unrealized_pnl_fraction, self.drawdown

    def as_array(self) -> np.ndarray:
        return np.array(self.as_tuple(), dtype=np.float64)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardisation with a fitted scaler's mean and scale, plus clipping.

    A run stores these numbers as plain lists in its metadata (``to_metadata``), so
    loading a run never unpickles the scikit-learn ``StandardScaler`` that training
    also writes: a pickle can run code, a list of numbers cannot. The arithmetic is
    plain numpy so a single row costs microseconds.
    """

    mean: np.ndarray
    scale: np.ndarray
    clip: float = DEFAULT_CLIP

    def __post_init__(self) -> None:
        if self.mean.ndim != 1 or self.mean.shape != self.scale.shape or not len(self.mean):
            raise ValueError(
                f"mean and scale must be equally long, non-empty lists (got {self.mean.shape} and {self.scale.shape})"
            )
        if not np.isfinite(self.mean).all():
            raise ValueError("mean must hold finite numbers only")
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise ValueError("scale must hold finite numbers > 0 only")
        if isinstance(self.clip, bool) or not isinstance(self.clip, (int, float)) or not (
            np.isfinite(self.clip) and self.clip > 0
        ):
            raise ValueError(f"clip must be a finite number > 0, got {self.clip!r}")

    @classmethod
    def from_sklearn(cls, scaler, clip: float = DEFAULT_CLIP) -> "FeatureScaler":
        scale = np.asarray(scaler.scale_, dtype=np.float64)
        return cls(np.asarray(scaler.mean_, dtype=np.float64), scale, float(clip))

    @classmethod
    def from_metadata(cls, info: dict) -> "FeatureScaler":
        """From a run's ``scaler`` block: ``mean`` and ``scale`` lists and ``clip``; ValueError if unusable."""
        columns = []
        for key in ("mean", "scale"):
            values = info.get(key)
            if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
            ):
                raise ValueError(f"{key} must be a list of numbers")
            columns.append(np.array(values, dtype=np.float64))
        clip = info.get("clip", DEFAULT_CLIP)
        if isinstance(clip, bool) or not isinstance(clip, (int, float)):
            raise ValueError(f"clip must be a number, got {clip!r}")
        return cls(columns[0], columns[1], float(clip))

    def to_metadata(self) -> dict:
        """Plain floats (exact through YAML: Python writes the shortest repr that reads back equal)."""
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale], "clip": self.clip}

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, rows: np.ndarray) -> np.ndarray:
        scaled = (rows - self.mean) / self.scale
        np.minimum(scaled, self.clip, out=scaled)  # the same result as np.clip, without its
        np.maximum(scaled, -self.clip, out=scaled)  # per-call overhead on one live row
        return scaled


@dataclass(frozen=True)
class ObservationLayout:
    window_size: int
    n_features: int

    @property
    def size(self) -> int:
        return self.window_size * self.n_features + len(PORTFOLIO_FIELDS)


def build_observation(scaled_window: np.ndarray, portfolio: PortfolioState) -> np.ndarray:
    """Flatten a (window, features) block of scaled rows and append the portfolio state.

    Written into one float32 array (each value rounded to float32 exactly as ``astype``
    does): the same bytes as concatenating and converting, with two numpy calls instead
    of four - this runs once per candle in a backtest and once per step in training."""
    cells = scaled_window.size
    observation = np.empty(cells + len(PORTFOLIO_FIELDS), dtype=np.float32)
    observation[:cells] = scaled_window.reshape(cells)
    observation[cells:] = portfolio.as_tuple()
    return observation


class ObservationWindow:
    """The live side's rolling window of scaled feature rows (a preallocated block)."""

    def __init__(self, scaler: FeatureScaler, window_size: int) -> None:
        self._scaler = scaler
        self.window_size = window_size
        self._block = np.zeros((window_size, scaler.n_features))
        self._count = 0

    @property
    def ready(self) -> bool:
        return self._count >= self.window_size

    def push(self, model_row: np.ndarray) -> None:
        self._block[:-1] = self._block[1:]
        self._block[-1] = self._scaler.transform(model_row)
        self._count += 1

    def observation(self, portfolio: PortfolioState) -> np.ndarray:
        if not self.ready:
            raise RuntimeError(
                f"observation window has {self._count} of {self.window_size} rows; "
                "warm up with history first"
            )
        return build_observation(self._block, portfolio)
