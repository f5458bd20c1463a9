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
    assert forming[1:6] == ["100.50", "100.50", "100.50", "100.50", "0.000"]  # no trade yet: last close


def test_replay_refuses_bad_start_and_stops_at_the_last_candle():
    frame = _frame([(100.0, 101.0, 99.0, 100.5, 1.0)] * 3)
    with pytest.raises(DataError, match="start index 3"):
        MarketReplay(frame, 3, FILTERS, 3)
    replay = MarketReplay(frame, 1, FILTERS, 0)
    assert replay.advance().closed
    with pytest.raises(ReplayExhausted):
        replay.advance()
    assert replay.current_index == 2 and replay.progress == 0


def test_price_after_a_close_is_that_close_until_the_next_candle_trades():
    # Candle 1 closes at 100.5 but candle 2 opens at 103.0 (a gap, as in about half of
    # real BTCUSDT candles): between the close and candle 2's first update the last
    # traded price is still 100.5, and candle 2 is shown without trades at that price.
    replay = MarketReplay(_frame([(99.0, 101.0, 98.0, 99.5, 5.0), (99.5, 101.0, 99.0, 100.5, 2.0),
                                  (103.0, 104.0, 102.0, 103.5, 3.0), (103.5, 104.0, 103.0, 103.8, 1.0)]),
                          1, FILTERS, 1)
    assert replay.price == D("99.5")  # start: candle 0's close, before candle 1 trades
    first = replay.advance()
    assert (first.open, first.closed) == (D("99.5"), False)
    closed = replay.advance()
    assert closed.closed and closed.close == D("100.5") and replay.current_index == 2
    assert replay.price == D("100.5")
    forming = replay.forming
    assert (forming.open, forming.high, forming.low, forming.close) == (D("100.5"),) * 4
    assert (forming.volume, forming.trades, forming.closed) == (D(0), 0, False)
    assert replay.visible_rows(None, None, 1)[0][1:6] == ["100.50", "100.50", "100.50", "100.50", "0.000"]
    update = replay.advance()  # the first trade of candle 2: its real open
    assert update.open == D("103.0") and update.low <= D("103.0") <= update.high
    assert replay.price == update.close != D("100.5")
    assert replay.kline(2).open == D("103.0")  # the closed candle keeps its real open


def test_the_data_first_candle_starts_at_its_own_open():
    replay = MarketReplay(_frame([(100.0, 101.0, 99.0, 100.5, 1.0)] * 2), 0, FILTERS, 3)
    assert replay.price == D("100.0") and replay.forming.open == D("100.0")
