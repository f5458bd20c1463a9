"""The engine on Binance's push streams (python-binance and websockets against the simulator):
no REST between a close and its order, books as the exchange reports them, a guard that
watches every tick, and streams that drop or expire without a fill going missing."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import pytest

from support import (
    SIM_KEY, SIM_SECRET, AlternatingAgent, EngineHarness, FixedAgent, ShiftedClock, engine_settings, real_candle_file,
)
from trader_core.books import income_totals, journal_totals
from trader_core.simulator import LoopbackExchange

FUNDING = "binance_usdm_BTCUSDT_funding_8h_20240221_20250118.csv"


async def streamed(sim, run, tmp_path, agent, clock=None, **settings) -> EngineHarness:
    h = EngineHarness(sim, run, tmp_path / "p", engine_settings(**settings), agent=agent, streams=True, clock=clock)
    return await h.start()


async def open_position(h, quantity):
    await h.exchange.client.futures_create_order(
        symbol="BTCUSDT", side="BUY" if quantity > 0 else "SELL", type="MARKET", quantity=str(abs(quantity)),
        newClientOrderId="operator-manual-1")


def order_receipt(sim, client_id):
    found = [r for r in sim.orders_received if r.client_order_id == client_id]
    assert len(found) == 1, (client_id, found)
    return found[0]


async def test_with_the_streams_up_a_step_reads_no_rest_between_the_close_and_its_order(sim, tiny_run, tmp_path):
    h = await streamed(sim, tiny_run, tmp_path, AlternatingAgent())
    await h.step()  # the first mark arrives with this candle's updates
    assert h.streams.live
    for _ in range(6):
        candle = await h.sim.step()
        close_ns = sim.closes[-1].sent_ns
        assert await h.wait_row(candle.open_time)
        row = h.journal_rows[-1]
        assert row["order_status"] == "FILLED", row
        order_ns = order_receipt(sim, row["client_order_id"]).received_ns
        between = [(m, p) for ns, m, p in sim.rest.requests if close_ns < ns < order_ns]
        assert between == [], between  # zero REST calls between the close and the order
    # the journal's fee is what the exchange charged, from the stream
    trades = await h.exchange.user_trades(start_ms=int(time.time() * 1000) - 3_600_000)
    charged = {}
    for t in trades:
        charged[t.order_id] = charged.get(t.order_id, D(0)) + t.commission
    for row in h.journal_rows[1:]:
        order_id = order_receipt(sim, row["client_order_id"]).order_id
        assert D(row["order_fee"]) == charged[order_id]
        assert D(row["expected_fee"]) == D(row["order_fee"])  # the run's rate is the simulator's
    assert not any(e.kind == "streams" and "reads REST" in e.message for e in h.events)
    await h.stop()


@pytest.fixture()
async def funded_sim(candles_1h):
    """The simulator with the real funding file: a settlement every 8 candles."""
    from trader_core.candles import load_funding

    funding = load_funding(real_candle_file(FUNDING))
    start = int(candles_1h.index[candles_1h["open_time"] >= int(funding["funding_time"].iloc[3])][0]) - 2
    async with LoopbackExchange(candles_1h, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=start,
                                funding=funding, enforce_rate_limits=False) as sim:
        yield sim


async def test_fees_realised_pnl_and_funding_are_the_exchanges_own(funded_sim, tiny_run, tmp_path):
    sim = funded_sim
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.5))
    await h.step()
    h.engine.pipeline.agent = AlternatingAgent(0.6)  # then flip every candle: realised PnL on each close
    await h.step(20)  # across at least two 8 h funding settlements
    await h.stop()
    rows, emergencies = h.journal_rows, h.emergency_rows
    assert sum(r["order_status"] == "FILLED" for r in rows) >= 15
    income = await _income(sim)
    exchange = income_totals(income)
    journal = journal_totals(rows, emergencies)
    assert len([i for i in income if i[0] == "FUNDING_FEE"]) >= 2
    assert journal["COMMISSION"] == exchange["COMMISSION"]
    assert journal["REALIZED_PNL"] == exchange["REALIZED_PNL"]
    assert abs(journal["FUNDING_FEE"] - exchange["FUNDING_FEE"]) < D("1e-9")  # the funding column is a float
    assert D(str(rows[-1]["realized_pnl"])) == pytest.approx(exchange["REALIZED_PNL"] + exchange["FUNDING_FEE"])
    assert any(e.kind == "books" and "match the exchange" in e.message for e in h.events)


async def _income(sim):
    from support import make_connector

    connector = make_connector(sim)
    await connector.connect()
    try:
        return await connector.income(int(time.time() * 1000) - 86_400_000)
    finally:
        await connector.close()


async def test_a_mark_price_crash_between_closes_runs_the_emergency_before_the_next_close(sim, tiny_run, tmp_path):
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), adopt=True, max_drawdown=0.05)
    await open_position(h, D("0.2"))
    await sim.step_update()  # a mark inside the candle (no close: the policy does not act)
    await h.wait_for(lambda: h.streams.live and h.streams.book.position_qty == D("0.2"), "the live book")
    closes = len(sim.closes)
    shocked_at = time.monotonic()
    sim.faults.price_shock(fraction="-0.1")  # ~8 % of equity lost at once on a 0.2 BTC long
    await h.wait_for(lambda: h.emergency_rows, "the emergency row")
    took = time.monotonic() - shocked_at
    row = h.emergency_rows[0]
    assert row["trigger"] == "max_drawdown" and "between candle closes" in row["detail"]
    assert row["flat"] == "true" and len(sim.closes) == closes  # no candle closed meanwhile
    assert took < 1.0, took  # the guard acted within a second of the tick
    await h.ended()
    assert h.engine.state == "HALTED"


async def test_the_liquidation_distance_guard(sim, tiny_run, tmp_path):
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), adopt=True, max_drawdown=0.9,
                       liquidation_buffer=0.45)
    await open_position(h, D("0.45"))  # about 2x the wallet: the liquidation price is near half the entry
    await sim.step_update()
    await h.wait_for(lambda: h.streams.live and h.streams.book.liquidation_price, "the liquidation price")
    assert h.emergency_rows == []
    sim.faults.price_shock(fraction="-0.16")  # the mark ends about 44 % above the liquidation price
    await h.wait_for(lambda: h.emergency_rows, "the emergency row")
    row = h.emergency_rows[0]
    assert row["trigger"] == "liquidation_distance" and "from the liquidation price" in row["detail"]
    await h.ended()


async def test_a_margin_call_runs_the_emergency(sim, tiny_run, tmp_path):
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), adopt=True, max_drawdown=0.999,
                       liquidation_buffer=0.0)
    quantity = D("0.45")
    await open_position(h, quantity)
    await sim.step_update()
    await h.wait_for(lambda: h.streams.live and h.streams.book.position_qty == quantity, "the live book")
    position = h.streams.book.position_state()
    wallet = h.streams.book.wallet
    # a mark where maintenance margin / margin balance is 90 % (the simulator calls at 80 %)
    mmr = D("0.004")
    target = (quantity * position.entry_price - wallet) / (quantity - mmr * quantity / D("0.9"))
    sim.faults.price_shock(price=target.quantize(D("0.1")))
    await h.wait_for(lambda: h.emergency_rows, "the emergency row")
    assert h.emergency_rows[0]["trigger"] == "margin_call"
    await h.ended()


@pytest.mark.parametrize("fault", ["expire_listen_key", "drop_user_streams"])
async def test_a_lost_user_stream_is_resynced_and_no_fill_goes_missing(sim, tiny_run, tmp_path, fault):
    h = await streamed(sim, tiny_run, tmp_path, AlternatingAgent())
    await h.step(2)
    resyncs = h.streams.user.resyncs
    outcome = getattr(sim.faults, fault)()
    if asyncio.isfuture(outcome):
        await outcome
    await h.wait_for(lambda: h.streams.user.resyncs > resyncs and h.streams.live, "the stream back and resynced")
    await h.step(3)
    await h.stop()
    assert [r["order_status"] for r in h.journal_rows].count("FILLED") >= 4
    journal = journal_totals(h.journal_rows, h.emergency_rows)
    exchange = income_totals(await _income(sim))
    assert journal["COMMISSION"] == exchange["COMMISSION"] and journal["REALIZED_PNL"] == exchange["REALIZED_PNL"]
    assert any(e.kind == "stream-down" for e in h.events)
    book, held = h.streams.book, sim.exchange.account
    assert book.position_qty == held.position_qty and book.wallet == held.wallet_balance


async def test_a_stale_mark_makes_the_step_read_rest_and_say_so(sim, tiny_run, tmp_path):
    clock = ShiftedClock()
    h = await streamed(sim, tiny_run, tmp_path, AlternatingAgent(), clock=clock, mark_stale_seconds=5.0)
    await h.step()
    assert h.streams.live
    sim.faults.stall_mark_stream()  # the mark stream goes quiet on its open connection; klines flow
    clock.advance(10)  # ... for longer than mark_stale_seconds
    assert not h.streams.live
    before = len(sim.rest.requests)
    candle = await sim.step()
    await h.wait_row(candle.open_time)
    assert h.journal_rows[-1]["order_status"] == "FILLED"  # it still traded - on a REST read
    assert any(e.kind == "streams" and "reads REST" in e.message for e in h.events)
    assert any(p == "/fapi/v2/account" for _ns, _m, p in sim.rest.requests[before:])
    sim.faults.stall_mark_stream(False)
    await h.step()
    assert h.streams.live and any(e.kind == "streams" and "live again" in e.message for e in h.events)
    await h.stop()


async def test_a_missed_push_is_found_by_reconciliation_and_a_persistent_one_is_an_emergency(sim, tiny_run, tmp_path):
    """Two user events are lost (a position opened on the exchange's site, unseen by the stream):
    the REST reconciliation finds the difference, reports it and resyncs; with a limit of one
    mismatch, that is already the emergency protocol (book_mismatch)."""
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), reconcile_seconds=0.2, mismatch_limit=1)
    await h.step()
    sim.faults.lose_user_events(2)  # the fill and the account update of the next order
    await open_position(h, D("0.02"))
    assert h.streams.book.position_qty == 0  # the push never came
    await h.wait_for(lambda: h.emergency_rows, "the reconciliation's emergency")
    assert h.emergency_rows[0]["trigger"] == "book_mismatch"
    assert any(e.kind == "reconcile" and "differs from REST" in e.message for e in h.events)
    await h.ended()
    assert sim.exchange.account.position_qty == 0  # the emergency closed what the exchange held


async def test_a_single_mismatch_is_resynced_and_reported_not_an_emergency(sim, tiny_run, tmp_path):
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), reconcile_seconds=0.2, mismatch_limit=3,
                       adopt=True)
    await h.step()
    sim.faults.lose_user_events(2)
    await open_position(h, D("0.02"))
    await h.wait_for(lambda: h.streams.book.position_qty == D("0.02"), "the resync from REST")
    assert any(e.kind == "reconcile" for e in h.events) and h.emergency_rows == []
    await h.stop()


async def test_a_resync_is_dated_by_the_exchange_not_by_our_estimate_of_its_clock(sim, tiny_run, tmp_path):
    """Our view of the exchange's clock runs 0.9 s ahead (a forward step of our clock, inside
    Binance's 1 s tolerance, so no -1021 corrects it). A REST resync must not date the snapshot
    by that estimate: then every fill's ACCOUNT_UPDATE in the next 0.9 s looked older than the
    snapshot, was ignored, and the book kept a stale position (found by ``sactui soak``)."""
    h = await streamed(sim, tiny_run, tmp_path, AlternatingAgent())
    await h.step(2)
    h.exchange.client.timestamp_offset = (h.exchange.client.timestamp_offset or 0) + 900
    resyncs = h.streams.user.resyncs
    await sim.faults.drop_user_streams()
    await h.wait_for(lambda: h.streams.user.resyncs > resyncs and h.streams.live, "the stream back and resynced")
    for _ in range(2):  # at once: inside the 0.9 s
        candle = await sim.step()
        await h.wait_row(candle.open_time)
        assert h.journal_rows[-1]["order_status"] == "FILLED", h.journal_rows[-1]
        assert h.streams.book.position_qty == sim.exchange.account.position_qty
    assert not any("did not arrive on the user stream" in e.message for e in h.events), \
        [e.message for e in h.events if e.kind == "books"]
    await h.stop()


async def test_a_breach_seen_while_a_step_holds_the_engine_is_latched_with_the_figures_it_was_measured_on(
        sim, tiny_run, tmp_path):
    """The watch measures a drawdown between closes while the engine is inside a step (its order's
    answer held), and the mark falls further before the step ends: the latch must record the
    drawdown its detail states, not the deeper one read after the lock (issue 13: "a drawdown is
    rounded one way everywhere" - the two figures disagreed)."""
    import json

    from trader_core.accounting import drawdown

    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(1.0), adopt=True, max_drawdown=0.05)
    await open_position(h, D("0.2"))
    await sim.step_update()
    await h.wait_for(lambda: h.streams.live and h.streams.book.position_qty == D("0.2"), "the live book")
    sim.faults.hold_order_responses(1)  # the next close's order is processed, its answer held
    await sim.step()
    await sim.faults.wait_for_held_order()  # the engine is inside its step, holding its lock
    checks = h.engine.watch.checks
    first = sim.faults.price_shock(fraction="-0.1")
    await h.wait_for(lambda: h.streams.book.mark == first and h.engine.watch.checks > checks, "the watch's check")
    second = sim.faults.price_shock(fraction="-0.05")  # deeper, before the engine can act
    await h.wait_for(lambda: h.streams.book.mark == second, "the second mark")
    deeper = drawdown(h.streams.book.account_state().equity, h.engine.guard.peak)
    sim.faults.release_holds()
    await h.wait_for(lambda: h.emergency_rows, "the emergency row")
    row = h.emergency_rows[0]
    assert row["trigger"] == "max_drawdown" and "between candle closes" in row["detail"], row
    stated = row["detail"].split("drawdown ", 1)[1].split(" reached", 1)[0]
    latch = json.loads((tmp_path / "p" / "HALTED").read_text())
    assert f"{deeper:.2%}" != stated  # the race really happened: the book moved on before the latch
    assert f"{latch['drawdown']:.2%}" == stated, (latch, row["detail"])
    await h.ended()


async def test_the_listen_key_is_kept_alive_and_the_stream_reconnects_before_the_24_hour_cut(sim, tiny_run, tmp_path):
    """Binance drops a listenKey 60 minutes after its last keepalive and cuts every connection at
    24 hours: our user stream PUTs the key every ``keepalive_minutes`` and reconnects (a new key, a
    REST resync) after ``reconnect_hours`` - driven here by moving the client's clock, each check
    woken by a real push (an account update)."""
    clock = ShiftedClock()
    h = await streamed(sim, tiny_run, tmp_path, FixedAgent(0.0), clock=clock, adopt=True)
    await h.step()
    await h.wait_for(lambda: h.streams.live, "the streams")

    def calls(method):
        return sum(1 for _, m, path in sim.rest.requests if m == method and path == "/fapi/v1/listenKey")

    def said(text):
        return any(text in event.message for event in h.log.recent)

    created, kept = calls("POST"), calls("PUT")
    assert kept == 0
    await open_position(h, D("0.002"))  # a push before the keepalive is due: nothing to do
    await h.wait_for(lambda: h.streams.book.position_qty == D("0.002"), "the first push")
    assert calls("PUT") == 0
    clock.advance(31 * 60)  # past keepalive_minutes (30)
    await open_position(h, D("0.002"))
    await h.wait_for(lambda: calls("PUT") == kept + 1, "the keepalive PUT")
    assert calls("POST") == created  # the same key, kept alive
    clock.advance(23 * 3600)  # past reconnect_hours (23) since the connection opened
    await open_position(h, D("0.002"))
    await h.wait_for(lambda: said("reconnecting before the 24-hour cut"), "the planned reconnect")
    await h.wait_for(lambda: said("user-data stream reconnected and resynced from REST"), "the resync")
    assert calls("POST") == created + 1
    await h.wait_for(lambda: h.streams.book.position_qty == D("0.006"), "the book after the resync")
    await h.stop()
