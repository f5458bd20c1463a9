"""The loopback Binance USD-M simulator, driven by the REAL python-binance client over 127.0.0.1.

Every test talks HTTP and websockets to a running ``LoopbackExchange`` exactly as
the live connector talks to Binance (``AsyncClient`` subclass with the URLs swapped,
``BinanceSocketManager`` with ``FSTREAM_TESTNET_URL`` swapped, plain ``websockets``).
The market is real: BTCUSDT 1h candles from the bundled data set, replayed in
manual mode, so nothing waits on the wall clock except short, bounded timeouts.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pandas as pd
import pytest
import websockets

from trader_core.accounting import price_to_decimal
from trader_core.exchanges.filters import SymbolFilters
from trader_core.simulator import LoopbackExchange, ReplayExhausted
from trader_core.simulator.main import main as sim_main

from sim_client import (
    KEY, RECV, SECRET, START, api_error, connect, market, nothing_arrives, quick, recv, recv_json, socket_manager,
)


# ---------------------------------------------------------------------------- fixtures and helpers


def row_of(candles: pd.DataFrame, i: int):
    return candles.iloc[i]


# ---------------------------------------------------------------------------- public REST


async def test_public_routes_answer_like_binance(sim, client, candles):
    assert await client.ping() == {}
    assert await client.futures_ping() == {}
    server_time = (await client.futures_time())["serverTime"]
    assert abs(server_time - time.time() * 1000) < 5000
    assert client.response.headers["Content-Type"].startswith("application/json")
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) >= 1

    info = await client.futures_exchange_info()
    (row,) = info["symbols"]
    assert row["symbol"] == "BTCUSDT" and row["orderTypes"][0] == "LIMIT"
    assert SymbolFilters.from_exchange_info(row) == SymbolFilters.btcusdt_default()
    assert {f["filterType"]: f for f in row["filters"]}["PRICE_FILTER"]["tickSize"] == "0.10"
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}

    premium = await client.futures_mark_price(symbol="BTCUSDT")
    # Candle 500 has not traded yet: the last price is candle 499's close.
    assert Decimal(premium["markPrice"]) == sim.price == price_to_decimal(row_of(candles, START - 1).close)


async def test_klines_show_closed_candles_and_the_forming_one(sim, client, candles):
    rows = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=3)
    assert [r[0] for r in rows] == [int(candles.open_time[i]) for i in (START - 2, START - 1, START)]
    closed, forming = rows[1], rows[2]
    c = row_of(candles, START - 1)
    # The bundled file's candle 499 is 41680.2 / 41721.2 / 41630.6 / 41721.2, 1345.919 BTC.
    assert closed[1:6] == ["41680.20", "41721.20", "41630.60", "41721.20", "1345.919"]
    assert [Decimal(x) for x in closed[1:6]] == [price_to_decimal(c[k]) for k in ("open", "high", "low", "close", "volume")]
    assert closed[6] == closed[0] + 3_600_000 - 1 and len(closed) == 12 and closed[11] == "0"
    assert isinstance(closed[8], int) and isinstance(closed[7], str)
    # The forming candle has no trade yet: flat at the last close (41721.2), no volume.
    assert forming[1] == forming[2] == forming[3] == forming[4] == "41721.20" and forming[5] == "0.000"

    await sim.step()
    rows = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=2)
    assert rows[0][0] == int(candles.open_time[START]) and rows[0][4] == "41644.90"  # now closed, full values
    assert rows[1][0] == int(candles.open_time[START + 1]) and rows[1][1:5] == ["41644.90"] * 4  # candle 500's close

    window = await client.futures_klines(symbol="BTCUSDT", interval="1h",
                                         startTime=int(candles.open_time[10]), endTime=int(candles.open_time[14]))
    assert [r[0] for r in window] == [int(t) for t in candles.open_time[10:15]]
    tail = await client.futures_klines(symbol="BTCUSDT", interval="1h", endTime=int(candles.open_time[20]), limit=2)
    assert [r[0] for r in tail] == [int(t) for t in candles.open_time[19:21]]
    future = await client.futures_klines(symbol="BTCUSDT", interval="1h", startTime=int(candles.open_time[START + 5]))
    assert future == []  # the replay never shows candles that have not started

    assert (await api_error(client.futures_klines(symbol="BTCUSDT", interval="5m"))).code == -1120
    assert (await api_error(client.futures_klines(symbol="ETHUSDT", interval="1h"))).code == -1121
    assert (await api_error(client.futures_klines(symbol="BTCUSDT", interval="1h", limit=1501))).code == -1130


async def test_historical_klines_pages_through_all_history(candles):
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=1200) as sim:
        async with connect(sim) as client:
            rows = await client.futures_historical_klines("BTCUSDT", "1h", int(candles.open_time[0]))
    # limit=1&startTime=0 probe, then pages of 1000: 1000 + 201 rows (1200 closed + the forming one).
    assert len(rows) == 1201
    assert [r[0] for r in rows] == [int(t) for t in candles.open_time[:1201]]


# ---------------------------------------------------------------------------- signed REST


async def test_account_routes_and_settings(sim, client):
    v2 = await client.futures_account()
    assert v2["canTrade"] is True and Decimal(v2["totalWalletBalance"]) == Decimal("10000")
    assert [p["symbol"] for p in v2["positions"]] == ["BTCUSDT"] and v2["positions"][0]["leverage"] == "1"
    v3 = await client.futures_account(version=3)
    assert "feeTier" not in v3 and v3["positions"] == [] and v3["assets"][0]["asset"] == "USDT"
    balance = await client.futures_account_balance()
    assert balance[0]["asset"] == "USDT" and balance[0]["balance"] == "10000.00000000"
    assert Decimal(balance[0]["availableBalance"]) == Decimal("10000")

    assert await client.futures_position_information() == []  # v3: flat means []
    (v2_position,) = await client.futures_position_information(version=2)
    assert v2_position["marginType"] == "cross" and v2_position["positionAmt"] == "0.000"

    changed = await client.futures_change_leverage(symbol="BTCUSDT", leverage=5)
    assert changed["leverage"] == 5 and changed["symbol"] == "BTCUSDT"
    assert (await client.futures_position_information(version=2))[0]["leverage"] == "5"
    assert (await client.futures_symbol_config(symbol="BTCUSDT"))[0]["leverage"] == 5
    assert sim.exchange.account.leverage == 5
    error = await api_error(client.futures_change_leverage(symbol="BTCUSDT", leverage=126))
    assert error.code == -4028 and error.status_code == 400

    assert await client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED") == {"code": 200, "msg": "success"}
    again = await api_error(client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED"))
    assert again.code == -4046 and again.message == "No need to change margin type."
    assert (await client.futures_symbol_config())[0]["marginType"] == "ISOLATED"
    await client.futures_change_margin_type(symbol="BTCUSDT", marginType="CROSSED")
    assert await client.futures_get_position_mode() == {"dualSidePosition": False}


async def test_market_fill_and_partial_close_accounting_by_hand(sim, client):
    # Candle 499 closed at 41721.2 and candle 500 has not traded yet: a market order fills there.
    assert sim.price == Decimal("41721.2")
    buy = await market(client, "BUY", "0.01")
    assert buy["status"] == "FILLED" and buy["avgPrice"] == "41721.20" and buy["executedQty"] == "0.010"
    assert buy["cumQuote"] == "417.21200"  # 0.01 * 41721.2
    assert client.response.headers["X-MBX-ORDER-COUNT-1M"] == "1"
    # fee = 0.01 * 41721.2 * 0.0005 = 0.208606 -> wallet 10000 - 0.208606 = 9999.791394
    balance = (await client.futures_account_balance())[0]
    assert Decimal(balance["balance"]) == Decimal("9999.791394")
    (pos,) = await client.futures_position_information()
    assert Decimal(pos["positionAmt"]) == Decimal("0.01") and Decimal(pos["entryPrice"]) == Decimal("41721.2")

    closed = await sim.step()
    assert closed.open_time == sim.market.open_times[START] and sim.current_index == START + 1
    # Candle 500 closed at 41644.9: unrealised = (41644.9 - 41721.2) * 0.01 = -0.763
    assert sim.price == Decimal("41644.9")
    (pos,) = await client.futures_position_information()
    assert Decimal(pos["unRealizedProfit"]) == Decimal("-0.763")

    sell = await market(client, "SELL", "0.004", reduceOnly="true")
    assert sell["status"] == "FILLED" and sell["reduceOnly"] is True and sell["avgPrice"] == "41644.90"
    # realised = (41644.9 - 41721.2) * 0.004 = -0.3052
    # fee      = 0.004 * 41644.9 * 0.0005 = 0.0832898
    # wallet   = 9999.791394 - 0.3052 - 0.0832898 = 9999.4029042
    balance = (await client.futures_account_balance())[0]
    assert Decimal(balance["balance"]) == Decimal("9999.4029042")
    (pos,) = await client.futures_position_information()
    assert Decimal(pos["positionAmt"]) == Decimal("0.006")
    assert Decimal(pos["entryPrice"]) == Decimal("41721.2")  # a partial close keeps the entry
    # unrealised on the rest = (41644.9 - 41721.2) * 0.006 = -0.4578
    assert Decimal(pos["unRealizedProfit"]) == Decimal("-0.4578")
    account = await client.futures_account()
    # equity = wallet + unrealised = 9999.4029042 - 0.4578 = 9998.9451042
    assert Decimal(account["totalMarginBalance"]) == Decimal("9998.9451042")
    assert sim.exchange.account.realized_pnl == Decimal("-0.3052")
    assert [r.accepted for r in sim.orders_received] == [True, True]
    assert sim.orders_received[1].reduce_only and sim.orders_received[1].quantity == Decimal("0.004")


async def test_right_after_a_close_the_price_is_that_close_not_the_next_open(sim, client, candles):
    # In half of the real candles the next open differs from the close (the first trade
    # of the new hour was a tick or more away). Between a close and the next candle's
    # first trade, Binance's last price is the close, and so is the simulator's: REST
    # klines, the mark price and a market order's fill all say the close.
    gaps = candles.open.to_numpy()[1:] != candles.close.to_numpy()[:-1]
    assert 0.4 < gaps.mean() < 0.6
    k = next(i for i in range(START, START + 50) if gaps[i])  # candle 502: close 41636.7, next open 41636.8
    close_k, open_next = price_to_decimal(row_of(candles, k).close), price_to_decimal(row_of(candles, k + 1).open)
    assert close_k != open_next
    async with websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as ws:
        await sim.step(k + 1 - START)
        for _ in range(4 * (k + 1 - START)):
            await recv_json(ws)
        assert sim.current_index == k + 1 and sim.price == close_k
        premium = await client.futures_mark_price(symbol="BTCUSDT")
        assert Decimal(premium["markPrice"]) == close_k
        *_, last_closed, forming = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=3)
        assert Decimal(last_closed[4]) == close_k and forming[0] == int(candles.open_time[k + 1])
        assert [Decimal(x) for x in forming[1:5]] == [close_k] * 4 and forming[5] == "0.000" and forming[8] == 0
        buy = await market(client, "BUY", "0.01")
        assert Decimal(buy["avgPrice"]) == close_k
        assert sim.exchange.account.entry_price == close_k
        # The next candle's first update is its first trade: the real open appears.
        await sim.step()
        first = (await recv_json(ws))["k"]
        assert first["t"] == int(candles.open_time[k + 1]) and not first["x"]
        assert Decimal(first["o"]) == open_next
    rows = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=2)
    assert Decimal(rows[0][1]) == open_next  # the closed candle keeps its real open


async def test_funding_settles_inside_the_candle_through_the_shared_accounting(candles):
    open_time = int(candles.open_time[START])
    funding = pd.DataFrame({"funding_time": [open_time], "funding_rate": [0.0001]})
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START, funding=funding) as sim:
        async with connect(sim) as client:
            await market(client, "BUY", "0.01")
            await sim.step()
            balance = (await client.futures_account_balance())[0]
    # wallet = 10000 - fee 0.208606 - funding 0.01 * 41721.2 (candle 500's open) * 0.0001 (= 0.0417212)
    assert Decimal(balance["balance"]) == Decimal("9999.7496728")


async def test_ack_response_then_query_by_either_id(sim, client):
    ack = await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002",
                                            newClientOrderId="ack-1")
    assert ack["status"] == "NEW" and ack["executedQty"] == "0.000" and ack["clientOrderId"] == "ack-1"
    by_id = await client.futures_get_order(symbol="BTCUSDT", orderId=ack["orderId"])
    by_client_id = await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="ack-1")
    assert by_id == by_client_id
    assert by_id["status"] == "FILLED" and by_id["avgPrice"] == "41721.20" and "time" in by_id
    missing = await api_error(client.futures_get_order(symbol="BTCUSDT", origClientOrderId="never-sent"))
    assert missing.code == -2013 and missing.message == "Order does not exist."
    auto = await market(client, "BUY", "0.002")
    assert auto["clientOrderId"].startswith("x-") and auto["orderId"] > ack["orderId"]


async def test_limit_orders_rest_cancel_and_cancel_all(sim, client):
    limit = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01")
    first = await client.futures_create_order(price="40000.00", newClientOrderId="lim-1", **limit)
    assert first["status"] == "NEW" and first["price"] == "40000.00"
    duplicate = await api_error(client.futures_create_order(price="40000.00", newClientOrderId="lim-1", **limit))
    assert duplicate.code == -4116 and duplicate.message == "ClientOrderId is duplicated."
    assert [o["clientOrderId"] for o in await client.futures_get_open_orders(symbol="BTCUSDT")] == ["lim-1"]
    assert (await client.futures_position_information())[0]["positionAmt"] == "0.000"  # listed: open order

    cancelled = await client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="lim-1")
    assert cancelled["status"] == "CANCELED"
    assert (await api_error(client.futures_cancel_order(symbol="BTCUSDT", orderId=first["orderId"]))).code == -2011
    assert await client.futures_get_open_orders(symbol="BTCUSDT") == []
    # lim-1 is no longer open, so its id may be used again.
    await client.futures_create_order(price="40000.00", newClientOrderId="lim-1", **limit)
    await client.futures_create_order(price="39000.00", **limit)
    assert len(await client.futures_get_open_orders()) == 2
    done = await client.futures_cancel_all_open_orders(symbol="BTCUSDT")
    assert done == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert await client.futures_get_open_orders(symbol="BTCUSDT") == []
    bad_tick = await api_error(client.futures_create_order(price="40000.05", **limit))
    assert bad_tick.code == -4014
    assert sim.exchange.account.trade_count == 0


async def test_resting_limit_fills_at_its_price_when_a_candle_crosses_it(sim, client):
    # Candle 500: open 41721.2, low 41618.0 -> a buy at 41650.0 is reached while it forms.
    buy = await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                            quantity="0.01", price="41650.0")
    far = await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                            quantity="0.01", price="60000.0")
    await sim.step()
    filled = await client.futures_get_order(symbol="BTCUSDT", orderId=buy["orderId"])
    assert filled["status"] == "FILLED" and filled["avgPrice"] == "41650.00" and filled["executedQty"] == "0.010"
    assert (await client.futures_get_order(symbol="BTCUSDT", orderId=far["orderId"]))["status"] == "NEW"
    (pos,) = await client.futures_position_information()
    assert Decimal(pos["entryPrice"]) == Decimal("41650") and Decimal(pos["positionAmt"]) == Decimal("0.01")
    # fee at the account's one rate: 0.01 * 41650 * 0.0005 = 0.20825
    assert sim.exchange.account.wallet_balance == Decimal("10000") - Decimal("0.20825")


async def test_order_rejections_with_binance_codes(sim, client):
    async def code_of(**params):
        base = dict(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        base.update(params)
        return (await api_error(client.futures_create_order(**base))).code

    assert await code_of(quantity="0.3") == -2019  # 0.3 * 41721.2 = 12516 > 10000 at leverage 1
    assert await code_of(side="SELL", reduceOnly="true") == -2022  # flat
    assert await code_of(quantity="0.001") == -4164  # notional 41.72 < 50
    assert await code_of(quantity="0.0001") == -1111
    assert await code_of(quantity="0") == -4003
    assert await code_of(quantity="121") == -4005
    assert await code_of(type="FOO") == -1116
    assert await code_of(side="HOLD") == -1117
    assert await code_of(symbol="ETHUSDT") == -1121
    # Booleans are the strings "true"/"false" (reference §1): a bare Python True is sent as "True".
    assert await code_of(side="SELL", reduceOnly=True) == -1130
    notional = await api_error(client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"))
    assert notional.message == "Order's notional must be no smaller than 50 (unless you choose reduce only)."
    # Reduce-only is exempt from the minimum notional once there is a position to reduce.
    await market(client, "BUY", "0.01")
    assert (await market(client, "SELL", "0.001", reduceOnly="true"))["status"] == "FILLED"
    assert await code_of(reduceOnly="true") == -2022  # same side as the long
    receipts = sim.orders_received
    assert [r.code for r in receipts[:10]] == [-2019, -2022, -4164, -1111, -4003, -4005, -1116, -1117, -1121, -1130]
    assert not any(r.accepted for r in receipts[:11]) and receipts[11].accepted


async def test_step_size_violation_is_4023(candles):
    coarse = SymbolFilters("BTCUSDT", Decimal("0.10"), Decimal("0.002"), Decimal("0.001"), Decimal("120"), Decimal("50"))
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START, filters=coarse) as sim:
        async with connect(sim) as client:
            error = await api_error(market(client, "BUY", "0.002"))
    assert error.code == -4023  # 0.002 is not 0.001 + k * 0.002


async def test_resending_a_filled_market_client_id_fills_again_but_an_open_one_is_refused(sim, client):
    # Binance only refuses a client id that belongs to an OPEN order. A MARKET order is
    # FILLED at once, so resending its id (a blind retry) is a brand-new order and a
    # second fill: exactly the duplicate an idempotent connector must never produce.
    first = await market(client, "BUY", "0.01", newClientOrderId="retry-1")
    second = await market(client, "BUY", "0.01", newClientOrderId="retry-1")
    assert first["status"] == second["status"] == "FILLED" and second["orderId"] != first["orderId"]
    assert sim.exchange.account.position_qty == Decimal("0.02")
    assert [r.client_order_id for r in sim.orders_received] == ["retry-1", "retry-1"]
    # The latest order with that id is what a query by origClientOrderId returns.
    assert (await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="retry-1"))["orderId"] == second["orderId"]

    open_limit = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                      price="30000.0", newClientOrderId="rest-1")
    await client.futures_create_order(**open_limit)
    assert (await api_error(client.futures_create_order(**open_limit))).code == -4116
    assert len(sim.exchange.open_orders()) == 1


# ---------------------------------------------------------------------------- authentication


async def test_bad_signature_wrong_key_and_malformed_key(sim):
    async with connect(sim, secret="not-the-secret") as wrong_secret:
        error = await api_error(wrong_secret.futures_account())
        assert (error.code, error.status_code) == (-1022, 400)
        assert error.message == "Signature for this request is not valid."
    async with connect(sim, key="someoneElsesKey") as wrong_key:
        error = await api_error(wrong_key.futures_account_balance())
        assert (error.code, error.status_code) == (-2015, 401)
        assert (await api_error(wrong_key.futures_stream_get_listen_key())).code == -2015
        assert await wrong_key.futures_ping() == {}  # public routes need no key
    async with connect(sim, key="bad key!") as malformed:
        error = await api_error(malformed.futures_account())
        assert (error.code, error.status_code) == (-2014, 401)


async def test_stale_client_clock_gets_1021_until_it_resyncs(sim, client):
    sim.faults.clock_skew_ms = 20_000  # server 20 s ahead; the client's offset (from create) is stale
    error = await api_error(client.futures_account_balance())
    assert error.code == -1021 and error.message == "Timestamp for this request is outside of the recvWindow."
    assert abs((await client.futures_time())["serverTime"] - (time.time() * 1000 + 20_000)) < 5000
    client.timestamp_offset = (await client.futures_time())["serverTime"] - int(time.time() * 1000)
    assert (await client.futures_account_balance())[0]["asset"] == "USDT"

    sim.faults.clock_skew_ms = -25_000  # now the client is ahead of the server
    error = await api_error(client.futures_account_balance())
    assert error.code == -1021 and "ahead of the server" in error.message


# ---------------------------------------------------------------------------- REST faults


async def test_fail_next_requests_returns_503_without_processing(sim, client):
    sim.faults.fail_next_requests(1)
    error = await api_error(market(client, "BUY", "0.01", newClientOrderId="f-1"))
    assert (error.status_code, error.code) == (503, -1001)
    assert sim.exchange.orders == {} and sim.exchange.account.position_qty == 0
    receipt = sim.orders_received[-1]
    assert (receipt.client_order_id, receipt.accepted, receipt.code) == ("f-1", False, -1001)
    missing = await api_error(client.futures_get_order(symbol="BTCUSDT", origClientOrderId="f-1"))
    assert missing.code == -2013  # not processed: the order really does not exist
    assert (await market(client, "BUY", "0.01", newClientOrderId="f-1"))["status"] == "FILLED"
    assert ("http_503_-1001", "POST /fapi/v1/order") in sim.faults.injected


async def test_timeout_after_accept_fills_but_the_answer_never_comes(sim):
    sim.faults.timeout_after_accept(n=1, hold_seconds=30)
    async with connect(sim, requests_params={"timeout": 0.5}) as impatient:
        started = time.monotonic()
        with pytest.raises((asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            await market(impatient, "BUY", "0.01", newClientOrderId="lost-1")
        assert time.monotonic() - started < 5
        found = await impatient.futures_get_order(symbol="BTCUSDT", origClientOrderId="lost-1")
    assert found["status"] == "FILLED" and found["executedQty"] == "0.010"
    assert sim.orders_received[-1].accepted and sim.exchange.account.position_qty == Decimal("0.01")


async def test_rate_limit_429_and_418_with_retry_after(sim, client):
    sim.faults.rate_limit(status=429, retry_after=2)
    error = await api_error(client.futures_account_balance())
    assert (error.status_code, error.code) == (429, -1003)
    assert error.response.headers["Retry-After"] == "2"
    assert (await client.futures_account_balance())[0]["asset"] == "USDT"  # count=1: over

    sim.faults.rate_limit(status=418, retry_after=None, count=2)
    for _ in range(2):
        error = await api_error(client.futures_time())
        assert (error.status_code, error.code) == (418, -1003) and "banned until" in error.message
        assert "Retry-After" not in error.response.headers
    assert "serverTime" in await client.futures_time()


async def test_reject_next_order(sim, client):
    sim.faults.reject_next_order(-2019)
    error = await api_error(market(client, "BUY", "0.01"))
    assert (error.code, error.message) == (-2019, "Margin is insufficient.")
    assert sim.exchange.account.trade_count == 0
    assert (await market(client, "BUY", "0.01"))["status"] == "FILLED"
    assert [r.code for r in sim.orders_received] == [-2019, None]


# ---------------------------------------------------------------------------- market websockets


def _check_kline_sequence(messages: list[dict], candles: pd.DataFrame, index: int, symbol_in_k: bool = True):
    c = row_of(candles, index)
    ks = [m["k"] for m in messages]
    assert [k["x"] for k in ks] == [False, False, False, True]
    assert all(k["t"] == int(c.open_time) and k["T"] == int(c.open_time) + 3_599_999 for k in ks)
    assert all(k["i"] == "1h" and isinstance(k["n"], int) and isinstance(k["f"], int) for k in ks)
    assert all(("s" in k) == symbol_in_k for k in ks)
    highs = [Decimal(k["h"]) for k in ks]
    lows = [Decimal(k["l"]) for k in ks]
    assert highs == sorted(highs) and lows == sorted(lows, reverse=True)  # converging outward
    final = ks[-1]
    assert [Decimal(final[key]) for key in "ohlcv"] == [price_to_decimal(c[k]) for k in ("open", "high", "low", "close", "volume")]
    times = [m["E"] for m in messages]
    assert times == sorted(times) and times[-1] == int(c.open_time) + 3_599_999  # market time, historical


async def test_kline_multiplex_socket_new_routed_form(sim, client, candles):
    bsm = socket_manager(client, sim)
    async with quick(bsm.futures_multiplex_socket(["btcusdt@kline_1h"])) as socket:
        await sim.step()
        messages = [await recv(socket) for _ in range(4)]
    assert all(m["stream"] == "btcusdt@kline_1h" and m["data"]["e"] == "kline" for m in messages)
    assert all(m["data"]["s"] == "BTCUSDT" for m in messages)
    _check_kline_sequence([m["data"] for m in messages], candles, START)
    # The exact strings of candle 500: 41721.2 / 41766.8 / 41618.0 / 41644.9, 2759.407 BTC.
    k = messages[-1]["data"]["k"]
    assert (k["o"], k["h"], k["l"], k["c"], k["v"]) == ("41721.20", "41766.80", "41618.00", "41644.90", "2759.407")


async def test_kline_old_unrouted_raw_and_combined_forms(sim, candles):
    async with websockets.connect(sim.ws_base + "ws/btcusdt@kline_1h") as raw, \
            websockets.connect(sim.ws_base + "stream?streams=btcusdt@kline_1h") as combined:
        await sim.step()
        raw_messages = [await recv_json(raw) for _ in range(4)]
        combined_messages = [await recv_json(combined) for _ in range(4)]
    assert all(m["e"] == "kline" and "stream" not in m for m in raw_messages)
    _check_kline_sequence(raw_messages, candles, START)
    assert [m["data"] for m in combined_messages] == raw_messages
    assert {m["stream"] for m in combined_messages} == {"btcusdt@kline_1h"}


async def test_continuous_kline_socket(sim, client, candles):
    bsm = socket_manager(client, sim)
    async with quick(bsm.kline_futures_socket("BTCUSDT", "1h")) as socket:
        await sim.step()
        messages = [await recv(socket) for _ in range(4)]
    assert all(m["e"] == "continuous_kline" and m["ps"] == "BTCUSDT" and m["ct"] == "PERPETUAL" for m in messages)
    _check_kline_sequence(messages, candles, START, symbol_in_k=False)


async def test_unknown_stream_is_closed_with_a_clear_error(sim):
    async with websockets.connect(sim.ws_base + "market/ws/btcusdt@depth") as ws:
        error = await recv_json(ws)
        assert error["e"] == "error" and "unknown stream 'btcusdt@depth'" in error["m"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECV)
    assert closed.value.rcvd.code == 1008
    async with websockets.connect(sim.ws_base + "ws/btcusdt@kline_5m") as ws:
        assert "1h" in (await recv_json(ws))["m"]  # the message names what is served
    async with websockets.connect(sim.ws_base + "public/ws/btcusdt@kline_1h") as ws:
        assert "/market" in (await recv_json(ws))["m"]  # klines live on /market, not /public


async def test_subscribe_message_on_a_bare_connection(sim, candles):
    async with websockets.connect(sim.ws_base + "market/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1h"], "id": 1}))
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await recv_json(ws) == {"result": ["btcusdt@kline_1h"], "id": 2}
        await sim.step()
        messages = [await recv_json(ws) for _ in range(4)]
    _check_kline_sequence(messages, candles, START)


async def test_skip_candle_closes_leaves_a_gap_only_rest_can_fill(sim, client):
    async with websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as ws:
        sim.faults.skip_candle_closes(1)
        await sim.step(2)
        messages = [await recv_json(ws) for _ in range(7)]  # 3 + 3 partial updates, 1 close
        assert await nothing_arrives(ws)
    closes = [m["k"]["t"] for m in messages if m["k"]["x"]]
    assert closes == [int(sim.market.open_times[START + 1])]  # candle 500's close never came
    assert [c.broadcast for c in sim.closes] == [False, True]
    rows = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=3)
    assert rows[0][0] == int(sim.market.open_times[START]) and rows[0][4] == "41644.90"  # REST has it


async def test_drop_market_streams_closes_and_python_binance_reconnects(sim, client, candles):
    async with websockets.connect(sim.ws_base + "ws/btcusdt@kline_1h") as raw:
        bsm = socket_manager(client, sim)
        socket = quick(bsm.futures_multiplex_socket(["btcusdt@kline_1h"]))
        socket._get_reconnect_wait = lambda attempts: 0.05  # instead of 1-2 s
        async with socket:
            await sim.faults.drop_market_streams()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(raw.recv(), RECV)
            assert closed.value.rcvd.code == 1001
            note = await recv(socket)
            assert note["e"] == "error" and note["type"] == "ConnectionClosedOK"
            for _ in range(60):  # reconnected within a bounded wait
                if sim.streams.market_connections:
                    break
                await asyncio.sleep(0.05)
            assert sim.streams.market_connections
            await sim.step()
            messages = []
            while len(messages) < 4:
                message = await recv(socket)
                if message.get("e") != "error":  # python-binance also reports "Reconnecting..."
                    messages.append(message)
    assert [m["data"]["k"]["x"] for m in messages] == [False, False, False, True]


async def test_stall_sends_nothing_while_candles_close(sim, client):
    async with websockets.connect(sim.ws_base + "market/stream?streams=btcusdt@kline_1h") as ws:
        sim.faults.stall_market_streams()
        await sim.step(2)
        assert await nothing_arrives(ws)
        assert ws.state is websockets.State.OPEN  # still connected, just silent
        rows = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=3)
        assert [r[0] for r in rows] == [int(t) for t in sim.market.open_times[START:START + 3]]
        sim.faults.resume_market_streams()
        await sim.step()
        messages = [await recv_json(ws) for _ in range(4)]
    # Only the candle closed after the resume arrives; the stalled ones are never sent.
    assert {m["data"]["k"]["t"] for m in messages} == {int(sim.market.open_times[START + 2])}


# ---------------------------------------------------------------------------- user data stream


async def test_user_stream_reports_fills_and_limit_order_lifecycle(sim, client):
    bsm = socket_manager(client, sim)
    async with quick(bsm.futures_user_socket()) as user:
        await market(client, "BUY", "0.01", newClientOrderId="u-1")
        trade, account = await recv(user), await recv(user)
        limit = await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                                  quantity="0.01", price="50000.0", newClientOrderId="u-2")
        new = await recv(user)
        await client.futures_cancel_order(symbol="BTCUSDT", orderId=limit["orderId"])
        canceled = await recv(user)
    assert trade["e"] == "ORDER_TRADE_UPDATE"
    o = trade["o"]
    assert (o["c"], o["S"], o["o"], o["x"], o["X"], o["ps"]) == ("u-1", "BUY", "MARKET", "TRADE", "FILLED", "BOTH")
    assert (o["q"], o["l"], o["z"], o["ap"], o["L"]) == ("0.010", "0.010", "0.010", "41721.20", "41721.20")
    assert Decimal(o["n"]) == Decimal("0.208606") and o["N"] == "USDT" and Decimal(o["rp"]) == 0
    assert isinstance(o["i"], int) and isinstance(o["t"], int) and isinstance(trade["E"], int)
    assert account["e"] == "ACCOUNT_UPDATE" and account["a"]["m"] == "ORDER"
    (wallet,) = account["a"]["B"]
    (position,) = account["a"]["P"]
    assert wallet["a"] == "USDT" and Decimal(wallet["wb"]) == Decimal("9999.791394")
    assert (position["s"], position["pa"], position["ep"], position["mt"], position["ps"]) == \
        ("BTCUSDT", "0.010", "41721.2", "cross", "BOTH")
    assert Decimal(position["up"]) == 0
    assert (new["o"]["x"], new["o"]["X"], new["o"]["c"], new["o"]["p"]) == ("NEW", "NEW", "u-2", "50000.00")
    assert (canceled["o"]["x"], canceled["o"]["X"]) == ("CANCELED", "CANCELED")


async def test_listen_key_rules_and_legacy_user_path(sim, client):
    key = await client.futures_stream_get_listen_key()
    assert len(key) == 64 and key.isalnum()
    assert await client.futures_stream_get_listen_key() == key  # active key is returned again
    assert await client.futures_stream_keepalive(key) == {"listenKey": key}
    async with websockets.connect(sim.ws_base + "ws/" + key) as legacy:
        await market(client, "BUY", "0.01")
        assert (await recv_json(legacy))["e"] == "ORDER_TRADE_UPDATE"
        assert (await recv_json(legacy))["e"] == "ACCOUNT_UPDATE"
        assert await client.futures_stream_close(key) == {}
        assert (await recv_json(legacy))["e"] == "listenKeyExpired"
    assert (await api_error(client.futures_stream_keepalive(key))).code == -1125
    async with websockets.connect(sim.ws_base + "private/ws?listenKey=" + key) as gone:
        assert "does not exist" in (await recv_json(gone))["m"]
    assert await client.futures_stream_get_listen_key() != key


# ---------------------------------------------------------------------------- replay clock


async def test_step_past_the_data_raises_and_timed_mode_stops(candles):
    short = candles.iloc[:12].reset_index(drop=True)
    async with LoopbackExchange(short, api_key=KEY, api_secret=SECRET, start_index=9) as sim:
        await sim.step(2)
        assert sim.current_index == 11
        with pytest.raises(ReplayExhausted, match="candle data ends"):
            await sim.step()
        assert sim.current_index == 11 and sim.market.progress == 0  # nothing half-done
    # speed 3.6e6: one 1h candle per millisecond of wall time.
    async with LoopbackExchange(short, api_key=KEY, api_secret=SECRET, start_index=5, speed=3_600_000) as timed:
        await asyncio.wait_for(timed.finished.wait(), 5)
        assert timed.current_index == 11 and len(timed.closes) == 6


async def test_timed_mode_broadcasts_on_its_own(candles):
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START, speed=36_000) as sim:
        assert sim.interval == "1h"
        async with websockets.connect(sim.ws_base + "market/ws/btcusdt@kline_1h") as ws:
            messages = [await recv_json(ws) for _ in range(5)]  # 0.1 s per candle
    assert any(m["k"]["x"] for m in messages) and sim.current_index > START


def test_standalone_main_prints_urls_and_runs_to_the_end_of_the_data(tmp_path, candles, capsys):
    data = tmp_path / "few.csv"
    candles.iloc[:14].to_csv(data, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])
    assert sim_main(["--data", str(data), "--speed", "3600000", "--start-index", "10"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "ws://127.0.0.1:" in out and "FUTURES_TESTNET_URL" in out
    assert "API secret" in out and "(generated)" in out and "the candle data ran out" in out

    assert sim_main(["--data", str(data), "--speed", "3600000", "--start-index", "10",
                     "--api-key", "operatorKey", "--api-secret", "topsecret"]) == 0
    out = capsys.readouterr().out
    assert "operatorKey" in out and "topsecret" not in out and "API secret" not in out

    assert sim_main(["--data", str(tmp_path / "missing.csv")]) == 3  # DataError exit code
    assert "candle file not found" in capsys.readouterr().err
