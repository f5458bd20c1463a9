"""ActionMapping: action -> target exposure -> an order quantity the exchange accepts."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader_core.exchanges.filters import SymbolFilters
from trader_core.policy import ActionMapping, OrderPlan

F = SymbolFilters.btcusdt_default()  # step 0.001, min qty 0.001, max qty 120, min notional 50
STEP = D("0.001")


def _plan(action, equity, price, position, mapping=None, filters=F):
    mapping = mapping or ActionMapping()
    return mapping.plan(action, D(equity), D(price), D(position), filters)


# ------------------------------------------------------------------ target exposure


def test_target_exposure_clips_and_scales():
    m = ActionMapping(max_leverage=2.0)
    assert m.target_exposure(0.5) == 1.0  # 0.5 x 2
    assert m.target_exposure(-0.25) == -0.5  # -0.25 x 2
    assert m.target_exposure(1.7) == 2.0  # clipped to 1, x 2
    assert m.target_exposure(-3.0) == -2.0  # clipped to -1, x 2
    assert m.target_exposure(0.0) == 0.0
    assert type(m.target_exposure(0.5)) is float
    assert ActionMapping().target_exposure(5.0) == 1.0


def test_clipped_action_sizes_like_full_action():
    # action 4 clips to 1: 1 x 10,000 / 50,000 = 0.2 BTC
    p = _plan(4.0, "10000", "50000", "0")
    assert p.target_exposure == 1.0
    assert p.quantity == D("0.2")
    assert p.raw_action == 4.0


# ------------------------------------------------------------------ plans


def test_from_flat_half_action_buys_point_one():
    # 0.5 x 1 x 10,000 / 50,000 = 0.1 BTC
    p = _plan(0.5, "10000", "50000", "0")
    assert p.reason == "trade"
    assert p.target_exposure == 0.5
    assert p.target_qty == D("0.1")
    assert p.quantity == D("0.1")
    assert p.side == "BUY"
    assert p.reduce_only is False


def test_deadband_no_order():
    # current = 0.1 x 50,000 / 10,000 = 0.5; target 0.52; |0.52 - 0.5| = 0.02 < 0.05
    p = _plan(0.52, "10000", "50000", "0.1")
    assert p.reason == "deadband"
    assert p.quantity == 0
    assert p.side is None
    assert p.target_qty == D("0.1")  # stays at the current position
    # just outside: target 0.56, |0.56 - 0.5| = 0.06 >= 0.05 -> 0.56 x 10,000 / 50,000 = 0.112
    p = _plan(0.56, "10000", "50000", "0.1")
    assert p.reason == "trade"
    assert p.quantity == D("0.012")


def test_rounding_is_toward_zero_both_sides():
    # 0.333 x 10,000 / 50,000 = 0.0666 -> 0.066 (not 0.067)
    p = _plan(0.333, "10000", "50000", "0")
    assert p.target_qty == D("0.066") and p.quantity == D("0.066")
    # -0.0666 -> -0.066 (toward zero, not -0.067)
    p = _plan(-0.333, "10000", "50000", "0")
    assert p.target_qty == D("-0.066") and p.quantity == D("-0.066")
    assert p.side == "SELL"


def test_on_target():
    # deadband 0: position 0.066 already is round_down(0.0666)
    p = _plan(0.333, "10000", "50000", "0.066", mapping=ActionMapping(deadband=0.0))
    assert p.reason == "on_target"
    assert p.quantity == 0
    assert p.target_qty == D("0.066")


def test_reduce_below_min_notional_is_not_skipped():
    # current = 0.002 x 40,000 / 100 = 0.8; target 0.4 -> 0.4 x 100 / 40,000 = 0.001
    # order -0.001 BTC = 40 USDT notional < 50, but it only reduces
    p = _plan(0.4, "100", "40000", "0.002")
    assert p.reason == "trade"
    assert p.reduce_only is True
    assert p.quantity == D("-0.001")
    assert p.side == "SELL"
    assert p.target_qty == D("0.001")


def test_opening_below_min_notional_is_skipped():
    # 0.5 x 100 / 40,000 = 0.00125 -> 0.001 BTC = 40 USDT < 50
    p = _plan(0.5, "100", "40000", "0")
    assert p.reason == "below_min_notional"
    assert p.quantity == 0
    assert p.reduce_only is False
    assert p.target_qty == D("0.001")
    # at 50,000: 0.001 x 50,000 = 50 = the minimum -> trades
    p = _plan(0.5, "100", "50000", "0")
    assert p.reason == "trade" and p.quantity == D("0.001")


def test_increase_below_min_notional_is_skipped():
    # long 0.001 (current 0.4) -> target 0.9: 0.9 x 100 / 40,000 = 0.00225 -> 0.002;
    # order +0.001 = 40 USDT, increases the position -> skipped
    p = _plan(0.9, "100", "40000", "0.001")
    assert p.reason == "below_min_notional"
    assert p.quantity == 0


def test_close_to_flat_is_reduce_only():
    # target 0 from long 0.1: sell 0.1, reduce-only
    p = _plan(0.0, "10000", "50000", "0.1")
    assert p.reason == "trade"
    assert p.quantity == D("-0.1")
    assert p.target_qty == 0
    assert p.reduce_only is True
    # and from short
    p = _plan(0.0, "10000", "50000", "-0.1")
    assert p.quantity == D("0.1") and p.reduce_only is True and p.side == "BUY"


def test_flip_long_to_short_is_not_reduce_only():
    # long 0.1 -> target -0.5 x 10,000 / 50,000 = -0.1: sell 0.2
    p = _plan(-0.5, "10000", "50000", "0.1")
    assert p.reason == "trade"
    assert p.target_qty == D("-0.1")
    assert p.quantity == D("-0.2")
    assert p.reduce_only is False
    assert p.side == "SELL"


def test_same_side_increase_is_not_reduce_only():
    # long 0.05 (current 0.25) -> target 0.5 -> 0.1: buy 0.05
    p = _plan(0.5, "10000", "50000", "0.05")
    assert p.quantity == D("0.05") and p.reduce_only is False


def test_order_above_max_qty_is_clamped():
    # 1 x 10,000,000 / 50,000 = 200 BTC > max qty 120
    p = _plan(1.0, "10000000", "50000", "0")
    assert p.reason == "trade"
    assert p.quantity == D("120")
    assert p.target_qty == D("120")  # what the position will be after this order
    p = _plan(-1.0, "10000000", "50000", "0")
    assert p.quantity == D("-120") and p.target_qty == D("-120")
    # flip from long 100 to short 100 (order -200) -> -120, position ends at -20
    p = _plan(-0.5, "10000000", "50000", "100")
    assert p.quantity == D("-120") and p.target_qty == D("-20")


@pytest.mark.parametrize("equity", ["0", "-5", "-10000"])
def test_no_equity(equity):
    p = _plan(0.5, equity, "50000", "0.1")
    assert p.reason == "no_equity"
    assert p.quantity == 0
    assert p.target_qty == D("0.1")
    assert p.side is None


def test_below_min_qty_with_step_finer_than_min_qty():
    f = SymbolFilters(
        symbol="TEST", tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.01"),
        max_qty=D("100"), min_notional=D("5"),
    )
    # target 0.12 x 100 / 1,000 = 0.012 (on grid 0.01 + 2 x 0.001); from 0.015 the order
    # is -0.003 < min qty 0.01
    p = _plan(0.12, "100", "1000", "0.015", mapping=ActionMapping(deadband=0.0), filters=f)
    assert p.reason == "below_min_qty"
    assert p.quantity == 0
    assert p.target_qty == D("0.012")


def test_side_property():
    def plan(q):
        return OrderPlan(0.0, 0.0, D(0), D(q), False, "trade")

    assert plan("0.5").side == "BUY"
    assert plan("-0.001").side == "SELL"
    assert plan("0").side is None


def test_to_metadata():
    assert ActionMapping(max_leverage=2.0, deadband=0.1).to_metadata() == {
        "max_leverage": 2.0, "deadband": 0.1,
    }


@pytest.mark.parametrize(
    "kwargs", [
        {"max_leverage": 0.0}, {"max_leverage": -1.0},
        {"deadband": -0.01}, {"deadband": 1.0}, {"deadband": 1.5}, {"deadband": float("nan")},
    ],
)
def test_invalid_constructor_args(kwargs):
    with pytest.raises(ValueError):
        ActionMapping(**kwargs)


def test_nan_max_leverage_is_rejected():
    with pytest.raises(ValueError):
        ActionMapping(max_leverage=float("nan"))


# ------------------------------------------------------------------ properties

# Bounded so no order can exceed max qty 120: |target| <= 3 x 20,000 / 1,000 = 60 BTC and
# |position| <= 60 BTC, hence |order| <= 120.
_actions = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
_equities = st.decimals(min_value=D("1"), max_value=D("20000"), places=2)
_prices = st.decimals(min_value=D("1000"), max_value=D("150000"), places=1)
_positions = st.integers(min_value=-60_000, max_value=60_000).map(lambda k: k * STEP)
_mappings = st.builds(
    ActionMapping,
    max_leverage=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    deadband=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
)


@settings(max_examples=400, deadline=None)
@given(_mappings, _actions, _equities, _prices, _positions)
def test_result_never_exceeds_target_and_is_on_step(mapping, action, equity, price, position):
    p = mapping.plan(action, equity, price, position, F)
    result = position + p.quantity
    # quantity is 0 or a valid, on-step order size
    assert p.quantity == 0 or F.is_valid_qty(abs(p.quantity))
    assert result % STEP == 0
    if p.reason in ("trade", "on_target"):
        # exact Decimal bound: |position after| <= |target exposure x equity / price|
        bound = abs(D(repr(p.target_exposure)) * equity / price)
        assert abs(result) <= bound
        assert result == p.target_qty
        # and it is the largest on-step size under the bound (rounding toward zero)
        assert abs(result) + STEP > bound
    else:
        assert p.quantity == 0
        assert p.reason in ("deadband", "below_min_qty", "below_min_notional")
    if p.quantity != 0:
        assert p.reason == "trade"
        if p.reduce_only:
            assert abs(result) < abs(position) and result * position >= 0
        else:
            assert abs(p.quantity) * price >= F.min_notional


@settings(max_examples=200, deadline=None)
@given(
    _mappings, _actions,
    st.decimals(min_value=D("1"), max_value=D("50000000"), places=2),
    _prices, st.integers(min_value=-300_000, max_value=300_000).map(lambda k: k * STEP),
)
def test_order_never_exceeds_max_qty(mapping, action, equity, price, position):
    p = mapping.plan(action, equity, price, position, F)
    assert abs(p.quantity) <= F.max_qty
    assert p.quantity == 0 or F.is_valid_qty(abs(p.quantity))
    if p.quantity != 0:
        assert p.target_qty == position + p.quantity
        # the order always moves toward the (rounded) target
        wanted = F.round_qty_down(D(repr(p.target_exposure)) * equity / price)
        assert abs(wanted - p.target_qty) < abs(wanted - position)


@pytest.mark.parametrize("action", [float("nan"), float("inf")])
def test_non_finite_action_is_refused_before_sizing(action):
    mapping = ActionMapping(max_leverage=1.0)
    with pytest.raises(ValueError, match="non-finite action"):
        mapping.plan(action, D("10000"), D("50000"), D("0"), SymbolFilters.btcusdt_default())


@settings(max_examples=400, deadline=None)
@given(
    action=st.floats(-1, 1, allow_nan=False),
    equity=st.decimals("50", "1000000", places=2),
    price=st.decimals("1000", "150000", places=1),
    position_steps=st.integers(-5_000, 5_000),
    max_leverage=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
)
def test_every_order_the_mapping_sends_is_one_the_exchange_accepts(action, equity, price, position_steps, max_leverage):
    """Sizing invariants the exchange's filters would otherwise enforce with a rejection:
    never below min qty, never below min notional unless reduce-only, never off-step,
    never more exposure than requested."""
    filters = SymbolFilters.btcusdt_default()
    position = D(position_steps) * filters.step_size
    plan = ActionMapping(max_leverage=max_leverage, deadband=0.02).plan(action, equity, price, position, filters)
    if plan.quantity == 0:
        return
    assert filters.check_market_order(abs(plan.quantity), price, plan.reduce_only) is None
    assert abs(plan.quantity) % filters.step_size == 0
    result = position + plan.quantity
    requested = abs(D(repr(plan.target_exposure)) * equity / price)
    # Never beyond the request, unless the order only reduces an existing position.
    assert abs(result) <= requested or (plan.reduce_only and abs(result) < abs(position))
    if plan.reduce_only:
        assert abs(result) < abs(position) and result * position >= 0
