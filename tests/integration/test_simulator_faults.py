"""The simulator's staged failures, proven over real HTTP and websockets with python-binance.

Each test arms a fault on a manual-mode ``LoopbackExchange``, talks to it with the
real ``AsyncClient`` (and ``websockets`` / ``BinanceSocketManager`` for streams), and
checks three things: what the client saw, what the exchange's state became (money,
position, orders), and that ``faults.injected`` records the fault as applied. Time
windows are server time, moved by ``clock_skew_ms``, never by sleeping.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import pytest
import websockets

from trader_core.simulator import LoopbackExchange

from sim_client import (
    KEY, SECRET, START, api_error, connect, market, quick, recv, recv_json, resync, socket_manager,
)

FEE = Decimal("0.0005")


def kinds(sim) -> list[str]:
    return [kind for kind, _ in sim.faults.injected]


# ---------------------------------------------------------------------------- partial fills


async def test_partial_fill_executes_a_rounded_down_fraction_and_expires(sim, client):
    price = sim.price
    sim.faults.partial_fill_next_orders(1, "0.5")
    bsm = socket_manager(client, sim)
    async with quick(bsm.futures_user_socket()) as user:
        order = await market(client, "BUY", "0.025", newClientOrderId="part-1")
        trade, account, expired = await recv(user), await recv(user), await recv(user)
    # 0.025 * 0.5 = 0.0125 -> 0.012 on the 0.001 step grid.
    assert (order["status"], order["origQty"], order["executedQty"]) == ("EXPIRED", "0.025", "0.012")
    assert Decimal(order["avgPrice"]) == price and Decimal(order["cumQuote"]) == Decimal("0.012") * price
    fee = Decimal("0.012") * price * FEE
    assert sim.exchange.account.position_qty == Decimal("0.012")
    assert sim.exchange.account.wallet_balance == Decimal("10000") - fee  # only the executed part paid
    (position,) = await client.futures_position_information()
    assert position["positionAmt"] == "0.012"
    queried = await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="part-1")
    assert (queried["status"], queried["executedQty"], queried["origQty"]) == ("EXPIRED", "0.012", "0.025")

    o = trade["o"]
    assert (trade["e"], o["c"], o["x"], o["X"], o["q"], o["l"], o["z"]) == \
        ("ORDER_TRADE_UPDATE", "part-1", "TRADE", "PARTIALLY_FILLED", "0.025", "0.012", "0.012")
    assert Decimal(o["L"]) == price and Decimal(o["n"]) == fee
    assert account["e"] == "ACCOUNT_UPDATE" and account["a"]["P"][0]["pa"] == "0.012"
    assert Decimal(account["a"]["B"][0]["wb"]) == Decimal("10000") - fee
    e = expired["o"]
    assert (expired["e"], e["x"], e["X"], e["l"], e["z"], e["q"]) == \
        ("ORDER_TRADE_UPDATE", "EXPIRED", "EXPIRED", "0.000", "0.012", "0.025")
    assert sim.faults.injected == [("partial_fill", "part-1 0.5")]

    again = await market(client, "BUY", "0.025")  # n=1: the next order fills whole
    assert (again["status"], again["executedQty"]) == ("FILLED", "0.025")


async def test_partially_filled_reduce_only_close_leaves_the_rest_open(sim, client):
    await market(client, "BUY", "0.020")
    await sim.step()
    entry, price = sim.exchange.account.entry_price, sim.price
    wallet = sim.exchange.account.wallet_balance
    sim.faults.partial_fill_next_orders(1, Decimal("0.4"))
    close = await market(client, "SELL", "0.020", reduceOnly="true", newClientOrderId="close-1")
    assert (close["status"], close["executedQty"], close["reduceOnly"]) == ("EXPIRED", "0.008", True)
    (position,) = await client.futures_position_information()
    assert Decimal(position["positionAmt"]) == Decimal("0.012") and Decimal(position["entryPrice"]) == entry
    realized = (price - entry) * Decimal("0.008")
    assert sim.exchange.account.realized_pnl == realized
    assert sim.exchange.account.wallet_balance == wallet + realized - Decimal("0.008") * price * FEE
    rest = await market(client, "SELL", "0.012", reduceOnly="true")  # the remainder closes normally
    assert rest["status"] == "FILLED" and await client.futures_position_information() == []


async def test_partial_fill_of_nothing_expires_without_moving_money(sim, client):
    sim.faults.partial_fill_next_orders(1, 0)
    sim.faults.partial_fill_next_orders(1, "0.3")
    bsm = socket_manager(client, sim)
    async with quick(bsm.futures_user_socket()) as user:
        nothing = await market(client, "BUY", "0.010")
        expired = await recv(user)
        # 0.003 * 0.3 = 0.0009 is below minQty 0.001: rounded down, nothing executes either.
        assert (await market(client, "BUY", "0.003"))["executedQty"] == "0.000"
    assert (nothing["status"], nothing["executedQty"], nothing["avgPrice"]) == ("EXPIRED", "0.000", "0.00")
    assert (expired["o"]["x"], expired["o"]["X"], expired["o"]["z"]) == ("EXPIRED", "EXPIRED", "0.000")
    assert sim.exchange.account.wallet_balance == Decimal("10000") and sim.exchange.account.trade_count == 0
    assert kinds(sim) == ["partial_fill", "partial_fill"]


async def test_partial_fill_is_taken_only_by_an_accepted_market_order(sim, client):
    sim.faults.partial_fill_next_orders(1, "0.5")
    assert (await api_error(market(client, "BUY", "0.5"))).code == -2019  # refused: fault stays armed
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                      quantity="0.010", price="30000.0")  # resting LIMIT: not a MARKET
    assert sim.faults.injected == []
    assert (await market(client, "BUY", "0.010"))["executedQty"] == "0.005"
    with pytest.raises(ValueError):
        sim.faults.partial_fill_next_orders(1, 1)


# ---------------------------------------------------------------------------- refusing orders


async def test_refuse_orders_until_released(sim, client):
    sim.faults.refuse_orders(-2019)
    for i in range(3):
        error = await api_error(market(client, "BUY", "0.010", newClientOrderId=f"ref-{i}"))
        assert (error.status_code, error.code, error.message) == (400, -2019, "Margin is insufficient.")
    assert sim.faults.refusing_orders
    assert (await client.futures_account_balance())[0]["balance"] == "10000.00000000"  # other routes work
    missing = await api_error(client.futures_get_order(symbol="BTCUSDT", origClientOrderId="ref-0"))
    assert missing.code == -2013  # refused = never processed: the order does not exist
    assert sim.exchange.orders == {} and sim.exchange.account.trade_count == 0
    sim.faults.release_orders()
    assert (await market(client, "BUY", "0.010", newClientOrderId="ref-3"))["status"] == "FILLED"
    receipts = sim.orders_received
    assert [(r.client_order_id, r.accepted, r.code) for r in receipts] == [
        ("ref-0", False, -2019), ("ref-1", False, -2019), ("ref-2", False, -2019), ("ref-3", True, None)]
    assert sim.faults.injected == [("refuse_order", f"-2019 ref-{i}") for i in range(3)]


async def test_refuse_the_next_n_orders_with_503_not_processed(sim, client):
    sim.faults.refuse_orders(-1001, status=503, count=2)
    for _ in range(2):
        error = await api_error(market(client, "BUY", "0.010", newClientOrderId="busy-1"))
        assert (error.status_code, error.code) == (503, -1001)
    assert (await market(client, "BUY", "0.010", newClientOrderId="busy-1"))["status"] == "FILLED"
    assert not sim.faults.refusing_orders
    assert [r.code for r in sim.orders_received] == [-1001, -1001, None]
    assert sim.exchange.account.position_qty == Decimal("0.010")  # the refused two never executed


async def test_refuse_orders_for_a_span_of_server_time(sim, client):
    # Server time is wall time plus the skew; the margins (30 s either side) leave the
    # few milliseconds of wall time this test takes no say in the outcome.
    sim.faults.refuse_orders(-2019, seconds=60)
    assert (await api_error(market(client, "BUY", "0.010"))).code == -2019
    sim.faults.clock_skew_ms = 30_000  # half-way through the minute: still refused
    resync(client, sim.server_time_ms())
    assert (await api_error(market(client, "BUY", "0.010"))).code == -2019
    sim.faults.clock_skew_ms = 60_000  # the minute is over: accepted again
    resync(client, sim.server_time_ms())
    assert (await market(client, "BUY", "0.010"))["status"] == "FILLED"
    assert kinds(sim) == ["refuse_order", "refuse_order"]


async def test_refusal_answers_only_after_authentication(sim):
    sim.faults.refuse_orders(-2019, count=1)
    async with connect(sim, secret="not-the-secret") as wrong:
        assert (await api_error(market(wrong, "BUY", "0.010"))).code == -1022
    assert sim.faults.injected == [] and sim.faults.refusing_orders  # still armed for a real order


# ---------------------------------------------------------------------------- outage


async def test_outage_fails_every_rest_request_with_503_until_it_ends(sim, client):
    sim.faults.start_outage()
    assert sim.faults.outage_active
    for call in (client.futures_time(), client.futures_account(), client.futures_position_information(),
                 client.futures_cancel_all_open_orders(symbol="BTCUSDT"),
                 market(client, "SELL", "0.010", reduceOnly="true", newClientOrderId="down-1")):
        error = await api_error(call)
        assert (error.status_code, error.code) == (503, -1001)
    assert sim.exchange.orders == {}  # the order POST was not processed
    assert [(r.client_order_id, r.accepted, r.code) for r in sim.orders_received] == [("down-1", False, -1001)]
    sim.faults.end_outage()
    assert not sim.faults.outage_active
    assert (await market(client, "BUY", "0.010"))["status"] == "FILLED"
    assert kinds(sim) == ["outage"] * 5
    assert sim.faults.injected[-1] == ("outage", "POST /fapi/v1/order")


async def test_outage_after_the_next_requests_lets_the_cancel_through_and_fails_the_close(sim, client):
    await market(client, "BUY", "0.010")
    await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                      quantity="0.010", price="60000.0")
    sim.faults.start_outage(after_requests=1)
    assert not sim.faults.outage_active  # armed, not started
    done = await client.futures_cancel_all_open_orders(symbol="BTCUSDT")  # request 1: served
    assert done["code"] == 200 and sim.exchange.open_orders() == []
    assert sim.faults.outage_active
    close = await api_error(market(client, "SELL", "0.010", reduceOnly="true", newClientOrderId="close-1"))
    assert (close.status_code, close.code) == (503, -1001)
    assert sim.exchange.account.position_qty == Decimal("0.010")  # still open
    assert sim.faults.injected == [("outage", "POST /fapi/v1/order")]


async def test_outage_counting_only_some_requests_ignores_other_traffic(sim, client):
    await market(client, "BUY", "0.010")
    sim.faults.start_outage(after_requests=2, counted_prefix="/fapi/v1/order")
    await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=5)  # not counted: served
    assert (await client.futures_position_information())[0]["positionAmt"] == "0.010"  # not counted
    await client.futures_get_open_orders(symbol="BTCUSDT")  # /fapi/v1/openOrders: not counted
    assert not sim.faults.outage_active
    assert (await market(client, "SELL", "0.004", reduceOnly="true"))["status"] == "FILLED"  # counted: 1
    await client.futures_account()  # not counted
    assert (await market(client, "SELL", "0.003", reduceOnly="true"))["status"] == "FILLED"  # counted: 2
    assert sim.faults.outage_active
    assert (await api_error(client.futures_account())).status_code == 503  # now everything fails
    assert sim.faults.injected == [("outage", "GET /fapi/v2/account")]


async def test_outage_by_connection_reset(sim, client):
    sim.faults.start_outage(reset=True)
    with pytest.raises(aiohttp.ClientOSError) as reset:
        await market(client, "BUY", "0.010", newClientOrderId="rst-1")
    assert "reset" in str(reset.value).lower()
    with pytest.raises(aiohttp.ClientOSError):
        await client.futures_account()
    receipt = sim.orders_received[-1]
    assert (receipt.client_order_id, receipt.accepted, receipt.code) == ("rst-1", False, None)
    assert sim.exchange.orders == {}
    sim.faults.end_outage()
    assert (await client.futures_account())["canTrade"] is True  # the client reconnects by itself
    # aiohttp retries an idempotent GET once on a reset keep-alive connection, never a POST.
    assert set(kinds(sim)) == {"outage_reset"}
    assert [d for _, d in sim.faults.injected if d.startswith("POST")] == ["POST /fapi/v1/order"]
    assert {d for _, d in sim.faults.injected[1:]} == {"GET /fapi/v2/account"}


async def test_outage_refuses_new_websockets_only_when_asked(sim, client):
    url = sim.ws_base + "market/ws/btcusdt@kline_1h"
    async with websockets.connect(url) as before:
        sim.faults.start_outage()  # REST only: websockets still connect
        async with websockets.connect(url):
            pass
        sim.faults.start_outage(websockets=True)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, open_timeout=3)
        assert refused.value.response.status_code == 503
        with pytest.raises(websockets.InvalidStatus):  # the user stream too
            await websockets.connect(sim.ws_base + "private/ws?listenKey=x", open_timeout=3)
        sim.faults.start_outage(websockets=True, reset=True)
        with pytest.raises((OSError, websockets.InvalidMessage)):
            await websockets.connect(url, open_timeout=3)
        await sim.step()  # a connection opened before the outage still gets the market
        assert (await recv_json(before))["e"] == "kline"
        sim.faults.end_outage()
        async with websockets.connect(url):
            pass
    assert kinds(sim) == ["outage", "outage", "outage_reset"]
    assert sim.faults.injected[0] == ("outage", "WS /market/ws/btcusdt@kline_1h")


# ---------------------------------------------------------------------------- held answers


async def test_held_answer_comes_only_after_release_but_the_order_already_filled(sim, client):
    sim.faults.hold_order_responses(1)
    post = asyncio.create_task(market(client, "BUY", "0.010", newClientOrderId="held-1"))
    assert await sim.faults.wait_for_held_order(timeout=5) == "held-1"
    assert sim.faults.order_held.is_set() and not post.done()
    # Processed and filled while its answer is held: another client sees it.
    async with connect(sim) as other:
        found = await other.futures_get_order(symbol="BTCUSDT", origClientOrderId="held-1")
    assert (found["status"], found["executedQty"]) == ("FILLED", "0.010")
    assert sim.exchange.account.position_qty == Decimal("0.010")
    await asyncio.sleep(0.1)
    assert not post.done()  # still held: nothing but release answers it
    sim.faults.release_holds()
    answer = await asyncio.wait_for(post, 5)
    assert (answer["status"], answer["clientOrderId"]) == ("FILLED", "held-1")
    assert sim.faults.injected == [("hold_order_response", "held-1 until released")]

    # A later hold holds again (a release does not disarm future holds).
    sim.faults.hold_order_responses(1)
    second = asyncio.create_task(market(client, "BUY", "0.010", newClientOrderId="held-2"))
    assert await sim.faults.wait_for_held_order(2, timeout=5) == "held-2"
    await asyncio.sleep(0.1)
    assert not second.done()
    sim.faults.release_holds()
    assert (await asyncio.wait_for(second, 5))["status"] == "FILLED"


async def test_a_client_that_dies_while_its_answer_is_held_leaves_the_order_in_place(sim, caplog):
    # What a crash test stages: the trading process is killed between its order POST
    # and the answer. The order stays filled; releasing the answer to nobody is harmless.
    sim.faults.hold_order_responses(1)
    async with connect(sim) as doomed:
        post = asyncio.create_task(market(doomed, "BUY", "0.010", newClientOrderId="dead-1"))
        await sim.faults.wait_for_held_order(timeout=5)
        post.cancel()
        with pytest.raises(asyncio.CancelledError):
            await post
    # The client's connection is closed now (its session ended).
    sim.faults.release_holds()
    await asyncio.sleep(0.05)
    async with connect(sim) as restarted:
        found = await restarted.futures_get_order(symbol="BTCUSDT", origClientOrderId="dead-1")
        assert (found["status"], found["executedQty"]) == ("FILLED", "0.010")
        assert (await market(restarted, "BUY", "0.010"))["status"] == "FILLED"  # no hold left armed
    assert [(r.client_order_id, r.accepted) for r in sim.orders_received][0] == ("dead-1", True)
    assert len(sim.orders_received) == 2
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_hold_skips_refused_orders_and_closing_the_simulator_releases(candles):
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START) as sim:
        async with connect(sim) as client:
            sim.faults.hold_order_responses(1)
            assert (await api_error(market(client, "BUY", "5"))).code == -2019  # refused: answered at once
            assert sim.faults.held_orders == []
            post = asyncio.create_task(market(client, "BUY", "0.010", newClientOrderId="held-3"))
            await sim.faults.wait_for_held_order(timeout=5)
            await sim.close()  # shutting down answers what it held
            answer = await asyncio.wait_for(post, 5)
    assert answer["status"] == "FILLED"


async def test_waiting_for_a_hold_that_never_happens_fails_loudly(sim):
    sim.faults.hold_order_responses(1)
    with pytest.raises(TimeoutError, match="1 hold"):
        await sim.faults.wait_for_held_order(timeout=0.05)


async def test_timeout_after_accept_is_a_hold_with_a_time_limit(sim, client):
    sim.faults.timeout_after_accept(1, hold_seconds=0.2)
    answer = await asyncio.wait_for(market(client, "BUY", "0.010", newClientOrderId="slow-1"), 5)
    assert answer["status"] == "FILLED"
    assert sim.faults.injected == [("hold_order_response", "slow-1 0.2s")]
