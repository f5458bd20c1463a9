"""The paper exchange: fills through the shared accounting, Binance's refusals, idempotent ids."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.accounting import FuturesAccount
from trader_core.errors import ExchangeError, OrderRejected
from trader_core.exchanges.base import Exchange
from trader_core.exchanges.filters import SymbolFilters
from trader_core.exchanges.paper import PaperExchange


def paper(balance: str = "10000", leverage: int = 1) -> PaperExchange:
    ex = PaperExchange("BTCUSDT", SymbolFilters.btcusdt_default(), D(balance), D("0.0005"), leverage)
    ex.set_price(D("50000"))
    return ex


async def test_is_an_exchange_and_starts_with_the_given_leverage():
    ex = paper()
    assert isinstance(ex, Exchange)
    await ex.start(5)
    assert (await ex.position()).leverage == 5
    assert await ex.open_orders() == [] and await ex.cancel_all_orders() == 0
    with pytest.raises(ValueError):
        await ex.start(0)
    await ex.close()


async def test_fills_and_fees_match_the_accounting_by_hand():
    ex = paper()
    result = await ex.market_order(D("0.1"), False, "sac-t1")
    assert result.filled and result.side == "BUY" and result.order_id == 1
    assert result.requested_qty == D("0.1") and result.executed_qty == D("0.1")
    assert result.avg_price == D("50000") and result.signed_executed_qty == D("0.1")
    fill = ex.fill_for("sac-t1")
    assert fill.fee == D("2.5")  # 0.1 * 50000 * 0.0005
    ex.set_price(D("51000"))
    account = await ex.account()
    assert account.wallet_balance == D("9997.5")
    assert account.unrealized_pnl == D("100")  # (51000 - 50000) * 0.1
    assert account.equity == D("10097.5")
    assert account.available_balance == D("4997.5")  # 10097.5 - 0.1 * 51000 / 1
    # the same fills on a bare FuturesAccount give the same numbers
    twin = FuturesAccount(D("10000"), D("0.0005"), 1)
    twin.fill(D("0.1"), D("50000"))
    assert account.equity == twin.equity(D("51000"))
    assert account.available_balance == twin.available_balance(D("51000"))

    sell = await ex.market_order(D("-0.04"), False, "sac-t2")
    assert sell.side == "SELL" and sell.executed_qty == D("0.04") and sell.avg_price == D("51000")
    assert ex.fill_for("sac-t2").fee == D("1.02")  # 0.04 * 51000 * 0.0005
    assert ex.fill_for("sac-t2").realized_pnl == D("40")  # (51000 - 50000) * 0.04
    position = await ex.position()
    assert position.quantity == D("0.06") and position.entry_price == D("50000")
    assert position.mark_price == D("51000") and position.unrealized_pnl == D("60")
    assert (await ex.account()).wallet_balance == D("10036.48")  # 10000 - 2.5 + 40 - 1.02
    twin.fill(D("-0.04"), D("51000"))
    assert position.liquidation_price == twin.liquidation_price()


async def test_a_repeated_client_order_id_returns_the_first_result_and_fills_nothing():
    ex = paper()
    first = await ex.market_order(D("0.1"), False, "sac-abc-1-t")
    ex.set_price(D("52000"))
    again = await ex.market_order(D("0.1"), False, "sac-abc-1-t")
    assert again is first
    assert (await ex.position()).quantity == D("0.1")
    assert ex.account_book.trade_count == 1 and ex.account_book.fees_paid == D("2.5")


async def test_below_min_notional_is_rejected_4164():
    ex = paper()
    ex.set_price(D("40000"))
    with pytest.raises(OrderRejected) as info:
        await ex.market_order(D("0.001"), False, "sac-small")  # 40 < 50
    assert info.value.code == -4164 and info.value.client_order_id == "sac-small"
    assert "no smaller than 50" in info.value.exchange_message
    assert (await ex.position()).flat and ex.account_book.fees_paid == 0


async def test_filter_codes_come_from_the_symbol_filters():
    ex = paper()
    for qty, code in ((D("0"), -4003), (D("0.0001"), -1111), (D("121"), -4005)):
        with pytest.raises(OrderRejected) as info:
            await ex.market_order(qty, False, "sac-f")
        assert info.value.code == code


async def test_reduce_only_when_flat_or_on_the_same_side_is_rejected_2022():
    ex = paper()
    with pytest.raises(OrderRejected) as info:
        await ex.market_order(D("-0.01"), True, "sac-r1")
    assert info.value.code == -2022
    await ex.market_order(D("0.01"), False, "sac-open")
    with pytest.raises(OrderRejected) as info:
        await ex.market_order(D("0.01"), True, "sac-r2")  # buying more is not a reduction
    assert info.value.code == -2022
    assert (await ex.position()).quantity == D("0.01")


async def test_insufficient_margin_is_rejected_2019_and_the_id_stays_usable():
    ex = paper()
    with pytest.raises(OrderRejected) as info:
        await ex.market_order(D("0.3"), False, "sac-big")  # 15000 notional on 10000 at 1x
    assert info.value.code == -2019
    assert (await ex.position()).flat and ex.account_book.wallet_balance == D("10000")
    await ex.start(2)  # at 2x the same order needs 7500 + fee 7.5
    result = await ex.market_order(D("0.3"), False, "sac-big")
    assert result.filled and (await ex.position()).quantity == D("0.3")


async def test_reduce_only_larger_than_the_position_is_cut_to_it():
    ex = paper()
    await ex.market_order(D("0.05"), False, "sac-o")
    result = await ex.market_order(D("-0.2"), True, "sac-ro")
    assert result.requested_qty == D("0.2") and result.executed_qty == D("0.05")
    assert (await ex.position()).flat


async def test_a_flip_closes_and_opens_the_remainder_at_the_price():
    ex = paper()
    await ex.market_order(D("0.1"), False, "sac-long")
    ex.set_price(D("49000"))
    result = await ex.market_order(D("-0.3"), False, "sac-flip")
    assert result.executed_qty == D("0.3")
    position = await ex.position()
    assert position.quantity == D("-0.2") and position.entry_price == D("49000")
    fill = ex.fill_for("sac-flip")
    assert fill.realized_pnl == D("-100")  # (49000 - 50000) * 0.1
    assert fill.fee == D("7.35")  # 0.3 * 49000 * 0.0005
    assert (await ex.account()).wallet_balance == D("10000") - D("2.5") - D("100") - D("7.35")


async def test_close_all_flattens_with_a_reduce_only_order_under_the_next_id():
    from trader_core.client_ids import emergency_order_ids

    ex = paper()
    await ex.market_order(D("-0.07"), False, "sac-short")
    ex.set_price(D("48000"))
    ids = emergency_order_ids("ab12cd34", 1, "operator_flatten")
    outcome = await ex.close_all(ids)
    assert outcome.flat and outcome.final_position == 0 and outcome.cancelled_orders == 0
    assert [o.client_order_id for o in outcome.orders] == ["sac-ab12cd34-e1o-1"]
    assert outcome.orders[0].side == "BUY" and outcome.orders[0].executed_qty == D("0.07")
    assert ex.fill_for("sac-ab12cd34-e1o-1").realized_pnl == D("140")  # (50000 - 48000) * 0.07
    again = await ex.close_all(ids)  # already flat: nothing to send, no id taken
    assert again.flat and again.orders == ()
    assert next(ids) == "sac-ab12cd34-e1o-2"


async def test_no_price_yet_is_an_exchange_error_not_a_fill():
    ex = PaperExchange("BTCUSDT", SymbolFilters.btcusdt_default(), D("1000"), D("0.0005"), 1)
    account = await ex.account()
    assert account.equity == D("1000") and account.available_balance == D("1000")
    with pytest.raises(ExchangeError, match="no price"):
        await ex.market_order(D("0.001"), False, "sac-x")


async def test_float_prices_cross_into_decimal_as_printed():
    ex = paper()
    ex.set_price(65000.1)
    assert ex.price == D("65000.1")


