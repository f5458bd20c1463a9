"""The observation layout: portfolio state, scaler, flat float32 vector, rolling window."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from trader_core.observation import (
    DEFAULT_CLIP,
    PORTFOLIO_FIELDS,
    FeatureScaler,
    ObservationLayout,
    ObservationWindow,
    PortfolioState,
    build_observation,
)

# ------------------------------------------------------------------ PortfolioState


def test_from_account_hand_computed():
    s = PortfolioState.from_account(
        equity=10_000.0, position_notional=5_000.0, unrealized_pnl=100.0, peak_equity=12_500.0,
        max_leverage=2.0,
    )
    assert s.exposure == 0.25  # 5,000 / (10,000 x 2)
    assert s.unrealized_pnl_fraction == 0.01  # 100 / 10,000
    # 1 - 10,000 / 12,500 = 1 - 0.8 = 0.2 (in binary: 1.0 - 0.8 exactly)
    assert s.drawdown == 1.0 - 0.8
    assert s.drawdown == pytest.approx(0.2, abs=1e-15)


def test_from_account_short_and_losing():
    s = PortfolioState.from_account(8_000.0, -4_000.0, -200.0, 10_000.0, 1.0)
    assert s.exposure == -0.5  # -4,000 / (8,000 x 1)
    assert s.unrealized_pnl_fraction == -0.025  # -200 / 8,000
    assert s.drawdown == pytest.approx(0.2, abs=1e-15)  # 1 - 8,000 / 10,000


def test_from_account_no_drawdown_above_peak_or_without_peak():
    assert PortfolioState.from_account(11_000.0, 0.0, 0.0, 10_000.0, 1.0).drawdown == 0.0
    assert PortfolioState.from_account(10_000.0, 0.0, 0.0, 10_000.0, 1.0).drawdown == 0.0
    assert PortfolioState.from_account(10_000.0, 0.0, 0.0, 0.0, 1.0).drawdown == 0.0


@pytest.mark.parametrize("equity", [0.0, -1.0, -5_000.0])
def test_from_account_no_equity(equity):
    s = PortfolioState.from_account(equity, 5_000.0, -6_000.0, 10_000.0, 2.0)
    assert (s.exposure, s.unrealized_pnl_fraction, s.drawdown) == (0.0, -1.0, 1.0)


def test_as_array_order_and_dtype():
    arr = PortfolioState(0.25, 0.01, 0.2).as_array()
    assert arr.dtype == np.float64
    assert arr.tolist() == [0.25, 0.01, 0.2]
    assert PORTFOLIO_FIELDS == ("exposure", "unrealized_pnl_fraction", "drawdown")


# ------------------------------------------------------------------ FeatureScaler


def test_scaler_standardises_and_clips():
    sc = FeatureScaler(mean=np.array([1.0, 2.0]), scale=np.array([2.0, 4.0]))
    assert sc.clip == DEFAULT_CLIP == 10.0
    assert sc.n_features == 2
    rows = np.array([[3.0, 2.0], [1.0, 46.0], [-100.0, -2.0]])
    # (3-1)/2 = 1, (2-2)/4 = 0 | (1-1)/2 = 0, (46-2)/4 = 11 -> 10 | (-100-1)/2 = -50.5 -> -10, (-2-2)/4 = -1
    assert sc.transform(rows).tolist() == [[1.0, 0.0], [0.0, 10.0], [-10.0, -1.0]]
    # a single 1-D row works the same
    assert sc.transform(np.array([5.0, 14.0])).tolist() == [2.0, 3.0]


def test_scaler_custom_clip():
    sc = FeatureScaler(mean=np.zeros(2), scale=np.ones(2), clip=3.0)
    assert sc.transform(np.array([[5.0, -2.5], [-7.0, 3.0]])).tolist() == [[3.0, -2.5], [-3.0, 3.0]]


@pytest.mark.parametrize("clip", [DEFAULT_CLIP, 2.5])
def test_scaler_equals_sklearn_exactly(clip):
    rng = np.random.default_rng(7)
    n_features = 9
    loc = rng.uniform(-1_000, 1_000, n_features)
    spread = rng.uniform(1e-3, 500, n_features)
    data = rng.normal(loc, spread, size=(2_000, n_features))
    data[5, 2] = loc[2] + 1_000 * spread[2]  # outliers that will be clipped
    data[9, 4] = loc[4] - 1_000 * spread[4]
    sk = StandardScaler().fit(data[:1_500])  # fitted on a training split only
    ours = FeatureScaler.from_sklearn(sk, clip=clip)
    assert ours.n_features == n_features
    expected = np.clip(sk.transform(data), -clip, clip)
    got = ours.transform(data)
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)  # bit for bit
    assert got.max() == clip and got.min() == -clip


# ------------------------------------------------------------------ layout


def test_layout_size():
    assert ObservationLayout(window_size=30, n_features=7).size == 213  # 30 x 7 + 3
    assert ObservationLayout(window_size=1, n_features=1).size == 4  # 1 x 1 + 3


def test_build_observation_layout():
    window = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # oldest row first
    obs = build_observation(window, PortfolioState(0.25, 0.01, 0.2))
    assert obs.dtype == np.float32
    assert obs.shape == (ObservationLayout(3, 2).size,) == (9,)
    expected = np.array([1, 2, 3, 4, 5, 6, 0.25, 0.01, 0.2], dtype=np.float32)
    assert np.array_equal(obs, expected)


# ------------------------------------------------------------------ ObservationWindow


def test_observation_window_warm_up_and_rolling():
    # mean 1, scale 2: row [x, y] -> [(x-1)/2, (y-1)/2]
    sc = FeatureScaler(mean=np.array([1.0, 1.0]), scale=np.array([2.0, 2.0]))
    win = ObservationWindow(sc, window_size=3)
    portfolio = PortfolioState(-0.5, 0.0, 0.1)
    assert not win.ready
    with pytest.raises(RuntimeError, match="0 of 3"):
        win.observation(portfolio)
    win.push(np.array([1.0, 3.0]))  # -> [0, 1]
    win.push(np.array([3.0, 5.0]))  # -> [1, 2]
    assert not win.ready
    with pytest.raises(RuntimeError, match="2 of 3"):
        win.observation(portfolio)
    win.push(np.array([5.0, 7.0]))  # -> [2, 3]
    assert win.ready
    obs = win.observation(portfolio)
    assert obs.dtype == np.float32
    assert obs.tolist() == pytest.approx([0, 1, 1, 2, 2, 3, -0.5, 0.0, 0.1], abs=0, rel=1e-7)
    assert obs[:6].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0]
    # two more rows: only the last three are kept, oldest first
    win.push(np.array([7.0, 9.0]))  # -> [3, 4]
    win.push(np.array([9.0, 101.0]))  # -> [4, 50] -> clipped to [4, 10]
    obs = win.observation(portfolio)
    assert obs[:6].tolist() == [2.0, 3.0, 3.0, 4.0, 4.0, 10.0]
    assert obs.shape == (ObservationLayout(3, 2).size,)
    assert win.ready
