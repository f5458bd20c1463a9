"""Which candles a backtest or replay decides on (``--start`` / ``--end``), and whether the run saw them.

Why: an in-sample backtest is easy to mistake for a result. The run's metadata records
its training split (the scaler, the model and the checkpoint choice - validation is part
of that split - all saw those candles); decisions on them are flagged before any figure
is printed. ``--start`` / ``--end`` name the *decision* candles by open time (UTC, ``--end``
exclusive); the warm-up history is taken from the candles before ``--start``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ..errors import DataError
from ..time_utils import iso_ms


def decision_span(frame: pd.DataFrame, history: int, start_ms: int | None, end_ms: int | None) -> pd.DataFrame:
    """The candles to feed: ``history`` warm-up candles, then the decision candles in
    ``[start_ms, end_ms)`` (default: from the first candle after the warm-up to the end)."""
    frame = frame.reset_index(drop=True)
    opens = frame["open_time"]
    first = history if start_ms is None else int((opens < start_ms).sum())
    if start_ms is not None and first < history:
        raise DataError(
            f"--start {iso_ms(start_ms)} leaves {first} candle(s) before it in the file; {history} are needed "
            f"to warm up the indicators: start at {iso_ms(int(opens.iloc[min(history, len(frame) - 1)]))} or later"
        )
    last = len(frame) if end_ms is None else int((opens < end_ms).sum())
    if last <= first:
        raise DataError(f"no candle to decide on between {iso_ms(int(start_ms or opens.iloc[first if first < len(frame) else -1]))} "
                        f"and {iso_ms(end_ms) if end_ms else 'the end of the file'}")
    return frame.iloc[first - history:last].reset_index(drop=True)


def _ms(text: object) -> int | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def in_sample_warning(run, opens: pd.Series) -> str | None:
    """A warning when decision candles (their open times) fall inside the run's training split."""
    split = run.metadata.get("split") or {}
    start, end = _ms(split.get("train_start")), _ms(split.get("train_end"))
    if start is None or end is None:
        return None
    inside = opens[(opens >= start) & (opens < end)]
    if inside.empty:
        return None
    return (
        f"{len(inside):,} of the {len(opens):,} decision candles ({iso_ms(int(inside.iloc[0]))} -> "
        f"{iso_ms(int(inside.iloc[-1]))}) are inside the run's training split ({iso_ms(start)} -> {iso_ms(end)}, "
        "validation included): the model was fitted on them, so these figures are in-sample, not a result"
    )
