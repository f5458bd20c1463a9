"""The emergency protocol against the simulator's real faults: a refused close, partial fills,
an outage in the middle of the emergency, an operator who takes over, an unknown order
outcome and repeated failures. Flat is only ever what the exchange reads back."""

from __future__ import annotations

from decimal import Decimal as D

from support import EngineHarness, FixedAgent, engine_settings
from trader_core.journal import read_emergencies


async def open_position(h: EngineHarness, quantity: D) -> None:
    """A position opened outside the session (adopted at start)."""
    await h.exchange.connect()
    await h.exchange.client.futures_create_order(
        symbol="BTCUSDT", side="BUY" if quantity > 0 else "SELL", type="MARKET",
        quantity=str(abs(quantity)), newClientOrderId="operator-manual-1",
    )


async def holding(sim, run, tmp_path, quantity=D("0.05"), **settings):
    """A started session holding ``quantity`` (adopted), whose next account read fails:
    with ``max_consecutive_failures = 1`` that is an emergency on the next candle."""
    h = EngineHarness(sim, run, tmp_path / "p", engine_settings(adopt=True, max_failures=1, **settings),
                      agent=FixedAgent(0.0))
    await open_position(h, quantity)
    await h.start()
    return h


def fail_next_account_read(sim):
    sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")  # all three retries


def kinds(h):
    return [(e.level, e.kind) for e in h.events]


async def test_a_refused_close_is_not_flat_halts_and_keeps_trying_until_flat(sim, tiny_run, tmp_path):
    h = await holding(sim, tiny_run, tmp_path)
    sim.faults.refuse_orders(-2019)  # every close refused until released
    fail_next_account_read(sim)
    candle = await sim.step()
    await h.wait_row(candle.open_time)
    await h.wait_for(lambda: len(h.emergency_rows) == 1, "the first emergency row")
    first = h.emergency_rows[0]
    assert first["trigger"] == "connection_failures" and first["flat"] == "false"
    assert first["position_before"] == "0.05" and first["position_after"] == "0.05"
    assert first["close_attempts"] == "3"  # the configured attempts ([retries] attempts = 3)
    assert "-2019" in first["detail"] and first["state_after"] == "HALTED"
    assert h.engine.state == "HALTED" and h.engine.snapshot.closing
    assert ("emergency", "not-flat") in kinds(h)
    assert h.journal_rows[-1]["order_status"] == "ERROR:account"  # the candle still has its row
    # It never just exits: still closing, still HALTED, while the exchange refuses.
    refused = len(sim.orders_received)
    await h.wait_for(lambda: len(sim.orders_received) > refused + 2, "more close attempts")
    assert not h.task.done() and h.engine.state == "HALTED"
    sim.faults.release_orders()
    await h.ended()
    rows = read_emergencies(h.session.journal.emergencies_path)
    assert len(rows) == 2 and rows[1]["seq"] == rows[0]["seq"] == "1"
    assert rows[1]["flat"] == "true" and rows[1]["position_after"] == "0" and rows[1]["closed_qty"] == "-0.05"
    assert rows[1]["close_fills"] == "1" and D(rows[1]["fees"]) > 0
    assert (await h.exchange_position()).flat
    assert not h.engine.snapshot.closing and h.engine.state == "HALTED"


async def test_partial_fills_are_closed_round_after_round_and_every_fill_is_recorded(sim, tiny_run, tmp_path):
    h = await holding(sim, tiny_run, tmp_path)
    sim.faults.partial_fill_next_orders(40, "0.5")  # every close executes half (down to the step), then none
    fail_next_account_read(sim)
    await sim.step()
    await h.wait_for(lambda: len(h.emergency_rows) == 1, "the first emergency row")
    first = h.emergency_rows[0]
    assert first["flat"] == "false" and D(first["position_after"]) > 0  # partially closed: NOT flat
    assert D(first["closed_qty"]) == -(D("0.05") - D(first["position_after"]))
    assert int(first["close_fills"]) >= 3
    await h.ended()  # once the partial fills run out, the close completes
    rows = h.emergency_rows
    assert rows[-1]["flat"] == "true" and rows[-1]["position_after"] == "0"
    assert sum(D(r["closed_qty"]) for r in rows) == D("-0.05")
    trades = [o for o in sim.exchange.orders.values() if o.client_order_id.startswith(f"sac-{h.session.tag}-e1")]
    assert sum(int(r["close_fills"]) for r in rows) == sum(1 for o in trades if o.executed_qty > 0)
    assert sum(D(r["fees"]) for r in rows) == sum(sum(o.fees, D(0)) for o in trades)
    assert (await h.exchange_position()).flat


async def test_an_outage_in_the_middle_of_the_emergency(sim, tiny_run, tmp_path):
    h = await holding(sim, tiny_run, tmp_path, quantity=D("-0.03"))
    h.log.subscribe(lambda e: sim.faults.start_outage() if (e.level, e.kind) == ("emergency", "connection_failures")
                    else None)
    fail_next_account_read(sim)
    await sim.step()
    await h.wait_for(lambda: len(h.emergency_rows) == 1, "the first emergency row")
    first = h.emergency_rows[0]
    assert first["flat"] == "false" and first["position_after"] == "unknown"  # nothing could be read back
    assert h.engine.state == "HALTED" and not h.task.done()
    sim.faults.end_outage()
    await h.ended()
    last = h.emergency_rows[-1]
    assert last["flat"] == "true" and last["closed_qty"] == "0.03"
    assert (await h.exchange_position()).flat


async def test_the_operator_takes_over_a_close_that_never_succeeds(sim, tiny_run, tmp_path):
    h = await holding(sim, tiny_run, tmp_path)
    sim.faults.refuse_orders(-2019)
    fail_next_account_read(sim)
    await sim.step()
    await h.wait_for(lambda: len(h.emergency_rows) == 1, "the first emergency row")
    h.engine.stop()  # q / Ctrl-C: the operator takes the position over
    await h.ended()
    rows = h.emergency_rows
    assert [r["flat"] for r in rows] == ["false", "false"]
    assert "operator took over" in rows[1]["detail"] and rows[1]["position_after"] == "0.05"
    assert any("left open" in e.message for e in h.events)
    assert (await h.exchange_position()).quantity == D("0.05")


async def test_an_unknown_order_outcome_runs_the_emergency(sim, tiny_run, tmp_path):
    """The model's order is processed but its answer is lost, and the exchange cannot be asked
    within the grace window: the engine cannot know its position, so it closes everything."""
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=FixedAgent(0.5))
    await h.start()
    sim.faults.hold_order_responses(1, seconds=30)
    sim.faults.fail_next_requests(1000, status=503, path_prefix="/fapi/v1/order", method="GET")
    candle = await sim.step()
    await h.wait_row(candle.open_time)
    row = h.journal_rows[-1]
    assert row["order_status"] == "UNKNOWN" and row["client_order_id"].endswith(f"-{candle.open_time}-t")
    rows = h.emergency_rows
    assert [r["trigger"] for r in rows] == ["critical_error"] and rows[0]["flat"] == "true"
    assert h.engine.state == "HALTED"
    assert (await h.exchange_position()).flat
    sim.faults.release_holds()


async def test_consecutive_failures_trigger_the_emergency_at_the_configured_count(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(adopt=True, max_failures=3),
                      agent=FixedAgent(0.0))
    await open_position(h, D("0.02"))
    await h.start()
    for expected_rows in (1, 2):
        fail_next_account_read(sim)
        await h.step()
        assert len(h.journal_rows) == expected_rows and h.emergency_rows == []  # not yet
        assert h.engine.state == "RUNNING"
    fail_next_account_read(sim)
    await h.step()
    assert [r["order_status"] for r in h.journal_rows] == ["ERROR:account"] * 3
    assert [r["trigger"] for r in h.emergency_rows] == ["connection_failures"]
    assert h.emergency_rows[0]["flat"] == "true" and h.engine.state == "HALTED"
    await h.ended()


async def test_a_success_resets_the_consecutive_failure_count(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(max_failures=2), agent=FixedAgent(0.0))
    await h.start()
    fail_next_account_read(sim)
    await h.step()
    await h.step()  # a good step in between
    fail_next_account_read(sim)
    await h.step()
    assert [r["order_status"] for r in h.journal_rows][::2] == ["ERROR:account", "ERROR:account"]
    assert h.emergency_rows == [] and h.engine.state == "RUNNING"
    await h.stop()


async def test_the_drawdown_latch_is_written_before_the_first_close_order(sim, tiny_run, tmp_path):
    """The close order's answer is held: at that moment - the emergency half done - the
    latch must already be on disk, so a crash right there still refuses the restart."""
    from trader_core.latch import read_latch

    now, following = sim.price, D(str(sim.candles.iloc[sim.current_index]["close"]))
    assert abs(following - now) >= 10, "the staged candle must move"
    losing = D("0.05") if following < now else D("-0.05")
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(adopt=True, max_drawdown=0.00001),
                      agent=FixedAgent(0.0))
    await open_position(h, losing)
    await h.start()
    sim.faults.hold_order_responses(1)
    await sim.step()
    held = await sim.faults.wait_for_held_order(timeout=15)
    assert "-e1d-" in held  # the drawdown emergency's first close order is out, its answer held
    latch = read_latch(tmp_path / "p")
    assert latch is not None and latch.reason.startswith("drawdown")
    assert h.emergency_rows == []  # nothing recorded yet: the latch came first
    sim.faults.release_holds()
    await h.ended()
    assert [r["trigger"] for r in h.emergency_rows] == ["max_drawdown"] and h.emergency_rows[0]["flat"] == "true"
