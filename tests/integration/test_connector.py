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
from trader_core.exchanges.base import make_client_order_id
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
    result = await ex.market_order(D("0.020"), False, make_client_order_id("ab12cd34", 1_700_000_000_000))
    assert result.filled and result.resolved_by_query and result.executed_qty == D("0.020")
    assert len(sim.orders_received) == 1  # zero duplicates
    assert (await ex.position()).quantity == D("0.020")
    assert any(kind == "unknown" for kind, _ in events)
    await ex.close()


async def test_unprocessed_5xx_is_queried_then_resent_once_with_the_same_id(exchange, sim):
    sim.faults.fail_next_requests(1, status=503, path_prefix="/fapi/v1/order")
    result = await exchange.market_order(D("0.010"), False, "sac-t-5xx")
    assert result.filled and result.attempts == 2
    ids = [r.client_order_id for r in sim.orders_received if r.accepted]
    assert ids == ["sac-t-5xx"]  # exactly one fill
    assert (await exchange.position()).quantity == D("0.010")


async def test_network_error_while_querying_is_not_treated_as_not_found(sim):
    ex = make_connector(sim, timeout_s=0.5)
    await ex.start(leverage=3)
    sim.faults.timeout_after_accept(1, hold_seconds=5)
    sim.faults.fail_next_requests(10, status=503, path_prefix="/fapi/v1/order")  # the queries fail too
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
    result = await exchange.close_all("sac-x-f1")
    assert result.flat and result.cancelled_orders == 1 and result.final_position == 0
    assert (await exchange.position()).flat and await exchange.open_orders() == []
    closing = [r for r in sim.orders_received if r.client_order_id.startswith("sac-x-f1")]
    assert len(closing) == 1 and closing[0].reduce_only and closing[0].quantity == D("0.030")


async def test_close_all_when_flat_sends_nothing(exchange, sim):
    result = await exchange.close_all("sac-x-f2")
    assert result.flat and result.orders == () and sim.orders_received == []


async def test_reconciliation_refuses_an_unknown_position_unless_adopted(exchange):
    await exchange.market_order(D("0.010"), False, "someone-else-1")
    with pytest.raises(ReconciliationError, match="position of 0.01.* this session expects 0"):
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
    assert (await reconcile(exchange, known_client_ids=frozenset({"manual-order-7"}))).open_orders


async def test_order_intent_is_recorded_before_the_order_is_sent(sim):
    seen = []

    async def record(client_order_id, quantity, reduce_only):
        seen.append((client_order_id, quantity, reduce_only, len(sim.orders_received)))

    ex = make_connector(sim)
    ex.on_intent = record
    await ex.start(leverage=3)
    await ex.market_order(D("0.010"), False, "sac-t-intent")
    assert seen == [("sac-t-intent", D("0.010"), False, 0)]  # recorded while nothing had reached the exchange
    await ex.close()


async def test_no_order_is_sent_if_its_intent_cannot_be_recorded(sim):
    def broken(client_order_id, quantity, reduce_only):
        raise OSError("journal disk full")

    ex = make_connector(sim)
    ex.on_intent = broken
    await ex.start(leverage=3)
    with pytest.raises(OSError, match="disk full"):
        await ex.market_order(D("0.010"), False, "sac-t-nointent")
    assert sim.orders_received == []
    await ex.close()
