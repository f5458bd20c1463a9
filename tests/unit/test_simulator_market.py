"""The replayed market: partial candles that converge, and Binance's klines windowing."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader_core.errors import DataError
from trader_core.exchanges.filters import SymbolFilters
from trader_core.simulator.market import MarketReplay, ReplayExhausted

HOUR = 3_600_000
FILTERS = SymbolFilters.btcusdt_default()

ticks = st.integers(min_value=10_000, max_value=1_000_000)  # prices in 0.1 steps


def _frame(rows):
    return pd.DataFrame(
        [(i * HOUR, o, h, l, c, v) for i, (o, h, l, c, v) in enumerate(rows)],
        columns=["open_time", "open", "high", "low", "close", "volume"],
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(ticks, min_size=4, max_size=4), st.integers(0, 6), st.integers(1, 10**7))
def test_partial_candles_are_consistent_monotone_and_end_exact(points, interim, volume_milli):
    low, a, b, high = sorted(points)
    o, c = a / 10, b / 10
    if points[0] % 2:
        o, c = c, o
    candle = (o, high / 10, low / 10, c, volume_milli / 1000)
    replay = MarketReplay(_frame([candle, candle]), 0, FILTERS, interim)
    states = [replay.forming]
    while True:
        state = replay.advance()
        states.append(state)
        if state.closed:
            break
    assert len(states) == interim + 2 and replay.current_index == 1
    for s in states:
        assert s.low <= min(s.open, s.close) and s.high >= max(s.open, s.close)
        assert s.close % FILTERS.tick_size == 0 and s.high % FILTERS.tick_size == 0
    assert [s.high for s in states] == sorted(s.high for s in states)
    assert [s.low for s in states] == sorted((s.low for s in states), reverse=True)
    assert [s.volume for s in states] == sorted(s.volume for s in states)
    final = states[-1]
    assert (final.open, final.high, final.low, final.close) == tuple(D(repr(x)) for x in candle[:4])
    assert final.volume == D(repr(candle[4]))


def test_visible_rows_follow_binance_windowing():
    rows = [(100.0, 101.0, 99.0, 100.5, 1.0)] * 10
    replay = MarketReplay(_frame(rows), 6, FILTERS, 3)
    assert [r[0] for r in replay.visible_rows(None, None, 500)] == [i * HOUR for i in range(7)]
    assert [r[0] for r in replay.visible_rows(None, None, 2)] == [5 * HOUR, 6 * HOUR]
    assert [r[0] for r in replay.visible_rows(2 * HOUR, None, 2)] == [2 * HOUR, 3 * HOUR]
    assert [r[0] for r in replay.visible_rows(None, 3 * HOUR, 2)] == [2 * HOUR, 3 * HOUR]
    assert replay.visible_rows(0, 10**13, 1)[0][0] == 0  # futures_historical_klines' probe
    assert replay.visible_rows(8 * HOUR, None, 5) == []
    forming = replay.visible_rows(None, None, 1)[0]
    assert forming[1:6] == ["100.00", "100.00", "100.00", "100.00", "0.000"]


def test_replay_refuses_bad_start_and_stops_at_the_last_candle():
    frame = _frame([(100.0, 101.0, 99.0, 100.5, 1.0)] * 3)
    with pytest.raises(DataError, match="start index 3"):
        MarketReplay(frame, 3, FILTERS, 3)
    replay = MarketReplay(frame, 1, FILTERS, 0)
    assert replay.advance().closed
    with pytest.raises(ReplayExhausted):
        replay.advance()
    assert replay.current_index == 2 and replay.progress == 0
