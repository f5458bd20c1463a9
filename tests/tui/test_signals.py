"""Stop signals delivered for real (``os.kill`` to this process) while the console hosts a real engine.

The console installs its SIGTERM / SIGINT / SIGHUP handlers on the event loop it runs
in - here pytest's - so a signal sent to ourselves takes exactly the path a service
manager's or a hang-up's would. Before each kill the test checks a handler is there:
a missing one must fail the test, not kill pytest. The loop removes the handlers when
it closes at the end of the test.

What a real terminal adds (the driver's part: EIO, SIGCONT) is in tests/e2e/test_tmux.py.
"""

from __future__ import annotations

import os
import signal
from decimal import Decimal as D

from trader_core.journal import read_emergencies
from tui.app import SactuiApp
from tui.screens.live_confirm import LiveConfirmScreen
from tui.screens.quit_confirm import QuitConfirmScreen
from tui_support import exchange_position, hosted, live_app, open_position, wait_until

SIZE = (120, 40)


def send(sig: signal.Signals) -> None:
    handler = signal.getsignal(sig)
    assert handler not in (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler), \
        f"the console installed no {sig.name} handler"
    os.kill(os.getpid(), sig)


def log_lines(app) -> list[str]:
    return app.event_log.plain_lines


async def test_sighup_with_the_quit_question_open_stops_leaving_the_position(harness, sim):
    """A dropped SSH session while the operator is being asked about an open position:
    nobody can answer any more, so it stops as for SIGHUP - the position left as it is,
    which is what the question's default (stay) would have done too. A SIGTERM that
    comes later (an impatient supervisor) changes nothing."""
    h = harness(adopt=True)
    await open_position(h, D("0.1"))
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE) as pilot:
        await hosted(app, h)
        await h.step(1)
        await pilot.press("q")
        await wait_until(lambda: isinstance(app.screen, QuitConfirmScreen), what="the quit question")
        before = (await exchange_position(sim)).quantity
        assert before != 0  # the question is asked only with a position open
        send(signal.SIGHUP)
        await wait_until(lambda: any("SIGHUP received: stopping cleanly" in line for line in log_lines(app)),
                         what="the SIGHUP to be taken")
        send(signal.SIGTERM)
        await wait_until(lambda: app.return_value is not None, timeout=5, what="the app to exit")
    result = app.return_value
    assert result.stopped_by == "SIGHUP" and result.hangup and result.error is None and not result.cancelled
    assert h.engine.state == "STOPPED" and h.exchange.client is None
    assert (await exchange_position(sim)).quantity == before  # left as it is: nobody chose to flatten
    assert not h.session.journal.emergencies_path.exists() or read_emergencies(h.session.journal.emergencies_path) == []


async def test_sighup_with_the_live_question_open_exits_without_connecting(harness, sim):
    h = harness(mode="live")
    calls = []
    app = live_app(h, calls)
    async with app.run_test(size=SIZE):
        await wait_until(lambda: isinstance(app.screen, LiveConfirmScreen), what="the live question")
        send(signal.SIGHUP)
        await wait_until(lambda: app.return_value is not None, timeout=5, what="the app to exit")
    assert app.return_value.cancelled and app.return_value.hangup
    assert calls == [] and app.engine_worker is None  # the session never started...
    assert h.exchange.client is None and not h.feed.connected and sim.orders_received == []  # ...nothing connected


async def test_sigterm_twice_stops_once(harness):
    """Two SIGTERMs back to back (both delivered before the loop runs either callback):
    one clean stop, the second only noted; the app exits well within 5 s."""
    h = harness()
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE):
        await hosted(app, h)
        await h.step(2)
        send(signal.SIGTERM)
        send(signal.SIGTERM)
        await wait_until(lambda: app.return_value is not None, timeout=5, what="the app to exit")
    result = app.return_value
    assert result.stopped_by == "SIGTERM" and not result.hangup and result.error is None
    lines = log_lines(app)
    assert sum("SIGTERM received: stopping cleanly" in line for line in lines) == 1
    assert sum("SIGTERM received: already stopping" in line for line in lines) == 1
    assert h.engine.state == "STOPPED" and len(h.engine.snapshot.steps) == 2


async def test_sigint_stops_cleanly_like_sigterm(harness):
    """``kill -INT`` (Ctrl-C never reaches us: the console owns the keyboard) is a stop
    request too, not a KeyboardInterrupt thrown into the middle of the event loop."""
    h = harness()
    app = SactuiApp(engine=h.engine, runner=h.engine.run)
    async with app.run_test(size=SIZE):
        await hosted(app, h)
        send(signal.SIGINT)
        await wait_until(lambda: app.return_value is not None, timeout=5, what="the app to exit")
    assert app.return_value.stopped_by == "SIGINT" and not app.return_value.hangup
    assert h.engine.state == "STOPPED"
