"""The incremental (live) feature path equals the batch (ta) path on all the real candles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from support import REAL_CANDLE_FILES, real_candle_file
from trader_core.candles import load_candles
from trader_core.errors import DataError, RunError
from trader_core.features import MACD, RSI, SMA, BollingerBands, FeatureSet, LogReturn

PRICE_UNIT_PREFIXES = ("sma_", "macd", "bb_")
TOLERANCE = 1e-9


def _incremental_raw(fs: FeatureSet, candles: pd.DataFrame) -> np.ndarray:
    inc = fs.incremental()
    out = np.full((len(candles), len(fs.raw_columns)), np.nan)
    model = np.full((len(candles), len(fs.model_columns)), np.nan)
    for i, r in enumerate(candles.itertuples(index=False)):
        row = inc.update(r.open, r.high, r.low, r.close, r.volume)
        if row is not None:
            out[i] = row.raw
            model[i] = row.model
    return out, model


@pytest.mark.parametrize("name", REAL_CANDLE_FILES)
def test_incremental_equals_batch_on_every_row_of_real_data(name):
    candles = load_candles(real_candle_file(name))
    fs = FeatureSet.default()
    batch_raw, batch_model = fs.batch(candles)
    inc_raw, inc_model = _incremental_raw(fs, candles)
    first = fs.warmup - 1
    batch = batch_raw.to_numpy()
    # Same rows defined: nothing before warm-up, everything from it on.
    assert np.isnan(inc_raw[:first]).all()
    assert not np.isnan(inc_raw[first:]).any()
    assert not np.isnan(batch[first:]).any()
    close = candles["close"].to_numpy()[first:, None]
    for j, column in enumerate(fs.raw_columns):
        b, i = batch[first:, j], inc_raw[first:, j]
        # Relative error; price-unit values near zero (MACD) are judged against the price level.
        scale = np.abs(b)
        if column.startswith(PRICE_UNIT_PREFIXES):
            scale = np.maximum(scale, close[:, 0])
        rel = np.abs(i - b) / np.where(scale > 0, scale, 1.0)
        assert rel.max() <= TOLERANCE, f"{name} {column}: max relative error {rel.max():.3e}"
    assert np.isfinite(inc_model[first:]).all()
    np.testing.assert_allclose(inc_model[first:], batch_model[first:], rtol=0, atol=1e-6)


def test_warmup_is_derived_from_parameters_and_matches_ta():
    candles = load_candles(real_candle_file(REAL_CANDLE_FILES[0])).iloc[:300]
    for indicator in (SMA(7), RSI(9), MACD(5, 13, 4), BollingerBands(11, 1.5), LogReturn(3)):
        raw = indicator.batch(candles)
        first_valid = max(int(np.argmax(~np.isnan(col))) for col in raw)
        assert indicator.warmup == first_valid + 1, indicator
    assert FeatureSet((SMA(7), MACD(5, 13, 4))).warmup == 13 + 4 - 1


def test_no_row_before_every_indicator_is_warm():
    fs = FeatureSet((SMA(5), RSI(3)))
    inc = fs.incremental()
    rows = [inc.update(100.0 + k, 101.0 + k, 99.0 + k, 100.5 + k, 10.0) for k in range(8)]
    assert rows[:4] == [None] * 4 and all(r is not None for r in rows[4:])


def test_settle_length_makes_a_late_start_match_the_full_history():
    """A live session starts from downloaded history: after ``settle`` candles its values
    equal those computed from the start of the data (the seed has decayed away)."""
    candles = load_candles(real_candle_file(REAL_CANDLE_FILES[0]))
    fs = FeatureSet.default()
    full_raw, _ = _incremental_raw(fs, candles)
    offset = 1_000
    late_raw, _ = _incremental_raw(fs, candles.iloc[offset:].reset_index(drop=True))
    settled = fs.settle
    a = full_raw[offset + settled :]
    b = late_raw[settled:]
    close = candles["close"].to_numpy()[offset + settled :, None]
    rel = np.abs(a - b) / np.maximum(np.abs(a), close)
    assert rel.max() <= TOLERANCE
    # And before settling it genuinely differs (the derivation is not vacuous).
    early = np.abs(full_raw[offset + 40, :] - late_raw[40, :])
    assert np.nanmax(early) > 1e-6


def test_zero_volume_gap_fill_rows_give_finite_features():
    # The real 5m file has flat, zero-volume rows on 2024-10-28; build the same shape here.
    rows = [(i * 300_000, 100.0, 100.0, 100.0, 100.0, 0.0) for i in range(60)]
    candles = pd.DataFrame(rows, columns=["open_time", "open", "high", "low", "close", "volume"])
    fs = FeatureSet.default()
    _, model = fs.batch(candles)
    _, inc_model = _incremental_raw(fs, candles)
    assert np.isfinite(model[fs.warmup - 1 :]).all()
    np.testing.assert_array_equal(inc_model[fs.warmup - 1 :], model[fs.warmup - 1 :])


def test_raw_column_names_follow_indicator_parameters():
    fs = FeatureSet((SMA(20), RSI(14), MACD(12, 26, 9), BollingerBands(20, 2)))
    assert fs.raw_columns == (
        "sma_20", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9",
        "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2",
    )
    assert FeatureSet((BollingerBands(10, 2.5),)).raw_columns[0] == "bb_upper_10_2.5"


def test_metadata_round_trip_and_errors():
    fs = FeatureSet.default()
    assert FeatureSet.from_metadata(fs.to_metadata()) == fs
    with pytest.raises(RunError, match="unknown feature kind 'ema'"):
        FeatureSet.from_metadata([{"kind": "ema", "window": 3}])
    with pytest.raises(RunError, match="unknown parameter"):
        FeatureSet.from_metadata([{"kind": "sma", "length": 3}])
    with pytest.raises(RunError, match="fast < slow"):
        FeatureSet.from_metadata([{"kind": "macd", "fast": 30, "slow": 10, "signal": 9}])
    with pytest.raises(RunError, match="non-empty"):
        FeatureSet.from_metadata([])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_invalid_candle_values_are_refused(bad):
    inc = FeatureSet.default().incremental()
    with pytest.raises(DataError, match="invalid values"):
        inc.update(100.0, 101.0, 99.0, bad, 5.0)
    assert inc.count == 0
