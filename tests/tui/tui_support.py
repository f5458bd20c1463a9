"""Helpers for the console tests: open a position, wait for a condition, read the screen."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from support import EngineHarness, make_connector
from trader_core.exchanges.base import PositionState


async def open_position(h: EngineHarness, quantity: Decimal) -> None:
    """A position opened outside the session, as an operator would on the exchange's site."""
    if h.exchange.client is None:
        await h.exchange.connect()
    await h.exchange.client.futures_create_order(
        symbol="BTCUSDT", side="BUY" if quantity > 0 else "SELL", type="MARKET",
        quantity=str(abs(quantity)), newClientOrderId="operator-manual-1",
    )


async def exchange_position(sim) -> PositionState:
    """The position as the exchange reports it now, through a fresh connection of our own
    (the session's connection is closed once the console has stopped it)."""
    connector = make_connector(sim)
    await connector.connect()
    try:
        return await connector.position()
    finally:
        await connector.close()


async def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll (the app and the engine run in this same loop while we sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def hosted(app, h: EngineHarness) -> EngineHarness:
    """Wait until the app's engine worker has the engine trading, and let ``h.step`` watch it."""
    await wait_until(lambda: app.engine_worker is not None, what="the engine worker")
    await wait_until(lambda: h.engine.state != "STARTING" and h.feed.connected, what="the engine to start")
    h.task = asyncio.ensure_future(_finished(app.engine_worker))
    await asyncio.sleep(0.05)
    return h


async def _finished(worker) -> None:
    try:
        await worker.wait()
    except Exception:  # noqa: BLE001 - the tests look at the log and the state, not at this
        pass


def live_app(h: EngineHarness, runner_calls: list):
    """A ``--live`` console: the runner (recording that it ran) starts only after confirmation."""
    from tui.app import SactuiApp
    from tui.widgets.header import SessionIdentity

    async def runner():
        runner_calls.append(True)
        app.attach_engine(h.engine)  # what run_session's on_engine does
        await h.engine.run()

    app = SactuiApp(runner=runner, confirm_live="BTCUSDT",
                    identity=SessionIdentity("live", "BTCUSDT", "1h", h.engine.training_run.train_id))
    return app


def screen_text(app) -> str:
    """What the terminal shows right now (every layer, modals included), as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
