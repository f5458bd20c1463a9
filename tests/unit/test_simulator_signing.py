"""The simulator's request authentication against python-binance's own signing code.

Binance signs the RAW totalParams (query + body exactly as sent, cut before
``&signature=``); the simulator must accept what python-binance signs and, like
Binance, reject a body whose values the HTTP layer percent-encoded.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from binance import AsyncClient

from trader_core.simulator.api_errors import ApiError
from trader_core.simulator.auth import (
    check_api_key,
    check_signature,
    check_timestamp,
    parse_params,
    sign,
    signed_payload,
)

SECRET = "unit-test-secret"


async def _signed_post_body(**params) -> str:
    """The form body python-binance 1.0.37 sends for a signed POST (aiohttp urlencodes it)."""
    client = AsyncClient("unitKey", SECRET)
    try:
        kwargs = client._get_request_kwargs("post", True, data=dict(params))
    finally:
        await client.close_connection()
    return urlencode(kwargs["data"])


async def _signed_get_query(**params) -> str:
    client = AsyncClient("unitKey", SECRET)
    try:
        kwargs = client._get_request_kwargs("get", True, data=dict(params))
    finally:
        await client.close_connection()
    return kwargs["params"]


async def test_python_binance_post_signature_verifies():
    body = await _signed_post_body(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010",
                                   newClientOrderId="x-Cb7ytekJabc.def_1", reduceOnly="false")
    params = parse_params("", body)
    check_signature("", body, params, SECRET)  # no exception
    assert params["quantity"] == "0.010" and params["recvWindow"] == "10000"


async def test_python_binance_get_signature_verifies():
    query = await _signed_get_query(symbol="BTCUSDT", origClientOrderId="abc")
    check_signature(query, "", parse_params(query, ""), SECRET)


async def test_percent_encoded_value_fails_like_on_binance():
    # ':' is legal in a Binance client id, but aiohttp sends it as %3A while python-binance
    # signed the raw ':' -> the raw totalParams no longer match the signature: -1022.
    body = await _signed_post_body(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010",
                                   newClientOrderId="run:42")
    assert "%3A" in body
    with pytest.raises(ApiError) as info:
        check_signature("", body, parse_params("", body), SECRET)
    assert (info.value.code, info.value.status) == (-1022, 400)


def test_payload_is_raw_query_plus_body_cut_before_signature():
    assert signed_payload("a=1&b=2&signature=ff", "") == "a=1&b=2"
    assert signed_payload("a=1", "b=2&signature=ff") == "a=1b=2"  # Binance concatenates as is
    assert signed_payload("", "signature=ff") == ""


def test_query_wins_over_body_and_upper_case_hex_is_accepted():
    params = parse_params("side=SELL", "side=BUY&quantity=1")
    assert params == {"side": "SELL", "quantity": "1"}
    payload = "symbol=BTCUSDT&timestamp=1"
    query = f"{payload}&signature={sign(SECRET, payload).upper()}"
    check_signature(query, "", parse_params(query, ""), SECRET)


def test_missing_or_wrong_signature():
    with pytest.raises(ApiError) as missing:
        check_signature("a=1", "", {"a": "1"}, SECRET)
    assert missing.value.code == -1102
    query = "a=1&signature=" + sign("other-secret", "a=1")
    with pytest.raises(ApiError) as wrong:
        check_signature(query, "", parse_params(query, ""), SECRET)
    assert wrong.value.code == -1022


@pytest.mark.parametrize(
    ("offset", "window", "ok"),
    [
        (999, None, True),      # up to 1000 ms ahead is tolerated
        (1000, None, False),    # timestamp < serverTime + 1000 is required
        (-5000, None, True),    # default recvWindow 5000: exactly at the edge passes
        (-5001, None, False),
        (-10000, "10000", True),  # python-binance sends recvWindow=10000
        (-10001, "10000", False),
    ],
)
def test_timestamp_rule(offset, window, ok):
    server = 1_700_000_000_000
    params = {"timestamp": str(server + offset)}
    if window:
        params["recvWindow"] = window
    if ok:
        check_timestamp(params, server)
    else:
        with pytest.raises(ApiError) as info:
            check_timestamp(params, server)
        assert info.value.code == -1021


def test_timestamp_missing_and_recv_window_too_large():
    with pytest.raises(ApiError) as missing:
        check_timestamp({}, 1)
    assert missing.value.code == -1102
    with pytest.raises(ApiError) as large:
        check_timestamp({"timestamp": "1", "recvWindow": "60001"}, 1)
    assert large.value.code == -1131


def test_api_key_checks():
    check_api_key("goodKey1", "goodKey1")
    for header, code in ((None, -2015), ("", -2015), ("otherKey", -2015), ("bad-key", -2014), ("k y", -2014)):
        with pytest.raises(ApiError) as info:
            check_api_key(header, "goodKey1")
        assert (info.value.code, info.value.status) == (code, 401)
