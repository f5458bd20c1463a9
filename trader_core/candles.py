"""Loading candle and funding files into one validated shape.

Two layouts exist in the operator's world: the 6-column CSVs
(``open_time_ms,open,high,low,close,volume``) and Binance's 12-column kline dump
(``open_time,open,high,low,close,volume,close_time,quote_volume,count,
taker_buy_volume,taker_buy_quote_volume,ignore``, with or without a header).
Both become a DataFrame with ``open_time`` (int ms) and float OHLCV columns, sorted
and checked: a NaN, an infinity, an absurd magnitude (a price above ``MAX_PRICE``
overflows the indicators and the Decimal order sizes), a non-positive price, a
negative volume, a duplicate, an out-of-order row, a broken OHLC or a binary file
is a ``DataError`` naming the file and the row, never a silently wrong feature or a
crash in the middle of a session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .frozen import quick_init
from .time_utils import interval_from_ms, iso_ms

OHLCV = ("open", "high", "low", "close", "volume")
COLUMNS = ("open_time", *OHLCV)
MAX_PRICE = 1e12  # no traded asset is quoted near this; beyond it a value is a corrupt cell
MAX_VOLUME = 1e18  # base-asset volume per candle; meme coins reach ~1e13 on daily candles
MAX_FUNDING_RATE = 1.0  # per settlement; Binance caps real rates at a few percent
MAX_OPEN_TIME = 10**17  # ms or Binance's newer microseconds; beyond is not a timestamp
_SNIFF_BYTES = 64 * 1024
_KLINE_DUMP = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)


@quick_init
@dataclass(frozen=True)
class Candle:
    """One closed candle (floats: features are float64; prices go Decimal at the exchange edge)."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    #: Fetched from REST after a gap or a reconnect, not pushed live: history by the time it
    #: arrives, folded into the features but never traded on.
    backfilled: bool = field(default=False, compare=False)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _has_header(first_line: str) -> bool:
    return any(ch.isalpha() for ch in first_line.split(",")[0])


def _first_text_line(path: Path, what: str) -> str:
    """The file's first line, or a DataError if the file is binary or not UTF-8 text."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if b"\0" in head:
        raise DataError(f"{path}: is a binary file, not a {what} CSV")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().strip()
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text, not a {what} CSV") from None


def load_candles(path: str | Path, start_ms: int | None = None, end_ms: int | None = None) -> pd.DataFrame:
    """Read a 6- or 12-column candle CSV, optionally keeping ``start_ms <= open_time < end_ms``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"candle file not found: {path}")
    first = _first_text_line(path, "candle")
    if not first:
        raise DataError(f"candle file is empty: {path}")
    width = len(first.split(","))
    if width not in (6, 12):
        raise DataError(
            f"{path}: expected 6 columns (open_time_ms,open,high,low,close,volume) or Binance's "
            f"12-column kline dump, found {width}"
        )
    names = list(COLUMNS) if width == 6 else list(_KLINE_DUMP)
    header = _has_header(first)
    # File line of frame row i (1-based), so every message points at the right line.
    first_line = 2 if header else 1
    try:
        frame = pd.read_csv(path, header=0 if header else None, names=names)
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text, not a candle CSV") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot parse as CSV: {' '.join(str(exc).split())}") from None
    if frame.empty:
        raise DataError(f"{path}: has a header but no candles")
    frame = frame[list(COLUMNS)]
    for column in COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[frame.isna().any(axis=1)]
    if len(bad):
        row = int(bad.index[0]) + first_line
        raise DataError(f"{path}: line {row} has a missing or non-numeric value; fix or remove it")
    _check_magnitudes(frame, path, first_line)
    frame["open_time"] = frame["open_time"].astype(np.int64)
    # Binance switched its spot dumps to microseconds in 2025; futures dumps stay in ms.
    if frame["open_time"].iloc[0] > 10**14:
        frame["open_time"] //= 1000
    for column in OHLCV:
        frame[column] = frame[column].astype(np.float64)
    _validate(frame, path, first_line)
    if start_ms is not None:
        frame = frame[frame["open_time"] >= start_ms]
    if end_ms is not None:
        frame = frame[frame["open_time"] < end_ms]
    if frame.empty:
        raise DataError(f"{path}: no candles in the requested date range")
    return frame.reset_index(drop=True)


def _check_magnitudes(frame: pd.DataFrame, path: Path, first_line: int) -> None:
    """Before any conversion: inf passes the NaN check, and 1e300 passes everything else."""
    checks = [
        ("a non-finite value (inf)", lambda f: (~np.isfinite(f.to_numpy(dtype=np.float64))).any(axis=1)),
        (f"an open time outside 0..{MAX_OPEN_TIME:.0e}",
         lambda f: ~f["open_time"].between(0, MAX_OPEN_TIME).to_numpy()),
        (f"a price above {MAX_PRICE:.0e}", lambda f: (f[["open", "high", "low", "close"]] > MAX_PRICE).any(axis=1)),
        ("a price <= 0", lambda f: (f[["open", "high", "low", "close"]] <= 0).any(axis=1)),
        (f"a volume above {MAX_VOLUME:.0e}", lambda f: (f["volume"] > MAX_VOLUME).to_numpy()),
        ("a negative volume", lambda f: (f["volume"] < 0).to_numpy()),
        ("high below low", lambda f: (f["high"] < f["low"]).to_numpy()),
    ]
    for what, broken in checks:
        mask = np.asarray(broken(frame))
        if mask.any():
            row = int(np.argmax(mask)) + first_line
            raise DataError(f"{path}: line {row} has {what}; fix or remove it")


def _validate(frame: pd.DataFrame, path: Path, first_line: int) -> None:
    times = frame["open_time"].to_numpy()
    steps = np.diff(times)
    if len(steps) and (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise DataError(
            f"{path}: candle at {iso_ms(int(times[i]))} is duplicated or out of order "
            f"(line {i + first_line})"
        )
    o, h, l, c, v = (frame[k].to_numpy() for k in OHLCV)
    broken = (h < np.maximum(o, c)) | (l > np.minimum(o, c)) | (l <= 0) | (v < 0)
    if broken.any():
        i = int(np.argmax(broken))
        raise DataError(f"{path}: inconsistent OHLCV at line {i + first_line} ({iso_ms(int(times[i]))})")


def infer_interval(frame: pd.DataFrame) -> str:
    """The Binance interval of a candle frame, from its most common spacing."""
    steps = np.diff(frame["open_time"].to_numpy())
    if not len(steps):
        raise DataError("cannot infer the candle interval from a single candle")
    values, counts = np.unique(steps, return_counts=True)
    return interval_from_ms(int(values[np.argmax(counts)]))


def find_gaps(frame: pd.DataFrame, step_ms: int) -> list[tuple[int, int]]:
    """``(last_open_time_before_gap, next_open_time)`` for every missing stretch."""
    times = frame["open_time"].to_numpy()
    idx = np.nonzero(np.diff(times) != step_ms)[0]
    return [(int(times[i]), int(times[i + 1])) for i in idx]


def iter_candles(frame: pd.DataFrame):
    """Candles of a frame in order, as the live feed would deliver them."""
    for row in frame.itertuples(index=False):
        yield Candle(
            int(row.open_time), float(row.open), float(row.high), float(row.low), float(row.close),
            float(row.volume),
        )


def load_funding(path: str | Path) -> pd.DataFrame:
    """Funding events ``funding_time`` (ms) and ``funding_rate`` (float), sorted."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"funding file not found: {path}")
    _first_text_line(path, "funding")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the funding file: {exc}") from None
    if list(frame.columns[:2]) != ["funding_time_ms", "funding_rate"]:
        raise DataError(f"{path}: expected columns funding_time_ms,funding_rate")
    frame = frame.rename(columns={"funding_time_ms": "funding_time"})[["funding_time", "funding_rate"]]
    frame = frame.apply(pd.to_numeric, errors="coerce")
    if frame.isna().any().any():
        row = int(frame[frame.isna().any(axis=1)].index[0]) + 2
        raise DataError(f"{path}: line {row} has a missing or non-numeric value")
    values = frame.to_numpy(dtype=np.float64)
    broken = (~np.isfinite(values)).any(axis=1)
    broken |= (np.abs(frame["funding_rate"]) >= MAX_FUNDING_RATE).to_numpy()
    broken |= ~frame["funding_time"].between(0, MAX_OPEN_TIME).to_numpy()
    if broken.any():
        row = int(np.argmax(broken)) + 2
        raise DataError(
            f"{path}: line {row} has a non-finite or out-of-range value (|rate| < {MAX_FUNDING_RATE}, "
            f"time 0..{MAX_OPEN_TIME:.0e} ms)"
        )
    frame["funding_time"] = frame["funding_time"].astype(np.int64)
    return frame.sort_values("funding_time").reset_index(drop=True)
