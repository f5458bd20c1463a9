"""Scenario tests: the real engine, connector and feed against the loopback simulator."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from support import EngineHarness, engine_settings
from trader_core.errors import LatchedError
from trader_core.journal import read_emergencies, read_steps
from trader_core.latch import check_not_latched, clear_latch, read_latch


def settings(max_drawdown=0.5, adopt=False):
    return engine_settings(adopt=adopt, max_drawdown=max_drawdown)


async def open_position(harness, quantity):
    """A position opened outside the session (as an operator would on the exchange's site)."""
    harness_ex = harness.exchange
    if harness_ex.client is None:
        await harness_ex.connect()
    await harness_ex.client.futures_create_order(
        symbol="BTCUSDT", side="BUY" if quantity > 0 else "SELL", type="MARKET",
        quantity=str(abs(quantity)), newClientOrderId="operator-manual-1",
    )


async def test_every_closed_candle_gives_exactly_one_journal_row(sim, tiny_run, tmp_path):
    h = await EngineHarness(sim, tiny_run, tmp_path / "p", settings()).start()
    first = sim.current_index
    await h.step(12)
    await h.stop()
    rows = read_steps(h.session.journal.steps_path)
    times = [int(r["candle_open_time"]) for r in rows]
    assert times == [int(t) for t in sim.candles["open_time"].iloc[first : first + 12]]
    assert all(r["mode"] == "sim" and r["state"] == "RUNNING" for r in rows)
    placed = [r for r in rows if r["order_status"] == "FILLED"]
    assert len(placed) == len([o for o in sim.orders_received if o.accepted])


async def test_drawdown_breach_ends_flat_latched_with_an_emergency_row(sim, tiny_run, tmp_path):
    production = tmp_path / "p"
    h = EngineHarness(sim, tiny_run, production, settings(max_drawdown=0.001, adopt=True))
    await open_position(h, D("0.2"))  # ~8,000 USDT long on 10,000: a 0.125 % move is a 0.1 % drawdown
    await h.start()
    for _ in range(60):
        await h.step()
        if h.engine.state == "HALTED":
            break
    await h.stop()
    assert h.engine.state == "HALTED" and h.engine.halted_reason.startswith("max_drawdown")
    assert (await h.exchange_position()).flat  # read back through a fresh connection of the test's own
    emergencies = read_emergencies(h.session.journal.emergencies_path)
    assert len(emergencies) == 1
    row = emergencies[0]
    assert row["trigger"] == "max_drawdown" and row["flat"] == "true" and row["position_after"] == "0"
    assert D(row["position_before"]) != 0
    latch = read_latch(production)
    assert latch is not None and latch.peak >= latch.equity
    with pytest.raises(LatchedError, match="sactui unlatch --train-id tiny"):
        check_not_latched(production, "tiny")
    clear_latch(production)
    check_not_latched(production, "tiny")


async def test_pause_stops_orders_but_not_data(sim, tiny_run, tmp_path):
    h = await EngineHarness(sim, tiny_run, tmp_path / "p", settings()).start()
    h.engine.pause()
    sent = len(sim.orders_received)
    await h.step(40)
    assert len(sim.orders_received) == sent  # no order while paused
    rows = read_steps(h.session.journal.steps_path)
    assert len(rows) == 40  # every candle still processed and journaled
    assert any(r["order_status"] == "SKIPPED:paused" for r in rows)  # the model wanted to trade
    h.engine.resume()
    await h.step(1)
    assert h.engine.state == "RUNNING"
    await h.stop()


async def test_flatten_closes_everything_and_pauses(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", settings(adopt=True))
    await open_position(h, D("-0.2"))
    await h.start()
    await h.step(2)
    record = await h.engine.flatten()
    assert record.flat and record.trigger == "operator_flatten" and record.position_after == "0"
    assert h.engine.state == "PAUSED"
    assert (await h.exchange.position()).flat
    sent = len(sim.orders_received)
    await h.step(3)
    assert len(sim.orders_received) == sent  # paused after the flatten
    await h.stop()
    rows = read_emergencies(h.session.journal.emergencies_path)
    assert [r["trigger"] for r in rows] == ["operator_flatten"]


async def test_websocket_drop_mid_session_loses_no_step(sim, tiny_run, tmp_path):
    h = await EngineHarness(sim, tiny_run, tmp_path / "p", settings()).start()
    first = sim.current_index
    await h.step(3)
    sim.faults.drop_market_streams()
    await sim.step(2)  # closed while the engine's stream is down
    await h.step(3)
    await h.stop()
    times = [int(r["candle_open_time"]) for r in read_steps(h.session.journal.steps_path)]
    assert times == [int(t) for t in sim.candles["open_time"].iloc[first : first + 8]]
    statuses = {r["order_status"] for r in read_steps(h.session.journal.steps_path)}
    assert h.feed.reconnects >= 1
    assert statuses  # journaled


async def test_unknown_position_at_start_is_refused(sim, tiny_run, tmp_path):
    from trader_core.errors import ReconciliationError

    h = EngineHarness(sim, tiny_run, tmp_path / "p", settings(adopt=False))
    await open_position(h, D("0.01"))
    with pytest.raises(ReconciliationError, match="refusing to trade"):
        await h.engine.run()
    assert [o.client_order_id for o in sim.orders_received] == ["operator-manual-1"]


async def test_backfilled_candles_update_features_but_are_not_acted_on(sim, tiny_run, tmp_path):
    h = await EngineHarness(sim, tiny_run, tmp_path / "p", settings()).start()
    first = sim.current_index
    await h.step(2)
    sim.faults.skip_candle_closes(3)
    await sim.step(3)
    await h.step(1)
    await h.stop()
    rows = read_steps(h.session.journal.steps_path)
    times = [int(r["candle_open_time"]) for r in rows]
    assert times == [int(t) for t in sim.candles["open_time"].iloc[first : first + 6]]
    # The three backfilled candles are history by the time they arrive: never traded on.
    for row in rows[2:5]:
        assert row["order_status"] in ("SKIPPED:stale", "SKIPPED:deadband", "SKIPPED:on_target"), row
    assert h.feed.backfilled == 3


async def test_flatten_still_works_after_the_session_ended(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", settings(adopt=True))
    await open_position(h, D("0.05"))
    await h.start()
    await h.step(1)
    await h.stop()  # the session is over and its connection closed
    assert h.exchange.client is None
    record = await h.engine.flatten()
    assert record.flat and record.position_after == "0"
    assert h.exchange.client is None  # reopened for the flatten only
    events = [e.kind for e in h.engine.snapshot.events]
    assert "flatten" in events and h.engine.snapshot.events[-1].seq > h.engine.snapshot.events[0].seq
