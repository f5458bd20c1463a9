"""User-data events for everything that changes the account, field by field against reference §7.

Each test listens on a real user-data websocket - python-binance's
``futures_user_socket()`` or a plain ``websockets`` client on
``/private/ws?listenKey=`` - changes the account through REST or the market, and
checks the events: the shape (every field Binance sends, with its type) and the
numbers, which must be the ones the account (and REST's ``userTrades`` / ``income``)
holds. Market time is driven by ``sim.step()``; nothing waits on the wall clock but
bounded receives.
"""

from __future__ import annotations

from decimal import Decimal

import websockets

from trader_core.accounting import MAINTENANCE_MARGIN_RATE
from trader_core.candles import load_funding
from trader_core.simulator import LoopbackExchange

from sim_client import KEY, SECRET, START, connect, market, nothing_arrives, quick, recv, recv_json, socket_manager
from support import FUNDING_8H, real_candle_file

FEE = Decimal("0.0005")
#: Every key of ORDER_TRADE_UPDATE's ``o`` (reference §7) but the commission pair.
ORDER_KEYS = {"s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "T", "t", "b", "a",
              "m", "R", "wt", "ot", "ps", "cp", "rp", "pP", "si", "ss", "V", "pm", "gtd", "er"}
COMMISSION_KEYS = {"N", "n"}


async def user_ws(sim, client):
    """A plain websockets client on the routed user path, with a fresh listen key."""
    key = await client.futures_stream_get_listen_key()
    return await websockets.connect(sim.ws_base + "private/ws?listenKey=" + key)


async def events_until_fence(client, ws) -> list[dict]:
    """Every user event queued so far: a leverage change (ACCOUNT_CONFIG_UPDATE) is sent
    as a fence, and what arrives before it on the connection's one ordered queue is
    what the earlier changes produced - no waiting on a quiet period."""
    await client.futures_change_leverage(symbol="BTCUSDT", leverage=125)
    events = []
    while True:
        event = await recv_json(ws)
        if event["e"] == "ACCOUNT_CONFIG_UPDATE":
            return events
        events.append(event)


def order_update(event: dict, execution: str) -> dict:
    """Check the envelope and the field set of an ORDER_TRADE_UPDATE; its ``o``."""
    assert event["e"] == "ORDER_TRADE_UPDATE" and isinstance(event["E"], int) and isinstance(event["T"], int)
    o = event["o"]
    assert o["x"] == execution, o
    charged = execution == "TRADE"
    assert set(o) == ORDER_KEYS | (COMMISSION_KEYS if charged else set()), set(o) ^ ORDER_KEYS
    assert all(isinstance(o[k], int) for k in ("i", "t", "T", "si", "ss", "gtd"))
    assert all(isinstance(o[k], bool) for k in ("m", "R", "cp", "pP"))
    assert all(isinstance(o[k], str) for k in ("q", "p", "ap", "l", "z", "L", "rp", "sp"))
    assert (o["s"], o["ps"], o["f"], o["wt"]) == ("BTCUSDT", "BOTH", "GTC", "CONTRACT_PRICE")
    if charged:
        assert o["N"] == "USDT" and Decimal(o["n"]) > 0 and o["t"] > 0
    else:
        assert Decimal(o["l"]) == 0 and Decimal(o["L"]) == 0 and o["t"] == 0 and Decimal(o["rp"]) == 0
    return o


def account_update(event: dict, reason: str) -> dict:
    assert event["e"] == "ACCOUNT_UPDATE" and isinstance(event["E"], int) and isinstance(event["T"], int)
    body = event["a"]
    assert body["m"] == reason
    (balance,) = body["B"]
    assert set(balance) == {"a", "wb", "cw", "bc"} and balance["a"] == "USDT"
    for position in body["P"]:
        assert set(position) == {"s", "pa", "ep", "bep", "cr", "up", "mt", "iw", "ps", "ma"}
    return body


# ---------------------------------------------------------------------------- executions


async def test_market_fills_report_each_trade_with_its_commission_and_realised_profit(sim, client):
    bsm = socket_manager(client, sim)
    async with quick(bsm.futures_user_socket()) as user:
        await market(client, "BUY", "0.010", newClientOrderId="open-1")
        opened, opened_account = await recv(user), await recv(user)
        await sim.step()  # candle 500 closes at 41644.9
        await market(client, "SELL", "0.004", reduceOnly="true", newClientOrderId="close-1")
        closed, closed_account = await recv(user), await recv(user)
        trades = await client.futures_account_trades(symbol="BTCUSDT")
    o = order_update(opened, "TRADE")
    assert (o["c"], o["S"], o["o"], o["X"], o["q"], o["l"], o["z"], o["L"], o["ap"]) == \
        ("open-1", "BUY", "MARKET", "FILLED", "0.010", "0.010", "0.010", "41721.20", "41721.20")
    assert (Decimal(o["n"]), Decimal(o["rp"]), o["m"]) == (Decimal("0.208606"), 0, False)  # 0.01 x 41721.2 x 0.0005
    c = order_update(closed, "TRADE")
    assert (c["c"], c["S"], c["R"], c["l"], c["L"]) == ("close-1", "SELL", True, "0.004", "41644.90")
    # realised = (41644.9 - 41721.2) x 0.004; commission = 0.004 x 41644.9 x 0.0005
    assert (Decimal(c["rp"]), Decimal(c["n"])) == (Decimal("-0.3052"), Decimal("0.0832898"))
    assert c["t"] == o["t"] + 1 and c["T"] >= o["T"]
    body = account_update(closed_account, "ORDER")
    (position,) = body["P"]
    assert (position["pa"], position["ep"], Decimal(position["cr"])) == ("0.006", "41721.2", Decimal("-0.3052"))
    # wallet = 10000 - 0.208606 - 0.3052 - 0.0832898; the balance change of an ORDER event is 0
    assert Decimal(body["B"][0]["wb"]) == Decimal("9999.4029042") and Decimal(body["B"][0]["bc"]) == 0
    assert account_update(opened_account, "ORDER")["P"][0]["pa"] == "0.010"
    # The stream and REST tell the same fills.
    assert [(t["id"], t["orderId"], t["commission"], t["realizedPnl"]) for t in trades] == \
        [(e["t"], e["i"], e["n"], e["rp"]) for e in (o, c)]


async def test_limit_lifecycle_new_maker_trade_and_canceled(sim, client):
    ws = await user_ws(sim, client)
    try:
        await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                          quantity="0.010", price="41650.0", newClientOrderId="lim-buy")
        await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                          quantity="0.010", price="60000.0", newClientOrderId="lim-far")
        new_buy, new_far = await recv_json(ws), await recv_json(ws)
        await sim.step()  # candle 500's low 41618.0 reaches the buy
        fill, fill_account = await recv_json(ws), await recv_json(ws)
        await client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="lim-far")
        canceled = await recv_json(ws)
        assert await nothing_arrives(ws)  # a cancel changes no balance: no ACCOUNT_UPDATE
    finally:
        await ws.close()
    for event, cid, price in ((new_buy, "lim-buy", "41650.00"), (new_far, "lim-far", "60000.00")):
        o = order_update(event, "NEW")
        assert (o["c"], o["X"], o["o"], o["p"], o["z"]) == (cid, "NEW", "LIMIT", price, "0.000")
    f = order_update(fill, "TRADE")
    assert (f["c"], f["X"], f["m"], f["L"], f["l"], f["z"]) == ("lim-buy", "FILLED", True, "41650.00", "0.010", "0.010")
    assert Decimal(f["n"]) == Decimal("0.20825")  # the account's one fee rate, maker too
    assert account_update(fill_account, "ORDER")["P"][0]["ep"] == "41650.0"
    x = order_update(canceled, "CANCELED")
    assert (x["c"], x["X"], x["z"]) == ("lim-far", "CANCELED", "0.000")


async def test_a_partially_filled_market_order_reports_trade_then_expired(sim, client):
    sim.faults.partial_fill_next_orders(1, "0.5")
    ws = await user_ws(sim, client)
    try:
        await market(client, "BUY", "0.025", newClientOrderId="part-1")
        trade, _account, expired = await recv_json(ws), await recv_json(ws), await recv_json(ws)
    finally:
        await ws.close()
    t = order_update(trade, "TRADE")
    assert (t["X"], t["l"], t["z"], t["q"]) == ("PARTIALLY_FILLED", "0.012", "0.012", "0.025")
    e = order_update(expired, "EXPIRED")
    assert (e["X"], e["z"], e["q"], e["ap"]) == ("EXPIRED", "0.012", "0.025", t["L"])


# ---------------------------------------------------------------------------- configuration, funding


async def test_leverage_change_is_an_account_config_update(sim, client):
    ws = await user_ws(sim, client)
    try:
        await client.futures_change_leverage(symbol="BTCUSDT", leverage=20)
        event = await recv_json(ws)
    finally:
        await ws.close()
    assert set(event) == {"e", "E", "T", "ac"}
    assert event["e"] == "ACCOUNT_CONFIG_UPDATE" and event["ac"] == {"s": "BTCUSDT", "l": 20}


async def test_each_funding_settlement_is_an_account_update_whose_wallet_change_is_the_funding(candles):
    funding = load_funding(real_candle_file(FUNDING_8H))
    # From 2024-02-21 15:00: settlements at 16:00 (rate 0.0001) and at 00:00:00.001 (0.0001).
    start = int(candles.index[candles.open_time == 1708527600000][0])
    opens = {int(t): Decimal(repr(float(o))) for t, o in zip(candles.open_time, candles.open)}
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=start,
                                funding=funding) as sim:
        async with connect(sim) as client:
            bsm = socket_manager(client, sim)
            async with quick(bsm.futures_user_socket()) as user:
                await market(client, "SELL", "0.020")
                await recv(user), await recv(user)
                settlements = []
                for _ in range(10):  # closes 15:00 .. 00:00: two 8 h marks pass
                    before = sim.exchange.account.wallet_balance
                    for _ in range(4):
                        await sim.step_update()
                        if sim.exchange.account.wallet_balance != before:
                            settlements.append((await recv(user), sim.exchange.account.wallet_balance - before))
                            before = sim.exchange.account.wallet_balance
                assert await nothing_arrives(user)
            income = await client.futures_income_history(incomeType="FUNDING_FEE")
    # A short receives a positive rate: 0.020 x the candle's open x 0.0001, each time.
    expected = [Decimal("0.020") * opens[t] * Decimal("0.0001") for t in (1708531200000, 1708560000000)]
    assert [change for _event, change in settlements] == expected
    for (event, change) in settlements:
        body = account_update(event, "FUNDING_FEE")
        assert body["P"] == []  # cross margin: only the balance, as Binance sends it
        assert Decimal(body["B"][0]["bc"]) == change  # the wallet change is the funding
    assert Decimal(settlements[-1][0]["a"]["B"][0]["wb"]) == sim.exchange.account.wallet_balance
    assert [Decimal(r["income"]) for r in income] == expected
    assert [(r["tradeId"], r["info"], r["asset"]) for r in income] == [("", "FUNDING_FEE", "USDT")] * 2


# ---------------------------------------------------------------------------- margin call


async def test_margin_call_once_per_crossing_with_the_reference_shape(sim, client):
    await client.futures_change_leverage(symbol="BTCUSDT", leverage=125)
    ws = await user_ws(sim, client)
    try:
        await market(client, "BUY", "1.000")
        await recv_json(ws), await recv_json(ws)
        # Cross margin: the whole wallet backs 1 BTC. Margin ratio = mm / margin balance;
        # the call comes at 80 %: 0.004 p >= 0.8 (wallet + p - 41721.2), p <= ~31,901.
        assert sim.faults.price_shock(32500) == Decimal("32500")
        assert await nothing_arrives(ws)  # 0.004 x 32500 / (wallet - 9221.2) = 17 %: no call
        sim.faults.price_shock(31000)
        call = await recv_json(ws)
        sim.faults.price_shock(30000)  # deeper in the zone: no second call
        assert await nothing_arrives(ws)
        sim.faults.end_price_shock()  # back to 41721.2: out of the zone
        sim.faults.price_shock(fraction="-0.26")  # 30873.7: a new crossing, a new call
        again = await recv_json(ws)
    finally:
        await ws.close()
    assert set(call) == {"e", "E", "cw", "p"} and call["e"] == "MARGIN_CALL"
    (p,) = call["p"]
    assert set(p) == {"s", "ps", "pa", "mt", "iw", "mp", "up", "mm"}
    wallet = sim.exchange.account.wallet_balance
    assert (p["s"], p["ps"], p["pa"], p["mt"], p["iw"]) == ("BTCUSDT", "BOTH", "1.000", "CROSSED", "0")
    assert Decimal(call["cw"]) == wallet == Decimal("10000") - Decimal("41721.2") * FEE
    assert Decimal(p["mp"]) == Decimal("31000")
    assert Decimal(p["up"]) == Decimal("31000") - Decimal("41721.2")
    assert Decimal(p["mm"]) == Decimal("31000") * MAINTENANCE_MARGIN_RATE
    assert Decimal(again["p"][0]["mp"]) == Decimal("30873.7")
    assert sim.exchange.margin_watch.calls == 2


async def test_the_replayed_market_raises_the_margin_call_where_rest_says_the_ratio_crossed(candles):
    # 1 BTC at 125x on a 1,000 USDT wallet (41,721 notional: inside the 125x bracket).
    # The real candles fall from 41,721 to 40,755 by candle 508; the call must come on
    # exactly the updates where the margin ratio REST reports (totalMaintMargin /
    # totalMarginBalance) enters the zone - not before, and once per entry.
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START,
                                initial_balance=Decimal("1000")) as sim:
        async with connect(sim) as client:
            await client.futures_change_leverage(symbol="BTCUSDT", leverage=125)
            ws = await user_ws(sim, client)
            try:
                await market(client, "BUY", "1.000")
                await recv_json(ws), await recv_json(ws)
                ratios, calls = [], []
                for _ in range(4 * 12):  # candles 500 .. 511
                    await sim.step_update()
                    account = await client.futures_account()
                    ratios.append(Decimal(account["totalMaintMargin"]) / Decimal(account["totalMarginBalance"]))
                    calls.append([e for e in await events_until_fence(client, ws) if e["e"] == "MARGIN_CALL"])
            finally:
                await ws.close()
    zone = [ratio >= Decimal("0.8") for ratio in ratios]
    entries = [i for i, inside in enumerate(zone) if inside and (i == 0 or not zone[i - 1])]
    assert entries, f"the data never took the ratio to 80 %: max {max(ratios):.3f}"
    assert [len(c) for c in calls] == [1 if i in entries else 0 for i in range(len(calls))], (entries, ratios)
    first = calls[entries[0]][0]
    # in the zone when 0.004 p >= 0.8 (979.14 + p - 41721.2), i.e. p <= 40946.8
    assert Decimal(first["p"][0]["mp"]) <= Decimal("40946.8")
