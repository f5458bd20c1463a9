"""The engine under the faults that really happen: a ban, a reconnect across a close, a kline
from the future, a wrong-shaped answer, and the books kept through all of it."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from support import AlternatingAgent, EngineHarness, FixedAgent, engine_settings
from trader_core.clock import ManualClock
from trader_core.journal import SessionStats, read_emergencies, read_steps


def now_clock() -> ManualClock:
    """A clock at the real time that only moves when the test says so (sleeps are instant)."""
    import time

    return ManualClock(start_ms=int(time.time() * 1000))


async def test_a_ban_holds_trading_keeps_the_session_up_and_resumes_when_it_lifts(sim, tiny_run, tmp_path):
    clock = now_clock()
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(max_failures=1), agent=AlternatingAgent(),
                      clock=clock)
    await h.start()
    sim.faults.rate_limit(status=418, retry_after=120, count=1, path_prefix="/fapi/v2/account")
    sent = len(sim.orders_received)
    await h.step(3)
    rows = h.journal_rows
    assert [r["order_status"] for r in rows] == ["SKIPPED:banned"] * 3  # every candle journaled, none traded
    assert len(sim.orders_received) == sent and h.engine.state == "RUNNING" and not h.task.done()
    assert h.emergency_rows == []  # a ban is not a failure: with max 1 failure it would have been
    assert h.engine.snapshot.held_until_ms > clock.now_ms()  # the countdown the console shows
    assert any(e.kind == "held" and "IP ban" in e.message for e in h.events)
    clock.advance(121)  # the ban lifts
    await h.step(2)
    assert [r["order_status"] for r in h.journal_rows[3:]] == ["FILLED", "FILLED"]
    assert h.engine.snapshot.held_until_ms == 0
    await h.stop()


async def test_a_ban_on_the_order_itself_skips_that_candle_and_nothing_is_sent_until_it_lifts(
        sim, tiny_run, tmp_path):
    clock = now_clock()
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=AlternatingAgent(), clock=clock)
    await h.start()
    sim.faults.rate_limit(status=418, retry_after=60, count=1, path_prefix="/fapi/v1/order")
    await h.step(2)
    assert [r["order_status"] for r in h.journal_rows] == ["SKIPPED:banned", "SKIPPED:banned"]
    assert [r.accepted for r in sim.orders_received] == [False]  # the one refused POST, nothing after
    clock.advance(61)
    await h.step()
    assert h.journal_rows[-1]["order_status"] == "FILLED"
    await h.stop()


async def test_the_newest_candle_caught_up_after_a_reconnect_is_never_traded(sim, tiny_run, tmp_path):
    """The close happens while the stream is down; after the reconnect the feed fetches it from
    REST. It is the newest candle (not stale by market time) - only the backfilled rule stops a
    policy that wants to trade on every candle."""
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=AlternatingAgent())
    await h.start()
    await h.step()
    sim.faults.start_outage(websockets=True)
    await sim.faults.drop_market_streams()
    sent = len(sim.orders_received)
    missed = await sim.step()  # closed while nobody listens
    sim.faults.end_outage()
    await h.wait_row(missed.open_time)
    row = h.journal_rows[-1]
    assert int(row["candle_open_time"]) == missed.open_time and row["order_status"] == "SKIPPED:backfilled"
    assert len(sim.orders_received) == sent
    assert any(e.kind == "catch-up" for e in h.events) and any(e.kind == "disconnect" for e in h.events)
    await h.step(2)
    assert "FILLED" in [r["order_status"] for r in h.journal_rows[-2:]]  # live candles trade again
    await h.stop()


async def test_a_kline_far_in_the_future_is_refused_and_trading_goes_on(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=FixedAgent(0.0))
    await h.start()
    await h.step()
    bogus = {"e": "kline", "E": 0, "s": "BTCUSDT", "k": {
        "t": 4_102_444_800_000, "T": 4_102_448_399_999, "s": "BTCUSDT", "i": "1h", "o": "1", "c": "1", "h": "1",
        "l": "1", "v": "1", "x": True}}
    assert sim.streams.publish_raw_market(bogus) == 1
    await h.wait_for(lambda: any(e.kind == "future" for e in h.events), "the refusal of the future kline")
    await h.step(2)
    assert len(h.journal_rows) == 3 and h.engine.state == "RUNNING" and not h.task.done()
    await h.stop()


async def test_feed_events_reach_the_operator_through_the_launcher(tiny_run_copy, candles_1h, monkeypatch):
    """The launcher wires the market feed into the session's event log: a dropped stream and
    its reconnect show in the events a console or headless run prints."""
    from support import SIM_KEY, SIM_SECRET
    from trader_core.launcher import SessionOptions, run_session
    from trader_core.simulator import LoopbackExchange

    runs_dir, train_id = tiny_run_copy
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", SIM_KEY)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SIM_SECRET)
    events, steps = [], []
    async with LoopbackExchange(candles_1h, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=600) as sim:
        engines = []
        session = asyncio.ensure_future(run_session(
            SessionOptions(train_id, "testnet", runs_dir, endpoint=sim.rest_base, max_candles=3),
            engine_settings(), on_event=events.append, on_step=steps.append, on_engine=engines.append))
        for _ in range(500):
            if engines and engines[0].state == "RUNNING" and engines[0].feed.connected:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the session did not start")
        await sim.step()
        await sim.faults.drop_market_streams()
        for _ in range(2):
            await sim.step()
        await asyncio.wait_for(session, 30)
    seen = {e.kind for e in events}
    assert {"disconnect", "reconnect"} <= seen, seen
    assert len(steps) == 3
    assert engines[0].session.journal.durable  # a testnet journal: every row fsynced


async def test_session_statistics_count_every_fill_model_f9_and_emergency(sim, tiny_run, tmp_path):
    """Model orders, an operator flatten (F9) and an emergency close all count, with their fees;
    the statistics recomputed from the two CSVs equal the engine's."""
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(max_failures=1), agent=AlternatingAgent())
    await h.start()
    await h.step(3)
    flatten = await h.engine.flatten()
    assert flatten.flat and flatten.close_fills == 1
    h.engine.resume()
    await h.step(2)
    sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
    await h.step()
    await h.ended()
    steps = read_steps(h.session.journal.steps_path)
    emergencies = read_emergencies(h.session.journal.emergencies_path)
    assert [e["trigger"] for e in emergencies] == ["operator_flatten", "connection_failures"]
    assert all(e["close_fills"] == "1" for e in emergencies)
    live = h.engine.session.stats
    replayed = SessionStats.from_rows(steps, live.start_equity, emergencies=emergencies)
    assert live.trades == replayed.trades == sum(r["order_status"] == "FILLED" for r in steps) + 2
    assert live.fees == replayed.fees
    accepted = [o for o in sim.exchange.orders.values() if o.executed_qty > 0]
    assert live.trades == len(accepted)
    assert D(str(live.fees)).quantize(D("0.0001")) == sum((sum(o.fees, D(0)) for o in accepted), D(0)).quantize(
        D("0.0001"))
    assert live.equity == replayed.equity and live.max_drawdown == replayed.max_drawdown


async def test_a_wrong_shaped_answer_is_an_exchange_failure_not_a_crash(sim, tiny_run, tmp_path):
    """``[]`` for the account (a 200 of the wrong shape) is retried like a network failure and,
    when it persists, counts toward the consecutive-failure emergency - never a traceback."""
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(max_failures=2), agent=FixedAgent(0.0))
    await h.start()
    sim.faults.malform_next_responses(3, "/fapi/v2/account", body=[])
    await h.step()
    assert h.journal_rows[-1]["order_status"] == "ERROR:account" and h.engine.state == "RUNNING"
    assert any("malformed account" in e.message for e in h.events)
    sim.faults.malform_next_responses(3, "/fapi/v2/account", body={"totalWalletBalance": "abc"})
    await h.step()
    assert [e["trigger"] for e in h.emergency_rows] == ["connection_failures"]
    await h.ended()


async def test_a_websocket_kline_of_the_wrong_shape_is_reported_not_traded(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=FixedAgent(0.0))
    await h.start()
    assert sim.streams.publish_raw_market({"e": "kline", "k": {"t": "soon"}}) == 1
    await h.wait_for(lambda: any(e.kind == "malformed" for e in h.events), "the malformed-message event")
    await h.step()
    assert len(h.journal_rows) == 1
    await h.stop()



async def test_a_ban_at_start_up_is_waited_out_not_the_end_of_the_session(sim, tiny_run, tmp_path):
    clock = now_clock()  # the wait for the ban to lift passes on this clock at once
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=FixedAgent(0.0), clock=clock)
    sim.faults.rate_limit(status=418, retry_after=300, count=1, path_prefix="/fapi/v1/exchangeInfo")
    started_at = clock.now_ms()
    await h.start()
    assert h.engine.state == "RUNNING"
    assert any(e.kind == "held" for e in h.events)
    assert clock.now_ms() - started_at >= 300_000  # it waited the ban out before connecting again
    await h.step()
    assert len(h.journal_rows) == 1
    await h.stop()


async def test_an_order_lost_before_processing_is_recorded_not_found_and_never_resent(sim, tiny_run, tmp_path):
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=AlternatingAgent())
    await h.start()
    sim.faults.fail_next_requests(1, status=503, path_prefix="/fapi/v1/order", method="POST")
    candle = await sim.step()
    await h.wait_row(candle.open_time)
    row = h.journal_rows[-1]
    assert row["order_status"] == "NOT_FOUND" and row["order_qty"] == "0"
    assert [r.client_order_id for r in sim.orders_received] == [row["client_order_id"]]  # one POST, no resend
    assert h.emergency_rows == [] and h.engine.state == "RUNNING"
    await h.step(2)
    assert "FILLED" in [r["order_status"] for r in h.journal_rows[-2:]]  # the next candles re-plan and trade
    await h.stop()


async def test_with_the_account_streams_a_ban_is_not_lifted_by_a_pushed_account_read(sim, tiny_run, tmp_path):
    """A read of the pushed account sends no request, so it proves nothing about a ban: the session
    stays held (one ERROR, not one per candle; no "lifted" while the ban runs) until its time passes."""
    from support import ShiftedClock

    clock = ShiftedClock()
    h = EngineHarness(sim, tiny_run, tmp_path / "p", engine_settings(), agent=AlternatingAgent(), clock=clock,
                      streams=True)
    await h.start()
    await h.step()
    sim.faults.rate_limit(status=418, retry_after=120, count=1, path_prefix="/fapi/v1/order")
    await h.step(4)
    statuses = [r["order_status"] for r in h.journal_rows[1:]]
    assert "FILLED" not in statuses and statuses.count("SKIPPED:banned") >= 2, statuses  # (the rest: on target)
    held = [(e.level, e.message) for e in h.events if e.kind == "held"]
    assert [level for level, _ in held] == ["error"] + ["warning"] * (len(held) - 1) and len(held) >= 2, held
    assert h.engine.snapshot.held_until_ms > clock.now_ms()
    assert [r.accepted for r in sim.orders_received[-1:]] == [False]  # the refused POST, nothing after it
    banned = [r["client_order_id"] for r in h.journal_rows if r["order_status"] == "SKIPPED:banned"]
    assert banned[0] == sim.orders_received[-1].client_order_id  # the row names the POST the ban refused ...
    assert set(banned[1:]) == {""}  # ... and no id that never reached the exchange
    clock.advance(121)
    await h.step()
    assert h.journal_rows[-1]["order_status"] == "FILLED" and h.engine.snapshot.held_until_ms == 0
    assert [e.message for e in h.events if e.kind == "held"][-1].startswith("the ban has lifted")
    await h.stop()
