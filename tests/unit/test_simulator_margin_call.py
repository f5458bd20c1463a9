"""The margin-call rule (maintenance margin / margin balance >= 80 %) and its once-per-crossing memory."""

from __future__ import annotations

from decimal import Decimal as D

from trader_core.simulator.margin_call import MARGIN_CALL_RATIO, MarginCallWatch, in_margin_call


def test_the_zone_starts_at_eighty_percent_or_no_balance():
    assert MARGIN_CALL_RATIO == D("0.8")
    assert not in_margin_call(D("1"), D("79.99"), D("100"))
    assert in_margin_call(D("1"), D("80"), D("100"))  # exactly the level: in
    assert in_margin_call(D("-1"), D("1"), D("0"))  # nothing left
    assert in_margin_call(D("-1"), D("1"), D("-5"))
    assert not in_margin_call(D("0"), D("0"), D("-5"))  # flat: no position to call


def test_one_call_per_crossing():
    watch = MarginCallWatch()
    path = [D("50"), D("85"), D("90"), D("95"), D("70"), D("81"), D("81")]  # maintenance on a 100 balance
    calls = [watch.crossed(D("1"), mm, D("100")) for mm in path]
    assert calls == [False, True, False, False, False, True, False]
    assert watch.calls == 2 and watch.in_call
    assert watch.crossed(D("0"), D("0"), D("100")) is False and not watch.in_call  # closed: re-armed
