"""Crash recovery's reasoning, as pure functions: which orders of the session no row names,
and what position the exchange must hold once they are counted."""

from __future__ import annotations

from decimal import Decimal as D

from trader_core.client_ids import candle_order_id, emergency_order_ids, parse_client_id, session_prefix
from trader_core.exchanges.base import OrderResult
from trader_core.recovery import journal_position, journaled_client_ids, last_emergency_seq, plan_recovery

TAG = "ab12cd34"


def order(cid, side="BUY", qty="0.01", status="FILLED", price="50000"):
    executed = D(qty) if status in ("FILLED", "EXPIRED") else D(0)
    return OrderResult(cid, 1, status, side, D(qty), executed, D(price), 1, True)


def step(t, position="0", cid="", time="2024-01-01T00:00:00.000Z"):
    return {"candle_open_time": str(t), "position_qty": position, "client_order_id": cid, "time": time}


def test_ids_say_who_sent_an_order_and_why():
    cid = candle_order_id(TAG, 1_700_000_000_000)
    parsed = parse_client_id(cid)
    assert cid == "sac-ab12cd34-1700000000000-t" and parsed.is_candle_order
    assert parsed.candle_open_time == 1_700_000_000_000 and parsed.tag == TAG
    ids = emergency_order_ids(TAG, 3, "max_drawdown")
    first, second = next(ids), next(ids)
    assert (first, second) == ("sac-ab12cd34-e3d-1", "sac-ab12cd34-e3d-2")
    parsed = parse_client_id(second)
    assert (parsed.emergency_seq, parsed.trigger, parsed.number) == (3, "max_drawdown", 2)
    assert parse_client_id("operator-manual-1") is None and parse_client_id("sac-ab12cd34-e1z-1") is None
    assert all(len(i) <= 36 for i in (cid, first))
    assert cid.startswith(session_prefix(TAG))


def test_unjournaled_orders_of_this_session_are_found_and_others_ignored():
    journaled = candle_order_id(TAG, 1000)
    cut_off = candle_order_id(TAG, 2000)
    close = "sac-ab12cd34-e1f-1"
    orders = [order(journaled), order(cut_off), order(close, side="SELL", qty="0.02"),
              order("sac-ffffffff-3000-t"), order("operator-manual-1")]
    plan = plan_recovery(TAG, [step(1000, "0.01", journaled)], [], orders)
    assert list(plan.candle_orders) == [2000]
    assert plan.emergency_orders == {1: ("connection_failures", (orders[2],))}
    assert plan.journal_position == D("0.01")
    assert plan.expected_position == D("0.01") + D("0.01") - D("0.02")


def test_a_journaled_emergency_close_is_not_recovered_again():
    rows = [{"close_orders": "sac-ab12cd34-e1o-1;sac-ab12cd34-e1o-2", "position_after": "0", "seq": "1",
             "time": "2024-01-01T01:00:00.000Z"}]
    assert journaled_client_ids([], rows) == {"sac-ab12cd34-e1o-1", "sac-ab12cd34-e1o-2"}
    plan = plan_recovery(TAG, [], rows, [order("sac-ab12cd34-e1o-2", side="SELL")])
    assert plan.recovered == () and last_emergency_seq(rows) == 1


def test_the_journal_position_is_the_last_event_steps_or_emergencies():
    steps = [step(1000, "0.05", time="2024-01-01T01:00:00.000Z")]
    flatten = [{"position_after": "0", "time": "2024-01-01T01:30:00.000Z"}]
    earlier = [{"position_after": "0", "time": "2024-01-01T00:30:00.000Z"}]
    unknown = [{"position_after": "unknown", "time": "2024-01-01T02:00:00.000Z"}]
    assert journal_position(steps, flatten) == 0  # an F9 after the last step
    assert journal_position(steps, earlier) == D("0.05")
    assert journal_position(steps, unknown) == D("0.05")  # a close that could not read back counts nothing
    assert journal_position([], [], start_position=D("0.04")) == D("0.04")  # adopted at start, no row yet
