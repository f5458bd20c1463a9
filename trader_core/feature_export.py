"""``sactui features``: the live path's indicator values, per candle, for checking by eye.

The operator validates the indicator calculation against a chart: this writes what
the *incremental* (live) path computes - raw indicator values in price units, named
by indicator and parameters (``sma_20``, ``bb_upper_20_2``…), the model features
(``model_*``) and the scaled values the model actually sees (``scaled_*``). Some raw
values are model features unchanged (``log_return_1``, ``hl_range``…): the prefixes keep
every column name unique, so a spreadsheet or ``pandas`` never silently drops one. Each
row is a candle named by its open time (``open_time_ms`` and ``open_time``, UTC). Rows
before warm-up are not written.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .candles import iter_candles
from .errors import DataError
from .runs import TrainingRun
from .time_utils import iso_ms


def export_features(run: TrainingRun, candles: pd.DataFrame, out: Path) -> int:
    """Write the CSV; returns the number of rows written."""
    fs = run.features
    header = [
        "open_time_ms", "open_time", "open", "high", "low", "close", "volume",
        *fs.raw_columns, *(f"model_{c}" for c in fs.model_columns), *(f"scaled_{c}" for c in fs.model_columns),
    ]
    if len(set(header)) != len(header):  # a feature set whose names collide even so: say which, never write it
        twice = sorted({c for c in header if header.count(c) > 1})
        raise DataError(f"feature columns would repeat ({', '.join(twice)}); the export needs unique names")
    incremental = fs.incremental()
    written = 0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for candle in iter_candles(candles):
                row = incremental.update(candle.open, candle.high, candle.low, candle.close, candle.volume)
                if row is None:
                    continue
                scaled = run.scaler.transform(row.model)
                writer.writerow([
                    candle.open_time, iso_ms(candle.open_time), repr(candle.open), repr(candle.high),
                    repr(candle.low), repr(candle.close), repr(candle.volume),
                    *(repr(v) for v in row.raw), *(repr(float(v)) for v in row.model),
                    *(repr(float(v)) for v in scaled),
                ])
                written += 1
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return written
