"""The console's rough edges from issue 13, driven by keys (Pilot): the compact chart and the
drawdown's peak line at 80x24, the quit question showing the position as it is now, and the
sessions screen listing the run's real past sessions (a real backtest and a real --sim
session, journaled by the engine)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal as D

from frozen_engine import FROZEN_MS, FrozenEngine, frozen_snapshot
from support import engine_settings
from trader_core.clock import ManualClock
from trader_core.launcher import SessionOptions, run_session
from tui.app import SactuiApp
from tui.screens.quit_confirm import QuitConfirmScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets.header import SessionIdentity
from tui_support import screen_text, wait_until


async def test_at_80x24_the_chart_stays_in_a_compact_form_and_the_drawdown_keeps_its_peak_line(candles_1h_path):
    app = SactuiApp(engine=FrozenEngine(frozen_snapshot(candles_1h_path)), clock=ManualClock(FROZEN_MS))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: "last 68435.90 · entry 67850.40 LONG" in screen_text(app), what="the compact chart")
        shown = screen_text(app)
        assert "06-03 03:00" in shown  # its last candle's open time, under it
        assert "peak 10,042.00 · stops below 8,535.70" in shown  # the drawdown's second line
        assert "Events & emergencies" in shown and "Model actions" in shown
        assert app.mini_chart.draws >= 1 and app.chart.styles.display == "none"  # the compact one, not the wide one
        await pilot.resize_terminal(160, 48)
        await wait_until(lambda: app.chart.draws >= 1, what="the wide chart at 160x48")
        assert "rightmost: forming" in screen_text(app)


async def test_the_quit_question_shows_the_position_as_it_is_now(candles_1h_path):
    engine = FrozenEngine(frozen_snapshot(candles_1h_path))
    app = SactuiApp(engine=engine, clock=ManualClock(FROZEN_MS))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
        await wait_until(lambda: isinstance(app.screen, QuitConfirmScreen), what="the quit question")
        await wait_until(lambda: "LONG 0.04 BTCUSDT" in screen_text(app), what="the position at opening")
        before = engine.snapshot.position
        # the market moves and the position changes while the question is open
        engine._snapshot = replace(engine.snapshot, position=replace(
            before, quantity=D("-0.015"), mark_price=D("69000.1"), unrealized_pnl=D("-17.26")))
        await wait_until(lambda: "SHORT 0.015 BTCUSDT" in screen_text(app), what="the position as it is now")
        shown = screen_text(app)
        assert "mark 69000.10" in shown and "-17.26" in shown and "LONG 0.04" not in shown
        engine._snapshot = replace(engine.snapshot, position=replace(before, quantity=D(0), unrealized_pnl=D(0)))
        await wait_until(lambda: "FLAT now" in screen_text(app), what="flat, said in the question")
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, QuitConfirmScreen), what="the question to close")
        assert app.return_value is None and not engine.stopped


async def test_the_sessions_screen_lists_the_runs_real_past_sessions(tiny_run_copy, candles_1h_path, tmp_path):
    runs_dir, train_id = tiny_run_copy
    settings = engine_settings()
    backtest = await run_session(SessionOptions(train_id, "backtest", runs_dir, data=candles_1h_path, max_candles=30),
                                 settings)
    sim = await run_session(SessionOptions(train_id, "sim", runs_dir, data=candles_1h_path, max_candles=12,
                                           speed=360_000), settings)
    stamps = [backtest.journal_path.stem.split("_", 1)[1], sim.journal_path.stem.split("_", 1)[1]]
    engine = FrozenEngine(frozen_snapshot(candles_1h_path))
    app = SactuiApp(engine=engine, clock=ManualClock(FROZEN_MS), runs_dir=runs_dir,
                    identity=SessionIdentity("sim", "BTCUSDT", "1h", train_id))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("s")
        await wait_until(lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        # the summary below the table can be painted before the table's rows: wait for both sessions' rows
        await wait_until(lambda: f"sim-{stamps[1]}" in screen_text(app) and f"backtest-{stamps[0]}" in screen_text(app),
                         what="the sessions listed")
        shown = screen_text(app)
        assert f"backtest-{stamps[0]}" in shown and "30" in shown and "12" in shown
        assert f"sim-{stamps[1]} [sim]: stopped" in shown  # the newest is highlighted and summarised
        assert f"sactui audit --train-id {train_id} --session sim-{stamps[1]}" in shown, shown
        await pilot.press("up")  # the other session's summary
        await wait_until(lambda: f"backtest-{stamps[0]} [backtest]: stopped" in screen_text(app),
                         what="the backtest's summary")
        await pilot.press("f9")  # F9 acts from here too
        await wait_until(lambda: engine.flattens == 1, what="the flatten")
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, SessionsScreen), what="the screen to close")
        await asyncio.sleep(0)
