"""Screenshots of the console at 80x24 and 160x48, from a frozen engine snapshot.

The snapshot holds real BTCUSDT 1h candles, journal-shaped steps made by
``record_step``, an open long and a few events; the clock is frozen, so the SVGs in
``__snapshots__`` change only when the console's look changes. Review a change
with ``pytest tests/tui --snapshot-report`` and accept it with ``--snapshot-update``.
"""

from __future__ import annotations

import pytest

from frozen_engine import FROZEN_MS, FrozenEngine, frozen_snapshot
from trader_core.clock import ManualClock
from tui.app import SactuiApp
from tui.widgets.header import SessionIdentity

NARROW, WIDE = (80, 24), (160, 48)


def console(candles_path, mode="sim", **kwargs) -> SactuiApp:
    engine = FrozenEngine(frozen_snapshot(candles_path, mode=mode, **kwargs))
    return SactuiApp(engine=engine, clock=ManualClock(FROZEN_MS))


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x48"])
def test_console_sim(snap_compare, candles_1h_path, size):
    assert snap_compare(console(candles_1h_path), terminal_size=size)


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x48"])
def test_console_live_paused_near_the_limit(snap_compare, candles_1h_path, size):
    app = console(candles_1h_path, mode="live", state="PAUSED", drawdown=0.125)
    assert snap_compare(app, terminal_size=size)


def test_help_over_the_console_80x24(snap_compare, candles_1h_path):
    assert snap_compare(console(candles_1h_path), press=["question_mark"], terminal_size=NARROW)


def test_quit_question_with_a_position_open_80x24(snap_compare, candles_1h_path):
    assert snap_compare(console(candles_1h_path), press=["q"], terminal_size=NARROW)


def test_live_confirmation_before_anything_connects_80x24(snap_compare):
    async def never_runs():  # the runner starts only after the symbol was typed
        raise AssertionError("the session must not start before confirmation")

    app = SactuiApp(runner=never_runs, confirm_live="BTCUSDT", clock=ManualClock(FROZEN_MS),
                    identity=SessionIdentity("live", "BTCUSDT", "1h", "train_BTCUSDT_demo"))
    assert snap_compare(app, terminal_size=NARROW)
