"""ReplayFeed: a candle frame behind KlineFeed's interface (history, then closes in order)."""

from __future__ import annotations

import pandas as pd
import pytest

from trader_core.candles import Candle
from trader_core.errors import DataError, FeedExhausted, SactuiError

HOUR = 3_600_000


def frame(n: int = 6) -> pd.DataFrame:
    t0 = 1_704_067_200_000
    return pd.DataFrame({
        "open_time": [t0 + i * HOUR for i in range(n)],
        "open": [100.0 + i for i in range(n)],
        "high": [101.5 + i for i in range(n)],
        "low": [99.25 + i for i in range(n)],
        "close": [100.5 + i for i in range(n)],
        "volume": [10.0 * (i + 1) for i in range(n)],
    })


def make(start_index: int, n: int = 6):
    from trader_core.feeds.replay_feed import ReplayFeed

    return ReplayFeed(frame(n), start_index)


async def test_history_is_the_candles_just_before_the_start():
    feed = make(4)
    history = await feed.history(3)
    assert [c.open_time for c in history] == [frame().open_time[i] for i in (1, 2, 3)]
    assert history[0] == Candle(1_704_067_200_000 + HOUR, 101.0, 102.5, 100.25, 101.5, 20.0)
    assert all(type(v) is float for v in (history[0].open, history[0].close, history[0].volume))
    assert type(history[0].open_time) is int
    assert feed.last_open_time == history[-1].open_time


async def test_next_closed_delivers_from_the_start_in_order_then_is_exhausted():
    feed = make(4)
    await feed.history(4)
    feed.start()
    assert feed.connected and feed.forming is None and feed.message_age_s() == 0.0
    first = await feed.next_closed()
    second = await feed.next_closed()
    assert [first.open_time, second.open_time] == [frame().open_time[4], frame().open_time[5]]
    assert second.close == 105.5 and feed.last_open_time == second.open_time and feed.remaining == 0
    with pytest.raises(FeedExhausted) as info:
        await feed.next_closed()
    assert not isinstance(info.value, SactuiError)  # the end of a backtest, not a failure
    with pytest.raises(FeedExhausted):
        await feed.next_closed()
    await feed.stop()
    assert not feed.connected


async def test_short_history_is_a_data_error():
    feed = make(2)
    with pytest.raises(DataError, match="2 candles before its start, 3 are needed"):
        await feed.history(3)


def test_bad_frames_and_start_indexes_are_data_errors():
    from trader_core.feeds.replay_feed import ReplayFeed

    with pytest.raises(DataError, match="close"):
        ReplayFeed(frame().drop(columns=["close"]), 0)
    with pytest.raises(DataError, match="outside"):
        ReplayFeed(frame(), 7)


