"""Every way a live row may differ from the model's replay has its explanation (``sactui audit``);
only a different decision on the same candle and state is left 'unexplained'."""

from __future__ import annotations

import pytest

from trader_core.review.audit import explain
from trader_core.step_record import StepRecord

T = "2024-09-01T05:00:00Z"


def _live(status: str, state: str = "RUNNING") -> dict:
    return {"order_status": status, "state": state, "time": T}


def _model(status: str = "FILLED") -> StepRecord:
    return StepRecord(T, 0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, "BUY", "0.010", "60000", "0.024", "sac-x-0-t",
                      status, "0.010", "60000", 10000.0, 10000.0, 0.0, 0.0, 0.0, 0.0, 0.1, "backtest", "RUNNING")


F9 = [{"time": "2024-09-01T04:00:00Z", "trigger": "operator_flatten"}]
DRAWDOWN = [{"time": "2024-09-01T04:00:00Z", "trigger": "max_drawdown"}]


@pytest.mark.parametrize("live, emergencies, cause, words", [
    (_live("SKIPPED:down"), [], "resumed crash", "closed while the session was down"),
    (_live("FILLED:recovered"), [], "resumed crash", "found on the exchange at resume"),
    (_live("SKIPPED:stale"), [], "stale skip", "stale grace"),
    (_live("SKIPPED:backfilled"), [], "stale skip", "backfilled candles never trade"),
    (_live("SKIPPED:paused", "PAUSED"), F9, "paused", "after an operator flatten (F9)"),
    (_live("SKIPPED:paused", "PAUSED"), [], "paused", "the engine was paused: no new orders"),
    (_live("REJECTED:-2019"), [], "rejected", "(-2019)"),
    (_live("SKIPPED:banned"), [], "banned", "IP ban"),
    (_live("UNKNOWN"), [], "exchange error", "(UNKNOWN)"),
    (_live("NOT_FOUND"), [], "exchange error", "(NOT_FOUND)"),
    (_live("SKIPPED:emergency", "HALTED"), DRAWDOWN, "emergency", "emergency (max_drawdown)"),
    (_live("EXPIRED"), [], "partial fill", "only part of the order"),
    (_live("SKIPPED:insufficient_margin"), [], "margin", "available balance"),
])
def test_each_known_difference_has_its_cause(live, emergencies, cause, words):
    found, explanation = explain(live, _model(), emergencies, same_action=True)
    assert found == cause and words in explanation, (found, explanation)


def test_same_action_another_quantity_is_the_fill_price_and_a_guessed_mark_says_so():
    assert explain(_live("FILLED"), _model(), [], same_action=True)[0] == "fill price"
    assert explain(_live("FILLED"), _model(), [], same_action=True, mark_guessed=True)[0] == "mark price"


def test_a_different_decision_on_the_same_state_is_unexplained():
    cause, explanation = explain(_live("FILLED"), _model(), [], same_action=False)
    assert cause == "unexplained" and "investigate" in explanation
    assert explain(_live("FILLED"), None, [], same_action=True)[0] == "unexplained"
