"""The funding schedule: each row settles once, in its candle; the next one is announced."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from trader_core.candles import load_funding
from trader_core.simulator.funding import FUNDING_PERIOD_MS, FundingSchedule

from support import FUNDING_8H, real_candle_file

H = 3_600_000


def test_each_row_settles_once_inside_its_candle_and_the_next_is_announced():
    schedule = FundingSchedule([8 * H, 16 * H + 1, 24 * H], [D("0.0001"), D("0.00012557"), D("-0.0002")], first_open_ms=0)
    assert schedule.upcoming(7 * H) == (8 * H, D("0.0001"))
    assert schedule.take_due(7 * H, 8 * H) == []  # the row is not inside [7h, 8h)
    assert schedule.upcoming(8 * H) == (8 * H, D("0.0001"))  # due now, not settled yet
    assert schedule.take_due(8 * H, 9 * H) == [(8 * H, D("0.0001"))]
    assert schedule.take_due(8 * H, 9 * H) == []  # never twice
    assert schedule.upcoming(8 * H + 1) == (16 * H + 1, D("0.00012557"))
    assert schedule.take_due(16 * H, 17 * H) == [(16 * H + 1, D("0.00012557"))]  # 1 ms past the mark: same candle
    assert schedule.take_due(20 * H, 48 * H) == [(24 * H, D("-0.0002"))]  # a long candle (1d) takes what it holds
    # Past the last row: the next 8 h mark, rate 0 - nothing will be charged there.
    assert schedule.upcoming(30 * H) == (32 * H, D("0"))


def test_rows_before_the_first_forming_candle_are_history():
    schedule = FundingSchedule([0, 8 * H, 16 * H], [D("0.1"), D("0.2"), D("0.3")], first_open_ms=8 * H)
    assert schedule.upcoming(8 * H) == (8 * H, D("0.2"))
    assert schedule.take_due(0, 24 * H) == [(8 * H, D("0.2")), (16 * H, D("0.3"))]


def test_without_a_frame_nothing_settles():
    schedule = FundingSchedule.from_frame(None, first_open_ms=0)
    assert not schedule and schedule.take_due(0, 10**13) == []
    assert schedule.upcoming(5 * H) == (FUNDING_PERIOD_MS, D("0"))
    assert not FundingSchedule.from_frame(pd.DataFrame({"funding_time": [], "funding_rate": []}), 0)


def test_the_real_funding_file_reads_exactly():
    frame = load_funding(real_candle_file(FUNDING_8H))
    schedule = FundingSchedule.from_frame(frame, first_open_ms=0)
    assert schedule.upcoming(0) == (1708502400000, D("0.00011242"))  # the printed decimal, not a float's
    assert len(schedule.times) == len(frame)


def test_inconsistent_rows_are_refused():
    with pytest.raises(ValueError, match="length"):
        FundingSchedule([1, 2], [D("0.1")])
    with pytest.raises(ValueError, match="sorted"):
        FundingSchedule([2, 1], [D("0.1"), D("0.1")])
