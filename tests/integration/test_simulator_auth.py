"""Every signed route refuses what Binance refuses, over real HTTP.

The route table in ``rest.py`` is the list of what must be protected, so the test
iterates it: a SIGNED route added tomorrow is covered without anyone remembering to.
Requests are built by hand (aiohttp, HMAC computed here, not with the simulator's
own signing code) so each one is wrong in exactly one way: no signature (-1102), a
wrong signature (-1022), no timestamp (-1102), a stale timestamp (-1021), no API
key (-2015, for USER_STREAM routes too).
"""

from __future__ import annotations

import hashlib
import hmac

import aiohttp

from trader_core.simulator.rest import SIGNED, USER_STREAM

from sim_client import KEY, SECRET


def _sign(payload: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def _send(session: aiohttp.ClientSession, sim, method: str, path: str, payload: str,
                with_key: bool = True) -> tuple[int, dict]:
    """``payload`` (already ``k=v&...``) in the query string for GET/DELETE, else as the
    form body - where python-binance puts signed parameters (reference §1)."""
    headers = {"X-MBX-APIKEY": KEY} if with_key else {}
    url = sim.rest_base + path
    if method in ("GET", "DELETE"):
        kwargs = {"params": None}
        url = f"{url}?{payload}" if payload else url
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        kwargs = {"data": payload}
    async with session.request(method, url, headers=headers, **kwargs) as response:
        return response.status, await response.json()


def _routes(sim, security: str) -> list[tuple[str, str]]:
    return sorted(key for key, route in sim.rest.routes.items() if route.security == security)


async def test_every_signed_route_refuses_bad_signatures_and_timestamps(sim):
    routes = _routes(sim, SIGNED)
    # The table really is what is iterated: the routes that move money are in it.
    assert {("POST", "/fapi/v1/order"), ("DELETE", "/fapi/v1/allOpenOrders"), ("GET", "/fapi/v2/account"),
            ("GET", "/fapi/v3/positionRisk"), ("POST", "/fapi/v1/leverage")} <= set(routes)
    assert len(routes) >= 16
    seen: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    async with aiohttp.ClientSession() as session:
        for method, path in routes:
            now = sim.server_time_ms()
            fresh = f"symbol=BTCUSDT&timestamp={now}&recvWindow=10000"
            stale = f"symbol=BTCUSDT&timestamp={now - 20_000}&recvWindow=10000"
            no_timestamp = "symbol=BTCUSDT&recvWindow=10000"
            cases = [
                await _send(session, sim, method, path, fresh),  # no signature
                await _send(session, sim, method, path, f"{fresh}&signature={_sign(fresh, 'not-the-secret')}"),
                await _send(session, sim, method, path, f"{no_timestamp}&signature={_sign(no_timestamp)}"),
                await _send(session, sim, method, path, f"{stale}&signature={_sign(stale)}"),
                await _send(session, sim, method, path, f"{fresh}&signature={_sign(fresh)}", with_key=False),
            ]
            seen[(method, path)] = [(status, body.get("code"), body.get("msg")) if isinstance(body, dict)
                                    else (status, None, f"served: {body}") for status, body in cases]
    expected = [
        (400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."),
        (400, -1022, "Signature for this request is not valid."),
        (400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."),
        (400, -1021, "Timestamp for this request is outside of the recvWindow."),
        (401, -2015, "Invalid API-key, IP, or permissions for action."),
    ]
    wrong = {route: got for route, got in seen.items() if got != expected}
    assert wrong == {}, f"signed routes that accept what Binance refuses: {wrong}"
    assert sim.orders_received and not any(r.accepted for r in sim.orders_received)
    assert sim.exchange.account.leverage == 1 and sim.exchange.orders == {}  # nothing was processed


async def test_a_correctly_signed_request_passes_the_same_checks(sim):
    # The control: the requests above fail for the one thing that is wrong, not for how
    # they are built - the same construction, signed and fresh, is served.
    async with aiohttp.ClientSession() as session:
        payload = f"symbol=BTCUSDT&timestamp={sim.server_time_ms()}&recvWindow=10000"
        status, body = await _send(session, sim, "GET", "/fapi/v2/account", f"{payload}&signature={_sign(payload)}")
        assert status == 200 and body["canTrade"] is True
        order = (f"newClientOrderId=auth-1&quantity=0.010&side=BUY&symbol=BTCUSDT"
                 f"&timestamp={sim.server_time_ms()}&type=MARKET")
        status, body = await _send(session, sim, "POST", "/fapi/v1/order", f"{order}&signature={_sign(order)}")
        assert (status, body["clientOrderId"]) == (200, "auth-1")


async def test_every_user_stream_route_needs_the_api_key(sim):
    routes = _routes(sim, USER_STREAM)
    assert {("POST", "/fapi/v1/listenKey"), ("PUT", "/fapi/v1/listenKey"), ("DELETE", "/fapi/v1/listenKey")} \
        <= set(routes)
    async with aiohttp.ClientSession() as session:
        answers = {route: await _send(session, sim, *route, "", with_key=False) for route in routes}
        assert {route: (status, body["code"]) for route, (status, body) in answers.items()} == \
            {route: (401, -2015) for route in routes}
        # With the key (and no signature: these routes are not signed) a key is issued.
        status, body = await _send(session, sim, "POST", "/fapi/v1/listenKey", "")
        assert status == 200 and len(body["listenKey"]) == 64
