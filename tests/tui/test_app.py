"""The console driven by keys (Textual's Pilot) while it hosts a REAL engine.

The engine, the python-binance connector and the kline feed talk to the loopback
simulator; the console runs ``engine.run()`` as its worker. The assertions read
what the operator would: the screen, the exchange's position and the journal's
emergencies file.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

from textual.widgets import Input

from frozen_engine import FROZEN_MS, FrozenEngine, frozen_snapshot
from trader_core.clock import ManualClock
from trader_core.journal import read_emergencies
from tui.app import SactuiApp
from tui.screens.help import HelpScreen
from tui.screens.live_confirm import LiveConfirmScreen
from tui.screens.quit_confirm import QuitConfirmScreen
from tui.widgets.drawdown import DrawdownGauge
from tui_support import exchange_position, hosted, live_app, open_position, screen_text, wait_until

SIZE = (120, 40)


def log_lines(app) -> list[str]:
    return app.event_log.plain_lines


def screen_line(app, index: int) -> str:
    return screen_text(app).splitlines()[index]


async def test_f9_with_the_live_modal_open_flattens_at_once(harness):
    h = harness(adopt=True)
    await open_position(h, D("0.2"))
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await h.step(2)
        before = h.engine.snapshot.position.quantity
        assert before != 0
        app.push_screen(LiveConfirmScreen("BTCUSDT"))
        await pilot.pause()
        app.screen.query_one("#symbol", Input).focus()
        await pilot.press("B", "T")  # the field has the focus and takes printable keys...
        await pilot.press("f9")  # ...but F9 is a priority binding: it acts anyway
        await wait_until(lambda: h.engine.snapshot.position.flat, what="the position to be flat")
        await wait_until(lambda: any("FLAT:" in line for line in log_lines(app)), what="the flatten report")
        assert isinstance(app.screen, LiveConfirmScreen)  # the dialog is untouched
        assert app.screen.query_one("#symbol", Input).value == "BT"
        assert h.engine.snapshot.state == "PAUSED"
        assert (await h.exchange.position()).flat
        rows = read_emergencies(h.session.journal.emergencies_path)
        assert [r["trigger"] for r in rows] == ["operator_flatten"]
        assert rows[0]["flat"] == "true" and rows[0]["position_after"] == "0" and D(rows[0]["position_before"]) == before
        await pilot.press("escape")
        await pilot.pause()
        assert "PAUSED" in screen_text(app).splitlines()[0]


async def test_p_toggles_paused_and_running(harness):
    h = harness()
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await h.step(1)
        await pilot.press("p")
        assert h.engine.snapshot.state == "PAUSED"  # the key acted at once...
        await wait_until(lambda: " PAUSED " in screen_line(app, 0), what="PAUSED in the header")  # ...and shows
        await h.step(2)  # data keeps flowing while paused
        assert h.engine.snapshot.steps[-1].order_status in ("SKIPPED:paused", "SKIPPED:deadband", "SKIPPED:on_target")
        await pilot.press("p")
        assert h.engine.snapshot.state == "RUNNING"
        await wait_until(lambda: "RUNNING" in screen_line(app, 0), what="RUNNING in the header")
        assert any("paused:" in line for line in log_lines(app)) and any("resumed" in line for line in log_lines(app))


async def test_q_with_an_open_position_asks_then_flattens_and_stops_cleanly(harness):
    h = harness(adopt=True)
    await open_position(h, D("-0.1"))
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await h.step(1)
        await pilot.press("q")
        await wait_until(lambda: isinstance(app.screen, QuitConfirmScreen), what="the quit question")
        await pilot.pause()
        assert app.screen.focused is not None and app.screen.focused.id == "stay"
        shown = screen_text(app)
        assert "A position is open" in shown and "SHORT " in shown and "Flatten, then quit" in shown
        await pilot.press("escape")  # stay: nothing happens
        await wait_until(lambda: not isinstance(app.screen, QuitConfirmScreen), what="the question to close")
        assert app.return_value is None
        assert h.engine.state == "RUNNING"
        await pilot.press("q")
        await wait_until(lambda: isinstance(app.screen, QuitConfirmScreen), what="the quit question again")
        started = time.monotonic()
        await pilot.press("f")  # flatten, then quit
        await wait_until(lambda: app.return_value is not None, timeout=8, what="the app to exit")
        assert time.monotonic() - started < 5
    assert h.engine.state == "STOPPED" and h.exchange.client is None  # stopped, its connection closed
    assert (await exchange_position(h.sim)).flat  # and the exchange itself says flat
    rows = read_emergencies(h.session.journal.emergencies_path)
    assert [r["trigger"] for r in rows] == ["operator_flatten"] and rows[0]["flat"] == "true"
    assert app.return_value.error is None and not app.return_value.cancelled


async def test_q_when_flat_quits_without_asking(harness):
    h = harness()
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await pilot.press("q")
        await wait_until(lambda: app.return_value is not None, timeout=8, what="the app to exit")
    assert h.engine.state == "STOPPED"


async def test_live_modal_refuses_anything_but_the_exact_symbol_then_accepts_it(harness, sim):
    h = harness(mode="live")
    calls = []
    app = live_app(h, calls)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LiveConfirmScreen), what="the live question")
        await pilot.pause()
        assert app.screen.focused.id == "cancel"  # Enter would cancel
        assert "LIVE · REAL MONEY" in screen_text(app).splitlines()[0]
        field = app.screen.query_one("#symbol", Input)
        for wrong in ("btcusdt", "BTCUSD", "ETHUSDT", " BTCUSDT"):
            await pilot.press(*["space" if ch == " " else ch for ch in wrong])  # typing lands in the field
            assert field.value == wrong and app.screen.focused is field
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, LiveConfirmScreen), wrong
            assert "REFUSED" in screen_text(app) and field.value == "", wrong
        assert calls == [] and app.engine_worker is None  # nothing started...
        assert not h.feed.connected and h.exchange.client is None  # ...nothing connected
        assert sim.orders_received == []
        await pilot.press(*"BTCUSDT")
        await pilot.press("tab", "tab", "enter")  # to "Connect LIVE" past Cancel, and press it
        await pilot.pause()
        assert not isinstance(app.screen, LiveConfirmScreen)
        await hosted(app, h)
        assert calls == [True] and h.engine.snapshot.mode == "live" and h.engine.state == "RUNNING"
        assert any("LIVE confirmed" in line for line in log_lines(app))


async def test_live_modal_cancel_exits_without_connecting(harness, sim):
    h = harness(mode="live")
    calls = []
    app = live_app(h, calls)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, LiveConfirmScreen), what="the live question")
        await pilot.pause()
        await pilot.press("enter")  # Cancel has the focus
        await wait_until(lambda: app.return_value is not None, what="the app to exit")
    assert app.return_value.cancelled
    assert calls == [] and app.engine_worker is None
    assert h.engine.state == "STARTING" and h.exchange.client is None and not h.feed.connected
    assert sim.orders_received == []


async def test_an_engine_error_reaches_the_log_and_the_console_stays_usable(harness):
    h = harness(adopt=False)
    await open_position(h, D("0.05"))  # unknown to the session: the engine refuses to trade
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: app.engine_worker is not None and app.engine_worker.is_finished,
                         what="the engine to fail")
        await wait_until(lambda: "engine error: refusing to trade" in screen_line(app, 1), what="the error on screen")
        errors = [line for line in log_lines(app) if "the session stopped with an error" in line]
        assert errors and "ReconciliationError" in errors[0] and "refusing to trade" in errors[0]
        await pilot.press("question_mark")  # still responsive
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        await pilot.press("f9")  # and F9 is still taken and answered from behind the help screen
        await wait_until(lambda: any(("FLAT:" in line or "flatten FAILED" in line or "NOT FLAT" in line)
                                     for line in log_lines(app)), what="the flatten report")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "q")
        await wait_until(lambda: app.return_value is not None, what="the app to exit")
    assert type(app.return_value.error).__name__ == "ReconciliationError"


async def test_ctrl_f_is_the_flatten_alias_and_works_from_the_help_screen(candles_1h_path):
    engine = FrozenEngine(frozen_snapshot(candles_1h_path))
    app = SactuiApp(engine=engine, clock=ManualClock(FROZEN_MS))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+f")
        await wait_until(lambda: engine.flattens == 1, what="the flatten")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and engine.snapshot.state == "PAUSED"
        assert any("FLAT:" in line for line in log_lines(app))


async def test_a_fast_replay_redraws_the_chart_at_a_bounded_rate(harness):
    h = harness()
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        draws, started = app.chart.draws, time.monotonic()
        await h.step(25)  # as fast as the engine takes them
        last = str(h.engine.snapshot.steps[-1].candle_open_time)
        await wait_until(lambda: app.actions_table.step_keys[-1:] == [last], what="the last step in the table")
        elapsed = time.monotonic() - started
        assert len(h.engine.snapshot.steps) == 25
        assert app.chart.draws - draws <= 2 * elapsed + 2  # <= 2 figures a second (+ the edges)


async def test_a_drawdown_emergency_shows_halted_everywhere(harness):
    h = harness(adopt=True, max_drawdown=0.001)
    await open_position(h, D("0.2"))  # ~8,000 USDT on 10,000: a 0.125 % move breaches 0.1 %
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        for _ in range(60):
            await h.step()
            if h.engine.state == "HALTED":
                break
        await wait_until(lambda: app.engine_worker.is_finished, what="the engine to stop")
        await wait_until(lambda: " HALTED " in screen_line(app, 0), what="HALTED in the header")
        shown = screen_text(app)
        assert " HALTED " in shown.splitlines()[0] and "halted: max_drawdown" in shown.splitlines()[1]
        assert app.query_one(DrawdownGauge).level == "HALTED" and " HALTED " in shown
        assert any("EMERGENCY" in line and "max_drawdown" in line for line in log_lines(app))


async def test_a_close_the_exchange_refuses_shows_not_flat_until_the_exchange_reads_flat(harness, sim):
    """The emergency protocol cannot close (every close refused): the header says HALTED and
    NOT FLAT, the events say so; once the exchange accepts, the flag goes and the log says flat."""
    h = harness(adopt=True, max_failures=1)
    await open_position(h, D("0.05"))
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        sim.faults.refuse_orders(-2019)
        sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
        await sim.step()
        await wait_until(lambda: "NOT FLAT" in screen_line(app, 0), what="NOT FLAT in the header")
        assert " HALTED " in screen_line(app, 0)
        assert any("NOT FLAT" in line for line in log_lines(app))
        assert h.engine.snapshot.closing and not h.task.done()
        sim.faults.release_orders()
        await wait_until(lambda: h.task.done(), what="the emergency close to finish")
        await pilot.pause(0.6)  # a render tick
        assert "NOT FLAT" not in screen_line(app, 0) and " HALTED " in screen_line(app, 0)
        assert any("position is flat after" in line for line in log_lines(app))
    assert (await exchange_position(sim)).flat


def test_the_header_counts_a_ban_down_in_words():
    from rich.console import Console

    from tui.widgets.header import HeaderView, SessionIdentity, header_text

    view = HeaderView(SessionIdentity("testnet", "BTCUSDT", "1h", "demo"), "RUNNING", True, 1.0, FROZEN_MS,
                      held_for_s=83.0, not_flat=False)
    console = Console(width=160, record=True, color_system=None)
    console.print(header_text(view))
    text = console.export_text()
    assert "BANNED · resumes in 1m23s" in text, text


async def test_the_position_and_the_gauge_move_with_the_mark_between_candle_closes(harness, sim):
    """On the account streams, a price move inside the candle shows at once: the mark, the
    unrealised PnL and the drawdown - no candle closes meanwhile."""
    from support import FixedAgent
    from tui import format as fmt

    h = harness(adopt=True, streams=True, agent=FixedAgent(0.0))
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await open_position(h, D("0.1"))
        await sim.step_update()
        await wait_until(lambda: h.streams.live and h.streams.book.position_qty == D("0.1"), what="the live book")
        closes = len(sim.closes)
        shocked = sim.faults.price_shock(fraction="-0.03")
        await wait_until(lambda: fmt.price(shocked) in screen_text(app), what="the shocked mark on screen")
        pnl = h.engine.snapshot.position.unrealized_pnl
        assert pnl < 0 and fmt.money(pnl, signed=True) in screen_text(app)
        assert h.engine.snapshot.drawdown > 0 and len(sim.closes) == closes
        h.engine.stop()
        await wait_until(lambda: h.task.done(), what="the engine to stop")
