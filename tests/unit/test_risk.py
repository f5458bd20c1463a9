"""Every branch of the pre-trade check: what may go out, in which state, with which margin."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.exchanges.base import AccountState
from trader_core.policy import OrderPlan
from trader_core.risk import is_stale, pre_trade_block
from trader_core.states import EngineState

PRICE, LEVERAGE, FEE = D("50000"), 2, D("0.0005")


def plan(quantity, reduce_only=False, reason="trade"):
    return OrderPlan(0.5, 0.5, D(quantity), D(quantity), reduce_only, reason)


def account(available="10000"):
    return AccountState(D("10000"), D("10000"), D(available), D("0"))


def block(p, state=EngineState.RUNNING, available="10000", position="0"):
    return pre_trade_block(p, state, account(available), PRICE, LEVERAGE, FEE, D(position))


def test_no_order_says_why():
    assert block(OrderPlan(0.0, 0.0, D(0), D(0), False, "deadband")) == "deadband"


@pytest.mark.parametrize("state", [EngineState.PAUSED, EngineState.HALTED, EngineState.STOPPED,
                                   EngineState.STARTING])
def test_states_that_take_no_order(state):
    assert block(plan("0.1"), state=state) == state.value.lower()


def test_reducing_state_lets_only_reductions_through():
    assert block(plan("0.1"), state=EngineState.REDUCING, position="0.2") == "reducing_only"  # adds
    assert block(plan("-0.3"), state=EngineState.REDUCING, position="0.2") == "reducing_only"  # flips
    assert block(plan("-0.1"), state=EngineState.REDUCING, position="0.2") is None  # reduces
    assert block(plan("-0.2", reduce_only=True), state=EngineState.REDUCING, position="0.2") is None


def test_opening_needs_initial_margin_plus_fee():
    # 0.4 BTC at 50,000, leverage 2: 10,000 margin + 10 fee
    assert block(plan("0.4"), available="10010") is None
    assert block(plan("0.4"), available="10009.99") == "insufficient_margin"


def test_a_reduction_needs_no_margin_at_all():
    assert block(plan("-0.2"), available="0", position="0.2") is None
    # even when its fee is more than the margin it frees (a tiny position at high leverage)
    from trader_core.accounting import affordable

    assert affordable(D("0.001"), D("-0.001"), PRICE, 125, D("0.01"), D("0"))


def test_a_flip_counts_the_margin_its_closing_part_frees():
    # short 0.2 -> long 0.2: the close frees 5,000; the new 0.2 needs 5,000 + 10 fee on the 0.4 traded
    assert block(plan("0.4"), available="10", position="-0.2") is None
    assert block(plan("0.4"), available="9.99", position="-0.2") == "insufficient_margin"


def test_stale_is_strictly_older_than_close_plus_grace():
    assert not is_stale(1_000, 31_000, 30_000)
    assert is_stale(1_000, 31_001, 30_000)
