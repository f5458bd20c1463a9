"""Candle intervals and timestamps: Binance's interval strings to milliseconds and back.

Every module that reasons about candle boundaries (loaders, the feed, the simulator,
the stale-data check) uses these, so "one interval" means the same thing everywhere.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from .errors import ConfigError

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

#: The intervals Binance USD-M klines accept (``M`` months are excluded: not fixed length).
BINANCE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
)


def interval_ms(interval: str) -> int:
    """Length of one candle of ``interval`` in milliseconds (``"1h"`` -> 3_600_000)."""
    if interval not in BINANCE_INTERVALS:
        raise ConfigError(
            f"unknown candle interval {interval!r}: use one of {', '.join(BINANCE_INTERVALS)}"
        )
    return int(interval[:-1]) * _UNIT_MS[interval[-1]]


def interval_from_ms(step_ms: int) -> str:
    """The Binance interval string whose length is ``step_ms``."""
    for name in BINANCE_INTERVALS:
        if interval_ms(name) == step_ms:
            return name
    raise ConfigError(f"candle spacing of {step_ms} ms is not a Binance interval")


def periods_per_year(interval: str) -> float:
    """How many candles of ``interval`` fit in a 365-day year (crypto trades every day)."""
    return 365 * 86_400_000 / interval_ms(interval)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def datetime_to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def parse_date_ms(text: str) -> int:
    """``2024-01-31`` or an ISO timestamp (UTC unless it says otherwise) -> epoch ms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"cannot read date {text!r}: use YYYY-MM-DD or an ISO timestamp") from None
    return datetime_to_ms(moment)


def iso_ms(ms: int) -> str:
    """Epoch ms as ``2024-01-01T00:00:00Z``, the format written in metadata and journals."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))
