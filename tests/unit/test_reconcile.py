"""Start-up reconciliation: every branch of ``judge``."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.errors import ReconciliationError
from trader_core.exchanges.base import OpenOrder, PositionState
from trader_core.reconcile import judge


def held(quantity):
    return PositionState("BTCUSDT", D(quantity), D("50000") if D(quantity) else D(0), D("50000"), D(0))


RESTING = OpenOrder(7, "manual-order-7", "BUY", "LIMIT", D("0.01"), D("25000"), "NEW", False)


def test_what_was_expected_is_accepted_silently():
    result = judge(held("0.02"), (), D("0.02"), adopt=False, origin="the journal")
    assert not result.adopted and result.note == ""


def test_a_flat_exchange_where_a_position_was_expected_trades_on_from_flat_and_says_so():
    result = judge(held("0"), (), D("0.014"), adopt=False, origin="the journal of session ab12cd34")
    assert not result.adopted
    assert "expects a position of 0.014 but the exchange is flat" in result.note


def test_a_different_position_is_refused_naming_both_figures():
    with pytest.raises(ReconciliationError) as err:
        judge(held("0.03"), (), D("0.01"), adopt=False, origin="the journal of session ab12cd34")
    text = str(err.value)
    assert "position of 0.03" in text and "expects 0.01" in text and "adopt_unknown_position" in text


def test_unknown_open_orders_are_refused_even_when_the_position_matches():
    with pytest.raises(ReconciliationError, match="manual-order-7"):
        judge(held("0"), (RESTING,), D(0), adopt=False, origin="this new session")


def test_adopting_takes_over_what_differs():
    result = judge(held("0.03"), (RESTING,), D(0), adopt=True, origin="this new session")
    assert result.adopted and "adopted" in result.note and result.open_orders == (RESTING,)
