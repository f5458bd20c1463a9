"""Stream and market faults: listenKey expiry, user-stream drops, the 24-hour cut, price shocks.

Each test arms the fault on a manual-mode simulator, watches it from real clients
(plain ``websockets`` for exact close codes, python-binance where its reconnect
logic is the point), checks what the account and REST say meanwhile, and that
``faults.injected`` recorded it. Connection ages are moved with the server clock's
skew, never by sleeping.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import websockets

from trader_core.simulator import LoopbackExchange

from sim_client import (
    KEY, RECV, SECRET, START, api_error, market, nothing_arrives, quick, recv, recv_json, socket_manager,
)

MARK_URL = "market/ws/btcusdt@markPrice@1s"


async def closed_with(ws) -> int:
    """The close code the server sent (after whatever was still queued), within a bound."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), RECV)
    return closed.value.rcvd.code


# ---------------------------------------------------------------------------- listen keys


async def test_expired_listen_key_says_so_then_closes_and_refuses_keepalive(sim, client):
    key = await client.futures_stream_get_listen_key()
    async with websockets.connect(sim.ws_base + "private/ws?listenKey=" + key) as ws:
        assert sim.faults.expire_listen_key() == key
        expired = await recv_json(ws)
        assert await closed_with(ws) == 1000
    assert set(expired) == {"e", "E", "listenKey"}
    assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key) and isinstance(expired["E"], int)
    assert (await api_error(client.futures_stream_keepalive(key))).code == -1125
    await market(client, "BUY", "0.010")  # no connection may receive it any more
    async with websockets.connect(sim.ws_base + "private/ws?listenKey=" + key) as late:
        assert "does not exist" in (await recv_json(late))["m"]
    fresh = await client.futures_stream_get_listen_key()
    assert fresh != key and await client.futures_stream_keepalive(fresh) == {"listenKey": fresh}
    assert sim.faults.injected == [("expire_listen_key", key)]
    with pytest.raises(ValueError, match="no active listen key"):
        sim.faults.expire_listen_key("never-issued")


# ---------------------------------------------------------------------------- user stream drop


async def test_dropped_user_stream_keeps_its_key_and_python_binance_reconnects(sim, client):
    key = await client.futures_stream_get_listen_key()
    async with websockets.connect(sim.ws_base + "private/ws?listenKey=" + key) as plain, \
            websockets.connect(sim.ws_base + MARK_URL) as mark_ws:
        bsm = socket_manager(client, sim)
        user = quick(bsm.futures_user_socket())
        user._get_reconnect_wait = lambda attempts: 0.05  # instead of 1-2 s
        async with user:
            await sim.faults.drop_user_streams(code=4001)
            assert await closed_with(plain) == 4001
            note = await recv(user)
            assert note["e"] == "error" and note["type"] == "ConnectionClosedError"
            for _ in range(60):  # python-binance reconnects with the same, still valid key
                if sim.streams.user_connections:
                    break
                await asyncio.sleep(0.05)
            assert [c.listen_key for c in sim.streams.user_connections] == [key]
            await market(client, "BUY", "0.010", newClientOrderId="after-drop")
            event = await recv(user)
            while event.get("e") == "error":  # "Reconnecting..." notes
                event = await recv(user)
        assert (event["e"], event["o"]["c"]) == ("ORDER_TRADE_UPDATE", "after-drop")
        assert await client.futures_stream_keepalive(key) == {"listenKey": key}  # still valid
        await sim.step_update()
        assert (await recv_json(mark_ws))["e"] == "markPriceUpdate"  # market streams untouched
    assert sim.faults.injected == [("drop_user_streams", "4001")]


# ---------------------------------------------------------------------------- 24-hour cut


async def test_cut_closes_only_connections_older_than_the_age_given(sim, client):
    key = await client.futures_stream_get_listen_key()
    old_market = await websockets.connect(sim.ws_base + MARK_URL)
    old_user = await websockets.connect(sim.ws_base + "private/ws?listenKey=" + key)
    sim.faults.clock_skew_ms = 10_000  # ten seconds later on the server clock
    young = await websockets.connect(sim.ws_base + MARK_URL)
    try:
        await sim.faults.cut_connections_older_than(5)
        assert await closed_with(old_market) == 1001
        assert await closed_with(old_user) == 1001
        await sim.step_update()
        assert (await recv_json(young))["e"] == "markPriceUpdate"  # five seconds old: kept
    finally:
        await young.close()
    assert sim.faults.injected == [("cut_old_connections", "2 older than 5s code 1001")]
    assert sim.listen_keys.is_active(key)  # the cut closes connections, not keys


async def test_binance_24_hour_rule_is_applied_as_the_market_moves(candles):
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START) as sim:
        async with websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as day_old:
            sim.faults.clock_skew_ms = 24 * 3_600_000 + 1_000  # a day and a second later
            async with websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as fresh:
                await sim.step_update()
                assert (await recv_json(day_old))["e"] == "kline"  # the update goes out, then the cut
                assert await closed_with(day_old) == 1001
                assert (await recv_json(fresh))["e"] == "kline"
        assert sim.faults.injected == []  # a rule of the exchange, not an injected fault
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START,
                                max_connection_age_s=30) as short:
        async with websockets.connect(short.ws_base + MARK_URL) as ws:
            short.faults.clock_skew_ms = 31_000
            await short.step_update()
            await recv_json(ws)
            assert await closed_with(ws) == 1001


# ---------------------------------------------------------------------------- price shock


async def test_price_shock_moves_mark_fills_and_valuations_until_the_next_update(sim, client):
    await market(client, "SELL", "0.100")  # a short at 41721.2
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                      quantity="0.010", price="38000.0", reduceOnly="true",
                                      newClientOrderId="dip-buy")
    async with websockets.connect(sim.ws_base + MARK_URL) as marks, \
            websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as klines:
        crashed = sim.faults.price_shock(fraction="-0.1")  # 41721.2 x 0.9 = 37549.08 -> 37549.1
        assert crashed == Decimal("37549.1") == sim.price
        pushed = await recv_json(marks)  # at once: no market update happened
        assert Decimal(pushed["p"]) == crashed and await nothing_arrives(klines)  # the candle is untouched
        (risk,) = await client.futures_position_information()
        assert Decimal(risk["markPrice"]) == crashed
        # the dip buy closed 0.010 of the short at 38000 when the shock crossed it: 0.090 left
        assert Decimal(risk["unRealizedProfit"]) == (crashed - Decimal("41721.2")) * Decimal("-0.090")
        account = await client.futures_account()
        assert Decimal(account["totalUnrealizedProfit"]) == Decimal(risk["unRealizedProfit"])
        dip = await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="dip-buy")
        assert (dip["status"], dip["avgPrice"]) == ("FILLED", "38000.00")  # the shock crossed it: its own price
        cover = await market(client, "BUY", "0.010", reduceOnly="true")
        assert Decimal(cover["avgPrice"]) == crashed  # a market order fills at the shocked price
        assert sim.exchange.account.realized_pnl == (Decimal("41721.2") - Decimal("38000")) * Decimal("0.010") \
            + (Decimal("41721.2") - crashed) * Decimal("0.010")
        assert Decimal((await client.futures_symbol_ticker(symbol="BTCUSDT"))["price"]) == crashed
        assert Decimal((await client.futures_mark_price(symbol="BTCUSDT"))["markPrice"]) == crashed

        await sim.step_update()  # the next market update ends the shock
        kline = await recv_json(klines)
        after = await recv_json(marks)
    real = sim.market.forming.close
    assert sim.market.shock_price is None and sim.price == real
    assert Decimal(after["p"]) == real == Decimal(kline["k"]["c"])
    assert Decimal(kline["k"]["l"]) > crashed  # the kline never saw the shock
    assert sim.faults.injected == [("price_shock", "37549.10")]


async def test_end_price_shock_pushes_the_mark_back_at_once(sim):
    before = sim.price
    async with websockets.connect(sim.ws_base + "market/stream?streams=btcusdt@markPrice") as marks:
        assert sim.faults.price_shock(50000) == Decimal("50000")
        spike = await recv_json(marks)
        assert sim.faults.end_price_shock() is True
        back = await recv_json(marks)
        assert sim.faults.end_price_shock() is False  # nothing in force
        assert await nothing_arrives(marks)
    assert Decimal(spike["data"]["p"]) == Decimal("50000") and Decimal(back["data"]["p"]) == before == sim.price
    assert sim.faults.injected == [("price_shock", "50000.00"), ("end_price_shock", "")]


async def test_price_shock_arguments_are_checked(sim):
    with pytest.raises(ValueError, match="exactly one"):
        sim.faults.price_shock()
    with pytest.raises(ValueError, match="exactly one"):
        sim.faults.price_shock(40000, fraction="0.1")
    with pytest.raises(ValueError, match="positive price"):
        sim.faults.price_shock(fraction=-1)
    assert sim.faults.price_shock(41000.04) == Decimal("41000.0")  # onto the 0.10 tick
    assert sim.faults.injected == [("price_shock", "41000.00")]
