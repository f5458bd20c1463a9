"""The python-binance connector against the loopback simulator, over real HTTP on 127.0.0.1.

Every fault the simulator can inject has a test with its expected outcome; the
simulator's own log of received orders is the ground truth for "never twice".
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from support import make_connector
from trader_core.clock import ManualClock
from trader_core.errors import (
    CredentialsError, OrderOutcomeUnknown, OrderRejected, ReconciliationError, TradingHeld,
)
from trader_core.client_ids import candle_order_id, emergency_order_ids
from trader_core.exchanges.base import NOT_FOUND
from trader_core.exchanges.filters import SymbolFilters
from trader_core.reconcile import reconcile


@pytest.fixture()
async def exchange(sim):
    ex = make_connector(sim)
    await ex.start(leverage=3)
    yield ex
    await ex.close()


def accepted(sim):
    return [r for r in sim.orders_received if r.accepted]


async def test_start_loads_filters_sets_leverage_and_margin_type_twice(sim):
    ex = make_connector(sim)
    await ex.start(leverage=3)
    assert ex.filters == SymbolFilters.btcusdt_default()
    await ex.start(leverage=3)  # margin type again: -4046 counts as success
    await ex.close()


async def test_market_order_fills_and_account_and_position_follow(exchange, sim):
    before = await exchange.account()
    result = await exchange.market_order(D("0.010"), False, "sac-t-1")
    assert result.filled and result.executed_qty == D("0.010") and result.avg_price == sim.price
    assert result.attempts == 1 and not result.resolved_by_query
    position = await exchange.position()
    assert position.quantity == D("0.010") and position.entry_price == sim.price
    after = await exchange.account()
    # taker fee 0.0005 of the notional left the wallet
    assert before.wallet_balance - after.wallet_balance == D("0.010") * sim.price * D("0.0005")
    assert len(sim.orders_received) == 1


async def test_timeout_after_accept_is_found_by_query_not_resent(sim):
    events = []
    ex = make_connector(sim, timeout_s=0.5, events=events)
    await ex.start(leverage=3)
    sim.faults.timeout_after_accept(1, hold_seconds=5)
    result = await ex.market_order(D("0.020"), False, candle_order_id("ab12cd34", 1_700_000_000_000))
    assert result.filled and result.resolved_by_query and result.executed_qty == D("0.020")
    assert len(sim.orders_received) == 1  # zero duplicates
    assert (await ex.position()).quantity == D("0.020")
    assert any(kind == "unknown" for kind, _ in events)
    await ex.close()


async def test_unprocessed_5xx_is_looked_up_for_the_grace_window_and_never_resent(exchange, sim):
    """On the real exchange an order may be invisible for a moment after a timeout, so a
    resend after "not found" could fill twice: the connector asks, and reports NOT_FOUND."""
    sim.faults.fail_next_requests(1, status=503, path_prefix="/fapi/v1/order", method="POST")
    result = await exchange.market_order(D("0.010"), False, "sac-t-5xx")
    assert result.status == NOT_FOUND and result.executed_qty == 0 and result.resolved_by_query
    assert [r.client_order_id for r in sim.orders_received] == ["sac-t-5xx"]  # one POST, refused, none after
    assert not accepted(sim)
    assert (await exchange.position()).flat


async def test_network_error_while_querying_is_not_treated_as_not_found(sim):
    ex = make_connector(sim, timeout_s=0.5)
    await ex.start(leverage=3)
    sim.faults.timeout_after_accept(1, hold_seconds=5)
    # the order is processed, its answer lost, and every query in the grace window fails too
    sim.faults.fail_next_requests(1000, status=503, path_prefix="/fapi/v1/order", method="GET")
    with pytest.raises(OrderOutcomeUnknown, match="outcome unknown"):
        await ex.market_order(D("0.010"), False, "sac-t-unk")
    assert len(sim.orders_received) == 1  # never resent blindly
    await ex.close()


async def test_clock_skew_is_resynced_and_the_call_retried(sim):
    events = []
    ex = make_connector(sim, events=events)
    await ex.start(leverage=3)
    sim.faults.clock_skew_ms = 30_000  # the server runs 30 s ahead: our timestamps look stale
    result = await ex.market_order(D("0.010"), False, "sac-t-skew")
    assert result.filled and result.attempts == 2
    assert any(kind == "resync" for kind, _ in events)
    assert len(accepted(sim)) == 1
    await ex.close()


async def test_rate_limit_backoff_honours_retry_after(sim):
    clock = ManualClock()
    ex = make_connector(sim, clock=clock)
    await ex.start(leverage=3)
    sim.faults.rate_limit(status=429, retry_after=4, count=1, path_prefix="/fapi/v1/order")
    result = await ex.market_order(D("0.010"), False, "sac-t-429")
    assert result.filled
    assert 4.0 in clock.sleeps
    assert len(accepted(sim)) == 1
    await ex.close()


async def test_ban_holds_trading_until_it_lifts(sim):
    clock = ManualClock()
    ex = make_connector(sim, clock=clock)
    await ex.start(leverage=3)
    sim.faults.rate_limit(status=418, retry_after=120, count=1, path_prefix="/fapi/v1/order")
    with pytest.raises(TradingHeld):
        await ex.market_order(D("0.010"), False, "sac-t-418a")
    sent = len(sim.orders_received)
    with pytest.raises(TradingHeld):
        await ex.market_order(D("0.010"), False, "sac-t-418b")
    assert len(sim.orders_received) == sent  # nothing sent while banned
    clock.advance(121)
    assert (await ex.market_order(D("0.010"), False, "sac-t-418c")).filled
    await ex.close()


async def test_bad_signature_is_fatal_with_minus_1022(sim):
    ex = make_connector(sim, secret="not-the-secret")
    with pytest.raises(CredentialsError, match="-1022"):
        await ex.start(leverage=3)
    await ex.close()
    assert sim.orders_received == []


async def test_unknown_key_is_fatal_with_minus_2015(sim):
    ex = make_connector(sim, key="someOtherKey99")
    with pytest.raises(CredentialsError, match="-2015"):
        await ex.start(leverage=3)
    await ex.close()


@pytest.mark.parametrize("code", [-2019, -4164, -2022])
async def test_definite_rejection_is_not_retried(exchange, sim, code):
    sim.faults.reject_next_order(code)
    with pytest.raises(OrderRejected) as err:
        await exchange.market_order(D("0.010"), False, "sac-t-rej")
    assert err.value.code == code
    assert len(sim.orders_received) == 1


async def test_real_margin_rejection(exchange, sim):
    with pytest.raises(OrderRejected) as err:
        await exchange.market_order(D("5"), False, "sac-t-big")  # ~5 BTC on a 10,000 USDT account
    assert err.value.code == -2019
    assert (await exchange.position()).flat


async def test_close_all_cancels_orders_and_flattens(exchange, sim):
    await exchange.market_order(D("-0.030"), False, "sac-t-short")
    await exchange.client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.010", price=str((sim.price * D("0.5")).quantize(D("0.1"))),
        timeInForce="GTC", newClientOrderId="resting-1",
    )
    assert len(await exchange.open_orders()) == 1
    result = await exchange.close_all(emergency_order_ids("ab12cd34", 1, "operator_flatten"))
    assert result.flat and result.cancelled_orders == 1 and result.final_position == 0 and not result.error
    assert (await exchange.position()).flat and await exchange.open_orders() == []
    closing = [r for r in sim.orders_received if r.client_order_id.startswith("sac-ab12cd34-e1o-")]
    assert len(closing) == 1 and closing[0].reduce_only and closing[0].quantity == D("0.030")
    assert closing[0].client_order_id == "sac-ab12cd34-e1o-1"


async def test_close_all_when_flat_sends_nothing(exchange, sim):
    result = await exchange.close_all(emergency_order_ids("ab12cd34", 2, "operator_flatten"))
    assert result.flat and result.orders == () and sim.orders_received == []


async def test_close_all_refused_reports_not_flat_from_a_re_read(exchange, sim):
    await exchange.market_order(D("0.030"), False, "sac-t-long")
    sim.faults.reject_next_order(-2019)
    result = await exchange.close_all(emergency_order_ids("ab12cd34", 3, "max_drawdown"))
    assert not result.flat and result.final_position == D("0.030")
    assert "-2019" in result.error
    assert (await exchange.position()).quantity == D("0.030")


async def test_close_all_whose_orders_are_lost_never_reports_flat(exchange, sim):
    """Every close POST fails with a 503 and is looked up (not found): the position is re-read
    after each, and close-all reports what the exchange holds - never "flat" on trust."""
    await exchange.market_order(D("-0.020"), False, "sac-t-short2")
    sim.faults.fail_next_requests(50, status=503, path_prefix="/fapi/v1/order", method="POST")
    ids = emergency_order_ids("ab12cd34", 4, "critical_error")
    result = await exchange.close_all(ids)
    assert not result.flat and result.final_position == D("-0.020")
    assert [o.status for o in result.orders] == [NOT_FOUND] * len(result.orders) and len(result.orders) == 5
    sent = [r.client_order_id for r in sim.orders_received][1:]
    assert sent == [f"sac-ab12cd34-e4c-{n}" for n in range(1, 6)]  # each id used once, never resent
    assert next(ids) == "sac-ab12cd34-e4c-6"


async def test_reconciliation_refuses_an_unknown_position_unless_adopted(exchange):
    await exchange.market_order(D("0.010"), False, "someone-else-1")
    with pytest.raises(ReconciliationError, match="position of 0.01 .*where this new session expects 0"):
        await reconcile(exchange)
    adopted = await reconcile(exchange, adopt=True)
    assert adopted.adopted and adopted.position.quantity == D("0.010")
    known = await reconcile(exchange, expected_position=D("0.010"))
    assert not known.adopted


async def test_reconciliation_refuses_unknown_open_orders(exchange, sim):
    await exchange.client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.010", price=str((sim.price * D("0.5")).quantize(D("0.1"))),
        timeInForce="GTC", newClientOrderId="manual-order-7",
    )
    with pytest.raises(ReconciliationError, match="manual-order-7"):
        await reconcile(exchange)
    assert (await reconcile(exchange, adopt=True)).open_orders
