"""The emergency protocol's own rules: backoff, and rows that never count a fill twice."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.emergency import CloseRound, FlattenOutcome, Flattener, emergency_record
from trader_core.exchanges.base import AccountState, CloseAllResult, OrderResult, PositionState


def position(q):
    return PositionState("BTCUSDT", D(q), D("50000"), D("50000"), D(0))


def close(cid, qty, status="FILLED"):
    executed = D(qty) if status != "REJECTED" else D(0)
    return OrderResult(cid, 1, status, "SELL", D(qty), executed, D("50000"))


def test_the_configured_attempts_are_spaced_by_the_delay_then_back_off_to_the_cap():
    flattener = Flattener(None, None, attempts=3, delay_s=1.0, max_delay_s=30.0, emit=lambda *a: None)
    assert [flattener.wait_after(n) for n in range(1, 9)] == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_second_row_counts_only_the_rounds_after_the_first():
    outcome = FlattenOutcome(D("0.05"))
    outcome.rounds.append(CloseRound(1, CloseAllResult(0, (close("a-1", "0.02"),), False, 1, D("0.03")),
                                     position("0.03"), ""))
    outcome.rounds.append(CloseRound(2, CloseAllResult(0, (), False, 0, D("0.03")), position("0.03"), "refused"))
    outcome.rounds.append(CloseRound(3, CloseAllResult(0, (close("a-2", "0.03"),), True, 1, D(0)),
                                     position("0"), ""))
    outcome.account = AccountState(D("9900"), D("9900"), D("9900"), D(0))
    first = emergency_record(seq=1, trigger="critical_error", detail="x", outcome=FlattenOutcome(
        D("0.05"), outcome.rounds[:2], outcome.account), peak=D("10000"), state_after="HALTED", mode="sim",
        fee_rate=D("0.0005"), now_ms=0)
    second = emergency_record(seq=1, trigger="critical_error", detail="x", outcome=outcome.since(2),
                              peak=D("10000"), state_after="HALTED", mode="sim", fee_rate=D("0.0005"), now_ms=0)
    assert (first.flat, first.close_fills, first.closed_qty, first.position_after) == (False, 1, "-0.02", "0.03")
    assert "refused" in first.detail
    assert (second.flat, second.close_fills, second.closed_qty, second.position_before) == (True, 1, "-0.03", "0.03")
    assert D(first.fees) + D(second.fees) == (D("0.05") * D("50000") * D("0.0005"))
    assert second.close_orders == "a-2" and second.close_attempts == 1
    assert first.drawdown == pytest.approx(0.01)


def test_flat_is_only_what_the_last_read_back_says():
    unread = FlattenOutcome(D("0.05"), [CloseRound(1, CloseAllResult(0, (close("a-1", "0.05"),), True, 1, D(0)),
                                                   None, "the position read failed")])
    assert not unread.flat  # the connector said flat, but this module could not read it back
