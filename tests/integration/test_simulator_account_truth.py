"""REST account truth (reference §7): userTrades, income, commissionRate, leverageBracket, tickers.

The central promise: every figure ties to the account. Over a session with several
trades - a partial close, a flip, another partial close - and two funding
settlements from the real funding file, the sum of ``income`` (REALIZED_PNL +
COMMISSION + FUNDING_FEE) equals the wallet's change since the start to the last
digit, in ``Decimal``, as read back over REST. Everything goes through the real
python-binance ``AsyncClient`` over 127.0.0.1; time windows are moved with the
server's clock skew, never by sleeping.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal


from trader_core.accounting import MAINTENANCE_MARGIN_RATE
from trader_core.candles import load_funding
from trader_core.simulator import LoopbackExchange

from sim_client import KEY, SECRET, START, api_error, connect, market, resync
from support import FUNDING_8H, real_candle_file

HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def skew_to(sim, client, skew_ms: int) -> None:
    """Move the server clock (and the client's offset with it): a later moment of the session."""
    sim.faults.clock_skew_ms = skew_ms
    resync(client, sim.server_time_ms())


async def weight_of(sim, client, call) -> int:
    """The request weight ``call`` adds to X-MBX-USED-WEIGHT-1M, measured at the start of
    a server minute (59 s of margin: the window cannot roll over in between)."""
    now = sim.server_time_ms()
    skew_to(sim, client, sim.faults.clock_skew_ms + 60_000 - now % 60_000 + 500)
    await client.futures_ping()
    before = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    await call()
    return int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) - before


# ---------------------------------------------------------------------------- income ties to the wallet


async def test_income_sums_to_the_wallet_change_over_a_session_with_a_flip_and_two_fundings(candles):
    funding = load_funding(real_candle_file(FUNDING_8H))
    # From 2024-02-22 07:00: settlements at 08:00:00.001 (rate 0.0001348) and 16:00 (0.00012557),
    # whose payments have more decimals than Binance's 8, so exactness is tested.
    start = int(candles.index[candles.open_time == 1708585200000][0])
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=start,
                                funding=funding) as sim:
        async with connect(sim) as client:
            await market(client, "BUY", "0.010", newClientOrderId="s-open")
            await sim.step()
            await market(client, "SELL", "0.004", reduceOnly="true", newClientOrderId="s-part")
            await sim.step()  # 08:00's first update: funding on the long 0.006
            await market(client, "SELL", "0.016", newClientOrderId="s-flip")  # closes 0.006, opens 0.010 short
            await sim.step(4)
            await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                              quantity="0.004", price="1000.0", reduceOnly="true",
                                              newClientOrderId="s-never")
            await client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="s-never")
            await market(client, "BUY", "0.004", reduceOnly="true", newClientOrderId="s-cover")
            await sim.step(5)  # past 16:00: funding on the short 0.006
            income = await client.futures_income_history(limit=1000)
            trades = await client.futures_account_trades(symbol="BTCUSDT")
            wallet = Decimal((await client.futures_account_balance())[0]["balance"])
            account = await client.futures_account()
            orders = {o["clientOrderId"]: o["orderId"] for o in await client.futures_get_all_orders(symbol="BTCUSDT")}
    change = wallet - Decimal("10000")
    assert sum(Decimal(r["income"]) for r in income) == change  # exactly, to the last digit
    assert Decimal(account["totalWalletBalance"]) == wallet == sim.exchange.account.wallet_balance
    kinds = Counter(r["incomeType"] for r in income)
    assert kinds == {"COMMISSION": 4, "REALIZED_PNL": 3, "FUNDING_FEE": 2}  # 4 fills, 3 of them closing
    fundings = [Decimal(r["income"]) for r in income if r["incomeType"] == "FUNDING_FEE"]
    assert all(-f.as_tuple().exponent > 8 for f in fundings)  # shown exactly, not rounded to 8 decimals
    assert fundings[0] < 0 < fundings[1]  # the long paid, the short received (positive rates)
    by_type = {k: sum(Decimal(r["income"]) for r in income if r["incomeType"] == k) for k in kinds}
    acc = sim.exchange.account
    assert by_type["COMMISSION"] == -acc.fees_paid and by_type["REALIZED_PNL"] == acc.realized_pnl
    assert by_type["FUNDING_FEE"] == -acc.funding_paid

    # userTrades: one row per fill, the same commissions and realised PnL, and the income
    # of each fill carries its trade id.
    assert [t["orderId"] for t in trades] == [orders[c] for c in ("s-open", "s-part", "s-flip", "s-cover")]
    assert sum(Decimal(t["commission"]) for t in trades) == acc.fees_paid
    assert sum(Decimal(t["realizedPnl"]) for t in trades) == acc.realized_pnl
    assert {r["tradeId"] for r in income if r["incomeType"] != "FUNDING_FEE"} == {str(t["id"]) for t in trades}
    flip = trades[2]
    assert (flip["side"], flip["qty"], flip["buyer"], flip["maker"], flip["positionSide"]) == \
        ("SELL", "0.016", False, False, "BOTH")
    assert Decimal(flip["quoteQty"]) == Decimal(flip["qty"]) * Decimal(flip["price"])
    # the flip realised only the 0.006 it closed: (price - entry) x 0.006
    entry = Decimal(trades[0]["price"])
    assert Decimal(flip["realizedPnl"]) == (Decimal(flip["price"]) - entry) * Decimal("0.006")
    assert Decimal(trades[0]["realizedPnl"]) == 0  # an opening fill realises nothing
    assert len({r["tranId"] for r in income}) == len(income)
    assert [r["time"] for r in income] == sorted(r["time"] for r in income)


# ---------------------------------------------------------------------------- userTrades


async def test_user_trades_shape_and_binance_query_rules(sim, client):
    ids = []
    for hour in range(3):  # three fills an hour apart on the server clock
        skew_to(sim, client, hour * HOUR_MS)
        ids.append((await market(client, "BUY", "0.010", newClientOrderId=f"t-{hour}"))["orderId"])
    rows = await client.futures_account_trades(symbol="BTCUSDT")
    assert [r["orderId"] for r in rows] == ids
    row = rows[0]
    assert set(row) == {"buyer", "commission", "commissionAsset", "id", "maker", "orderId", "price", "qty",
                        "quoteQty", "realizedPnl", "side", "positionSide", "symbol", "time", "marginAsset"}
    assert (row["buyer"], row["maker"], row["side"], row["symbol"], row["commissionAsset"]) == \
        (True, False, "BUY", "BTCUSDT", "USDT")
    assert (row["price"], row["qty"], row["quoteQty"]) == ("41721.20", "0.010", "417.21200")
    assert Decimal(row["commission"]) == Decimal("0.208606") and Decimal(row["realizedPnl"]) == 0
    times = [r["time"] for r in rows]
    assert times[1] - times[0] >= HOUR_MS - 5_000

    first_id = rows[0]["id"]
    assert [r["id"] for r in await client.futures_account_trades(symbol="BTCUSDT", fromId=first_id + 1)] == \
        [first_id + 1, first_id + 2]
    window = await client.futures_account_trades(symbol="BTCUSDT", startTime=times[1], endTime=times[2])
    assert [r["id"] for r in window] == [first_id + 1, first_id + 2]
    assert [r["id"] for r in await client.futures_account_trades(symbol="BTCUSDT", limit=2)] == \
        [first_id + 1, first_id + 2]  # without a start: the latest
    assert [r["id"] for r in await client.futures_account_trades(symbol="BTCUSDT", startTime=times[0], limit=1)] == \
        [first_id]  # with a start: the first from it
    assert [r["orderId"] for r in await client.futures_account_trades(symbol="BTCUSDT", orderId=ids[1])] == [ids[1]]

    too_long = await api_error(client.futures_account_trades(symbol="BTCUSDT", startTime=times[0],
                                                             endTime=times[0] + 7 * DAY_MS + 1))
    assert (too_long.code, too_long.message) == (-1127, "More than 168 hours between startTime and endTime.")
    combo = await api_error(client.futures_account_trades(symbol="BTCUSDT", fromId=first_id, startTime=times[0]))
    assert (combo.code, combo.message) == (-1128, "Combination of optional parameters invalid.")
    assert (await api_error(client.futures_account_trades(symbol="BTCUSDT", limit=1001))).code == -1130
    assert (await api_error(client.futures_account_trades())).code == -1102
    assert (await api_error(client.futures_account_trades(symbol="ETHUSDT"))).code == -1121

    skew_to(sim, client, 9 * DAY_MS)  # a week later: the default window (last 7 days) is empty
    assert await client.futures_account_trades(symbol="BTCUSDT") == []
    assert len(await client.futures_account_trades(symbol="BTCUSDT", startTime=times[0])) == 3


async def test_user_trades_default_and_maximum_limit(candles):
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START,
                                enforce_rate_limits=False, fee_rate=Decimal("0")) as sim:
        async with connect(sim) as client:
            for i in range(520):
                await market(client, "BUY" if i % 2 == 0 else "SELL", "0.002")
            assert len(await client.futures_account_trades(symbol="BTCUSDT")) == 500
            assert len(await client.futures_account_trades(symbol="BTCUSDT", limit=1000)) == 520
            income = await client.futures_income_history()
    # fee 0: no COMMISSION entries; the 260 closing sells each have a REALIZED_PNL; default limit 100
    assert len(income) == 100 and {r["incomeType"] for r in income} == {"REALIZED_PNL"}


# ---------------------------------------------------------------------------- income


async def test_income_filters_windows_and_signs(sim, client):
    await market(client, "BUY", "0.010")
    skew_to(sim, client, HOUR_MS)
    await sim.step()
    await market(client, "SELL", "0.010", reduceOnly="true")  # 41644.9 < 41721.2: a loss
    income = await client.futures_income_history()
    assert [r["incomeType"] for r in income] == ["COMMISSION", "REALIZED_PNL", "COMMISSION"]
    row = income[1]
    assert set(row) == {"symbol", "incomeType", "income", "asset", "info", "time", "tranId", "tradeId"}
    assert (row["symbol"], row["asset"], row["info"]) == ("BTCUSDT", "USDT", "REALIZED_PNL")
    assert Decimal(row["income"]) == (Decimal("41644.9") - Decimal("41721.2")) * Decimal("0.010")  # negative
    assert all(Decimal(r["income"]) < 0 for r in income if r["incomeType"] == "COMMISSION")  # paid: negative
    assert isinstance(row["tranId"], int) and isinstance(row["tradeId"], str)
    assert [r["incomeType"] for r in await client.futures_income_history(incomeType="COMMISSION")] == ["COMMISSION"] * 2
    late = await client.futures_income_history(startTime=income[1]["time"])
    assert [r["tranId"] for r in late] == [r["tranId"] for r in income[1:]]
    early = await client.futures_income_history(startTime=0, endTime=income[0]["time"])
    assert [r["tranId"] for r in early] == [income[0]["tranId"]]
    assert [r["tranId"] for r in await client.futures_income_history(limit=1)] == [income[-1]["tranId"]]
    assert (await api_error(client.futures_income_history(limit=1001))).code == -1130
    assert (await api_error(client.futures_income_history(symbol="ETHUSDT"))).code == -1121
    skew_to(sim, client, 9 * DAY_MS)
    assert await client.futures_income_history() == []  # only the last 7 days without a time
    assert len(await client.futures_income_history(startTime=0)) == 3


# ---------------------------------------------------------------------------- rates, brackets, tickers


async def test_commission_rate_is_the_rate_every_fill_pays(sim, client):
    rate = await client.futures_commission_rate(symbol="BTCUSDT")
    assert rate == {"symbol": "BTCUSDT", "makerCommissionRate": "0.0005", "takerCommissionRate": "0.0005"}
    fill = await market(client, "BUY", "0.010")
    (trade,) = await client.futures_account_trades(symbol="BTCUSDT")
    assert Decimal(trade["commission"]) == Decimal(fill["cumQuote"]) * Decimal(rate["takerCommissionRate"])
    assert (await api_error(client.futures_commission_rate())).code == -1102
    assert await weight_of(sim, client, lambda: client.futures_commission_rate(symbol="BTCUSDT")) == 20


async def test_leverage_brackets_match_the_maintenance_margin_the_account_is_charged(sim, client):
    (listed,) = await client.futures_leverage_bracket()
    single = await client.futures_leverage_bracket(symbol="BTCUSDT")
    assert single == listed and single["symbol"] == "BTCUSDT"
    brackets = single["brackets"]
    assert [b["bracket"] for b in brackets] == list(range(1, len(brackets) + 1))
    assert brackets[0] == {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                           "maintMarginRatio": 0.004, "cum": 0.0}
    assert all(b["notionalFloor"] == a["notionalCap"] for a, b in zip(brackets, brackets[1:]))
    assert [b["initialLeverage"] for b in brackets] == sorted((b["initialLeverage"] for b in brackets), reverse=True)
    assert {Decimal(str(b["maintMarginRatio"])) for b in brackets} == {MAINTENANCE_MARGIN_RATE}
    # What the brackets say is what positionRisk charges and reports.
    await client.futures_change_leverage(symbol="BTCUSDT", leverage=20)
    await market(client, "BUY", "0.100")
    (risk,) = await client.futures_position_information()
    assert Decimal(risk["maintMargin"]) == abs(Decimal(risk["notional"])) * Decimal(str(brackets[0]["maintMarginRatio"]))
    (risk_v2,) = await client.futures_position_information(version=2)
    cap = next(b["notionalCap"] for b in brackets if b["initialLeverage"] <= 20)
    assert int(risk_v2["maxNotionalValue"]) == cap == 100_000_000
    assert await weight_of(sim, client, lambda: client.futures_leverage_bracket(symbol="BTCUSDT")) == 1


async def test_tickers_show_the_last_price(sim, client):
    await sim.step_update()
    price = sim.price
    v2 = await client.futures_symbol_ticker(symbol="BTCUSDT")  # python-binance asks /fapi/v2
    assert set(v2) == {"symbol", "price", "time"} and Decimal(v2["price"]) == price
    assert v2["time"] == sim.market.market_time_ms()
    async with connect(sim) as other:
        all_v1 = await other._request_futures_api("get", "ticker/price", version=1, data={})
    assert all_v1 == [v2]
    book = await client.futures_orderbook_ticker(symbol="BTCUSDT")
    assert set(book) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time", "lastUpdateId"}
    assert Decimal(book["bidPrice"]) == Decimal(book["askPrice"]) == price  # fills happen at this price
    assert Decimal(book["bidQty"]) == sim.exchange.filters.max_qty
    await sim.step_update()
    later = await client.futures_orderbook_ticker()
    assert isinstance(later, list) and later[0]["lastUpdateId"] > book["lastUpdateId"]
    assert await weight_of(sim, client, lambda: client.futures_symbol_ticker(symbol="BTCUSDT")) == 1
    assert await weight_of(sim, client, lambda: client.futures_symbol_ticker()) == 2
    assert await weight_of(sim, client, lambda: client.futures_orderbook_ticker(symbol="BTCUSDT")) == 2
    assert await weight_of(sim, client, lambda: client.futures_orderbook_ticker()) == 5
    assert await weight_of(sim, client, lambda: client.futures_account_trades(symbol="BTCUSDT")) == 5
    assert await weight_of(sim, client, lambda: client.futures_income_history()) == 30
    assert abs(sim.server_time_ms() - time.time() * 1000 - sim.faults.clock_skew_ms) < 5_000
