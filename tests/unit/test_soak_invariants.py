"""The soak's verdict: each invariant holds on consistent facts and fails on the break it exists for."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from sactui.soak import invariants as inv
from sactui.soak.trader import ResourceSample

M = 60_000
T0 = 1_690_848_000_000
SPAN = [T0 + i * M for i in range(6)]


def row(i, cid="", qty="0", status="SKIPPED:on_target", fee="0", rp="0", pos="0", file="registro_a.csv"):
    return {"candle_open_time": str(SPAN[i]), "client_order_id": cid, "order_qty": qty, "order_status": status,
            "order_fee": fee, "fill_realized_pnl": rp, "funding": "0", "position_qty": pos, "_file": file}


def good():
    steps = (
        row(0, "sac-a-%d-t" % SPAN[0], "0.010", "FILLED", "0.15", "0", "0.010"),
        row(1, "sac-a-%d-t" % SPAN[1], "-0.004", "FILLED", "0.06", "1.2", "0.006"),
        row(2, pos="0.006"),
        row(3, "sac-a-%d-t" % SPAN[3], "0.002", "FILLED", "0.03", "0", "0.008"),
    )
    emergencies = ({"trigger": "max_drawdown", "close_orders": "sac-a-e1d-1", "closed_qty": "-0.008", "fees": "0.12",
                    "realized_pnl": "-3", "flat": "true", "state_after": "HALTED", "seq": "1",
                    "_file": "emergencias_a.csv"},)
    steps = steps + (row(4, pos="0", file="registro_b.csv"), row(5, pos="0", file="registro_b.csv"))
    orders = (inv.ExchangeOrder(steps[0]["client_order_id"], "FILLED", D("0.010")),
              inv.ExchangeOrder(steps[1]["client_order_id"], "FILLED", D("-0.004")),
              inv.ExchangeOrder(steps[3]["client_order_id"], "FILLED", D("0.002")),
              inv.ExchangeOrder("sac-a-e1d-1", "FILLED", D("-0.008")))
    income = {"COMMISSION": D("0.36"), "REALIZED_PNL": D("-1.8"), "FUNDING_FEE": D(0)}
    facts = inv.ExchangeFacts(orders, tuple(o.client_order_id for o in orders), D(0), D("10000") - D("1.8") - D("0.36"),
                              D("10000"), income)
    return facts, inv.Journals(steps, emergencies)


def test_consistent_facts_pass_every_invariant():
    facts, journals = good()
    assert inv.candles_once(SPAN, [], journals).ok
    assert inv.orders_journaled_once(facts, journals).ok
    assert inv.no_duplicate_orders(facts).ok
    assert inv.position_and_wallet(facts, journals, D("0.01")).ok
    assert inv.books_match_income(facts, journals, D("0.01")).ok
    assert inv.emergencies_provoked_only(journals, ["max_drawdown"]).ok


def test_a_missing_or_doubled_candle_fails_unless_it_is_in_the_latched_stretch():
    facts, journals = good()
    missing = inv.Journals(tuple(r for r in journals.steps if r["candle_open_time"] != str(SPAN[2])),
                           journals.emergencies)
    assert not inv.candles_once(SPAN, [], missing).ok
    stretch = inv.LatchedStretch(SPAN[2], SPAN[2], "registro_a.csv", "emergencias_a.csv", "registro_b.csv")
    assert inv.candles_once(SPAN, [stretch], missing).ok
    assert not inv.candles_once(SPAN, [stretch], journals).ok  # a row while latched
    doubled = inv.Journals(journals.steps + (journals.steps[2],), journals.emergencies)
    assert not inv.candles_once(SPAN, [], doubled).ok


def test_a_latched_stretch_needs_a_flat_drawdown_stop_before_it():
    facts, journals = good()
    steps = tuple(r for r in journals.steps if r["candle_open_time"] not in (str(SPAN[2]), str(SPAN[3])))
    steps = tuple(dict(r, client_order_id="", order_qty="0") for r in steps)
    stretch = inv.LatchedStretch(SPAN[2], SPAN[3], "registro_a.csv", "emergencias_a.csv", "registro_b.csv")
    assert inv.latch_explained([stretch], inv.Journals(steps, journals.emergencies), M).ok
    not_flat = (dict(journals.emergencies[0], flat="false"),)
    assert not inv.latch_explained([stretch], inv.Journals(steps, not_flat), M).ok
    late = inv.LatchedStretch(SPAN[3], SPAN[3], "registro_a.csv", "emergencias_a.csv", "registro_b.csv")
    assert not inv.latch_explained([late], inv.Journals(steps, journals.emergencies), M).ok


def test_an_orphan_a_double_row_a_never_sent_id_or_a_wrong_fill_fail():
    facts, journals = good()
    orphan = replace(facts, orders=facts.orders + (inv.ExchangeOrder("sac-a-999-t", "FILLED", D("0.001")),),
                     posted_ids=facts.posted_ids + ("sac-a-999-t",))
    assert not inv.orders_journaled_once(orphan, journals).ok
    twice = inv.Journals(journals.steps + (dict(journals.steps[0], candle_open_time=str(SPAN[5] + M)),),
                         journals.emergencies)
    assert not inv.orders_journaled_once(facts, twice).ok
    unsent = replace(facts, posted_ids=facts.posted_ids[1:])
    assert not inv.orders_journaled_once(unsent, journals).ok
    wrong = inv.Journals((dict(journals.steps[0], order_qty="0.011"),) + journals.steps[1:], journals.emergencies)
    assert not inv.orders_journaled_once(facts, wrong).ok
    lost = inv.Journals((dict(journals.steps[0], order_qty="0", order_status="REJECTED:-4015"),) + journals.steps[1:],
                        journals.emergencies)  # the exchange filled it; the row says nothing was
    assert not inv.orders_journaled_once(facts, lost).ok


def test_one_decision_acted_twice_is_a_duplicate_even_under_two_session_tags():
    facts, journals = good()
    again = inv.ExchangeOrder(f"sac-b-{SPAN[0]}-t", "FILLED", D("0.010"))
    assert not inv.no_duplicate_orders(replace(facts, orders=facts.orders + (again,))).ok
    resent = replace(facts, orders=facts.orders + (facts.orders[0],))  # Binance takes a closed order's id again
    assert not inv.no_duplicate_orders(resent).ok and not inv.orders_journaled_once(resent, journals).ok
    foreign = inv.ExchangeOrder("manual-1", "FILLED", D("0.010"))
    assert not inv.no_duplicate_orders(replace(facts, orders=facts.orders + (foreign,))).ok


def test_position_wallet_and_income_must_equal_the_exchanges():
    facts, journals = good()
    assert not inv.position_and_wallet(replace(facts, position=D("0.001")), journals, D("0.01")).ok
    assert not inv.position_and_wallet(replace(facts, wallet=facts.wallet - D("0.02")), journals, D("0.01")).ok
    more_fees = dict(facts.income, COMMISSION=D("0.40"))
    assert not inv.books_match_income(replace(facts, income=more_fees), journals, D("0.01")).ok


def test_an_unprovoked_emergency_fails():
    _, journals = good()
    extra = journals.emergencies + (dict(journals.emergencies[0], trigger="connection_failures", seq="2"),)
    assert not inv.emergencies_provoked_only(inv.Journals(journals.steps, extra), ["max_drawdown"]).ok
    assert not inv.emergencies_provoked_only(journals, []).ok


def test_a_growing_resource_is_not_flat_and_a_noisy_one_is():
    flat = [ResourceSample(c, 1, 400_000 + (c % 3) * 500, 30 + (c % 2), 12) for c in range(60, 600, 30)]
    found = inv.trends(flat, 60, {1: 0})
    assert found and inv.resources_flat(found, 0.05).ok
    growing = [ResourceSample(c, 1, 400_000 + c * 100, 30, 12 + c // 100) for c in range(60, 600, 30)]
    assert not inv.resources_flat(inv.trends(growing, 60, {1: 0}), 0.05).ok
    assert not inv.resources_flat([], 0.05).ok  # nothing judged is not a pass


def test_a_descriptor_more_is_not_a_leak_but_three_are():
    def fds(last):  # 14 descriptors over the first third, ``last`` over the last one
        return [ResourceSample(c, 1, 400_000, 14 if c < 300 else last, 12) for c in range(60, 600, 30)]
    assert inv.resources_flat(inv.trends(fds(15), 60, {1: 0}), 0.05).ok  # +7 %, one unit: a connection in flight
    assert inv.resources_flat(inv.trends(fds(16), 60, {1: 0}), 0.05).ok
    assert not inv.resources_flat(inv.trends(fds(17), 60, {1: 0}), 0.05).ok


def test_a_secret_in_any_file_fails(tmp_path):
    (tmp_path / "a.log").write_text("all fine\n")
    assert inv.secrets_absent([tmp_path / "a.log"], ["s3cr3t"]).ok
    (tmp_path / "b.csv").write_text("x,s3cr3t\n")
    assert not inv.secrets_absent([tmp_path / "a.log", tmp_path / "b.csv"], ["s3cr3t"]).ok
