"""Symbol filters: parsing exchangeInfo, rounding, and the error codes Binance would answer."""

import copy
import itertools
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trader_core.errors import ConfigError
from trader_core.exchanges.filters import SymbolFilters

# The BTCUSDT entry of exchangeInfo "symbols" from the reference (binance-usdm.md, section 2).
BTCUSDT_INFO = {
    "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING",
    "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
    "pricePrecision": 2, "quantityPrecision": 3, "triggerProtect": "0.0500", "marketTakeBound": "0.05",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MIN_NOTIONAL", "notional": "50"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
         "multiplierDecimal": "4"},
    ],
    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                   "TRAILING_STOP_MARKET"],
    "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
}


def _without(filter_type):
    info = copy.deepcopy(BTCUSDT_INFO)
    info["filters"] = [f for f in info["filters"] if f["filterType"] != filter_type]
    return info


def test_from_exchange_info_any_filter_order_uses_market_lot_size():
    expected = SymbolFilters.btcusdt_default()
    for order in itertools.permutations(BTCUSDT_INFO["filters"]):
        info = dict(BTCUSDT_INFO, filters=list(order))
        parsed = SymbolFilters.from_exchange_info(info)
        assert parsed == expected
    # MARKET_LOT_SIZE's maxQty (120), not LOT_SIZE's (1000)
    assert expected.max_qty == D("120")
    assert expected.tick_size == D("0.10")
    assert expected.min_notional == D("50")


def test_from_exchange_info_falls_back_to_lot_size():
    parsed = SymbolFilters.from_exchange_info(_without("MARKET_LOT_SIZE"))
    assert parsed.max_qty == D("1000")
    assert parsed.step_size == D("0.001")


@pytest.mark.parametrize("missing", ["PRICE_FILTER", "MIN_NOTIONAL"])
def test_missing_filter_raises_config_error(missing):
    with pytest.raises(ConfigError, match=missing):
        SymbolFilters.from_exchange_info(_without(missing))


def test_missing_both_lot_filters_raises_config_error():
    info = _without("MARKET_LOT_SIZE")
    info["filters"] = [f for f in info["filters"] if f["filterType"] != "LOT_SIZE"]
    with pytest.raises(ConfigError, match="LOT_SIZE"):
        SymbolFilters.from_exchange_info(info)


def test_missing_key_or_bad_value_raises_config_error():
    info = copy.deepcopy(BTCUSDT_INFO)
    price = next(f for f in info["filters"] if f["filterType"] == "PRICE_FILTER")
    del price["tickSize"]
    with pytest.raises(ConfigError, match="tickSize"):
        SymbolFilters.from_exchange_info(info)
    info = copy.deepcopy(BTCUSDT_INFO)
    notional = next(f for f in info["filters"] if f["filterType"] == "MIN_NOTIONAL")
    notional["notional"] = "fifty"
    with pytest.raises(ConfigError):
        SymbolFilters.from_exchange_info(info)


# ---------------------------------------------------------------- check_market_order

BTC = SymbolFilters.btcusdt_default()


@pytest.mark.parametrize(
    "filters, qty, mark, reduce_only, code",
    [
        (BTC, D("0"), D("65000"), False, -4003),
        (BTC, D("-0.002"), D("65000"), False, -4003),
        (BTC, D("0.0015"), D("65000"), False, -1111),  # 4 decimals, step allows 3
        (BTC, D("120.001"), D("65000"), False, -4005),
        (BTC, D("0.001"), D("40000"), False, -4164),  # 0.001*40000 = 40 < 50
        (BTC, D("0.001"), D("40000"), True, None),  # reduce-only is exempt
        (BTC, D("0.001"), D("50000"), False, None),  # exactly 50 is enough
        (BTC, D("0.0020"), D("65000"), False, None),  # trailing zero is not extra precision
        (BTC, D("120"), D("65000"), False, None),
        # minQty 0.01 with step 0.001: 0.005 is on precision but below the minimum
        (SymbolFilters("X", D("0.1"), D("0.001"), D("0.01"), D("10"), D("5")), D("0.005"), D("1000"), False, -4004),
        # step 0.005: 0.007 has allowed precision but is off the step grid
        (SymbolFilters("X", D("0.1"), D("0.005"), D("0.005"), D("10"), D("5")), D("0.007"), D("1000"), False, -4023),
    ],
)
def test_check_market_order_codes(filters, qty, mark, reduce_only, code):
    assert filters.check_market_order(qty, mark, reduce_only) == code


def test_round_qty_down_examples():
    assert BTC.round_qty_down(D("0.12345")) == D("0.123")
    assert BTC.round_qty_down(D("-0.12399")) == D("-0.123")
    assert BTC.round_qty_down(D("0.0009")) == 0  # below minQty: nothing tradable
    odd = SymbolFilters("X", D("0.1"), D("0.01"), D("0.015"), D("10"), D("0"))
    # grid is 0.015 + k*0.01, anchored at minQty
    assert odd.round_qty_down(D("0.034")) == D("0.025")
    assert BTC.clamp_qty(D("500")) == D("120")
    assert BTC.clamp_qty(D("-500")) == D("-120")


def test_round_price_directions():
    assert BTC.round_price(D("65000.17"), "down") == D("65000.1")
    assert BTC.round_price(D("65000.11"), "up") == D("65000.2")
    assert BTC.round_price(D("65000.17"), "nearest") == D("65000.2")
    assert BTC.round_price(D("65000.14"), "nearest") == D("65000.1")
    assert BTC.round_price(D("65000.10"), "up") == D("65000.1")
    with pytest.raises(ValueError):
        BTC.round_price(D("1"), "sideways")


def test_validity_and_min_notional_helpers():
    assert BTC.is_valid_qty(D("0.005"))
    assert BTC.is_valid_qty(D("-0.005"))  # sign ignored
    assert not BTC.is_valid_qty(D("0.0055"))
    assert not BTC.is_valid_qty(D("0"))
    assert not BTC.is_valid_qty(D("120.001"))
    assert BTC.meets_min_notional(D("-0.001"), D("50000"))
    assert not BTC.meets_min_notional(D("0.001"), D("49999.9"))


def test_dict_round_trip_with_strings():
    data = BTC.to_dict()
    assert data == {
        "symbol": "BTCUSDT", "tick_size": "0.10", "step_size": "0.001", "min_qty": "0.001",
        "max_qty": "120", "min_notional": "50",
    }
    assert SymbolFilters.from_dict(data) == BTC


def test_from_dict_rejects_missing_and_float_values():
    data = BTC.to_dict()
    del data["step_size"]
    with pytest.raises(ConfigError, match="step_size"):
        SymbolFilters.from_dict(data)
    data = BTC.to_dict()
    data["min_qty"] = 0.001
    with pytest.raises(ConfigError):
        SymbolFilters.from_dict(data)


def test_invalid_filter_values_raise_config_error():
    with pytest.raises(ConfigError):
        SymbolFilters("X", D("0.1"), D("0"), D("0.001"), D("1"), D("5"))
    with pytest.raises(ConfigError):
        SymbolFilters("X", D("0.1"), D("0.001"), D("2"), D("1"), D("5"))


# ---------------------------------------------------------------- properties


@st.composite
def symbol_filters(draw):
    step = D(draw(st.sampled_from([1, 2, 5, 10, 25]))).scaleb(-draw(st.integers(0, 6)))
    # sometimes put minQty off the zero-anchored grid so "relative to minQty" matters
    min_qty = step * draw(st.integers(1, 20)) + draw(st.sampled_from([D(0), step / 4]))
    max_qty = min_qty + step * draw(st.integers(0, 10**6)) + draw(st.sampled_from([D(0), step / 2]))
    return SymbolFilters("TESTUSDT", D("0.01"), step, min_qty, max_qty, D("5"))


quantities = st.decimals(
    min_value=D("-100000"), max_value=D("100000"), places=8, allow_nan=False, allow_infinity=False
)
prices = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=4)


def _on_grid(f, size):
    return size >= f.min_qty and (size - f.min_qty) % f.step_size == 0


@given(symbol_filters(), quantities)
def test_round_qty_down_never_increases_and_lands_on_step(f, qty):
    rounded = f.round_qty_down(qty)
    assert abs(rounded) <= abs(qty)
    if abs(qty) < f.min_qty:
        assert rounded == 0
    else:
        assert _on_grid(f, abs(rounded))
        assert (rounded > 0) == (qty > 0)
        assert abs(qty) - abs(rounded) < f.step_size  # the largest grid value not above
        assert f.round_qty_down(rounded) == rounded


@given(symbol_filters(), quantities)
def test_clamp_qty_never_exceeds_max_and_is_orderable(f, qty):
    clamped = f.clamp_qty(qty)
    assert abs(clamped) <= f.max_qty
    assert abs(clamped) <= abs(qty)
    if abs(qty) >= f.min_qty:
        assert f.is_valid_qty(clamped)
        assert f.check_market_order(abs(clamped), D("1e9"), reduce_only=False) is None
    else:
        assert clamped == 0


@given(symbol_filters(), quantities.filter(lambda q: q > 0))
def test_check_market_order_agrees_with_is_valid_qty(f, qty):
    # at a huge mark price the notional rule never fires, so only the qty rules remain
    accepted = f.check_market_order(qty, D("1e12"), reduce_only=False) is None
    assert accepted == f.is_valid_qty(qty)


@given(prices)
def test_round_price_brackets_price_on_ticks(price):
    down = BTC.round_price(price, "down")
    up = BTC.round_price(price, "up")
    nearest = BTC.round_price(price, "nearest")
    assert down <= price <= up
    assert up - down in (0, BTC.tick_size)
    assert nearest in (down, up)
    for value in (down, up, nearest):
        assert value % BTC.tick_size == 0


@given(symbol_filters())
def test_dict_round_trip_property(f):
    assert SymbolFilters.from_dict(f.to_dict()) == f
