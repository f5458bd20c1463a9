"""A backtest (paper exchange, in memory) and a live-path session (python-binance against the
loopback simulator over real HTTP and websockets) trade identically, candle by candle.

The test drives the market: the simulator runs in manual mode inside the test and closes
the next candle only after the engine has journaled the previous one, so nothing depends
on wall-clock timing (the old timed version failed one run in four under load). Over
2,000 real 1h candles the two journals must agree on every row - candle, action,
order quantity, order status, position - and both must really trade.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from trader_core.candles import load_candles
from trader_core.journal import read_steps
from trader_core.launcher import SessionOptions, run_session
from trader_core.runs import TrainingRun
from trader_core.simulator import LoopbackExchange

from support import SIM_KEY, SIM_SECRET, engine_settings

STEPS = 2_000
FIRST = 2_000  # first row of the real candle file used (its history included)
STEP_TIMEOUT_S = 30.0  # one candle: a few requests and an fsync; 30 s means something is stuck
COLUMNS = ("order_qty", "order_status", "position_qty")
MONEY_TOLERANCE = 1e-6  # USDT: the exchange reports money with 8 decimals, the paper account exactly


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


async def _until(condition, what: str, session: asyncio.Task, timeout: float = STEP_TIMEOUT_S) -> None:
    """Poll ``condition`` until true; fail loudly on timeout or if the session ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        if session.done():
            session.result()  # raises the session's error, if any
            raise AssertionError(f"the session ended while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


async def _journaled(event: asyncio.Event, session: asyncio.Task, what: str) -> None:
    """Wait for the engine's journal row (``event``), failing loudly on a stuck or dead session."""
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait({waiter, session}, timeout=STEP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        return
    waiter.cancel()
    if session in done:
        session.result()
        raise AssertionError(f"the session ended before journaling {what}")
    raise AssertionError(f"no journal row for {what} within {STEP_TIMEOUT_S:g} s: the engine is stuck")


async def test_backtest_and_live_path_trade_identically_over_2000_candles(
    tiny_run_copy, candles_1h_path, tmp_path, monkeypatch,
):
    runs_dir, train_id = tiny_run_copy
    run = TrainingRun.load(train_id, runs_dir)
    history = run.history_needed
    frame = load_candles(candles_1h_path).iloc[FIRST: FIRST + history + STEPS + 1].reset_index(drop=True)
    data = tmp_path / "slice.csv"
    frame.to_csv(data, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])
    settings = engine_settings()

    backtest = await run_session(SessionOptions(train_id, "backtest", runs_dir, data=data), settings)

    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", SIM_KEY)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SIM_SECRET)
    async with LoopbackExchange(
        frame, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=history, speed=None,
        initial_balance=Decimal(str(run.trading["initial_balance"])), fee_rate=run.fee_rate, leverage=run.leverage,
        filters=run.filters, enforce_rate_limits=False,
    ) as sim:
        journaled = asyncio.Event()
        engines = []
        session = asyncio.create_task(run_session(
            SessionOptions(train_id, "testnet", runs_dir, endpoint=sim.rest_base, max_candles=STEPS), settings,
            on_step=lambda _record: journaled.set(), on_engine=engines.append,
        ))
        # Ready: history loaded, state RUNNING, and the kline stream subscribed on the simulator,
        # so the first close goes out on the websocket like every later one.
        await _until(lambda: engines and engines[0].state == "RUNNING" and engines[0].feed.connected
                     and sim.streams.market_connections, "the session to start", session)
        for n in range(STEPS):
            journaled.clear()
            closed = await sim.step()
            await _journaled(journaled, session, f"candle #{n} ({closed.open_time})")
        live_outcome = await asyncio.wait_for(session, STEP_TIMEOUT_S)
        unaccepted = [r for r in sim.orders_received if not r.accepted]

    live = read_steps(live_outcome.journal_path)
    fast = read_steps(backtest.journal_path)[:STEPS]
    assert len(live) == STEPS and len(fast) == STEPS
    assert [r["candle_open_time"] for r in live] == [r["candle_open_time"] for r in fast]
    assert live[0]["candle_open_time"] == fast[0]["candle_open_time"] == str(int(frame.open_time[history]))
    worst = max(abs(float(a["raw_action"]) - float(b["raw_action"])) for a, b in zip(live, fast))
    assert worst <= 1e-6, worst
    mismatches = [
        (i, live[i]["candle_open_time"], {c: (live[i][c], fast[i][c]) for c in COLUMNS if live[i][c] != fast[i][c]})
        for i in range(STEPS) if any(live[i][c] != fast[i][c] for c in COLUMNS)
    ]
    assert mismatches == [], f"{len(mismatches)} rows differ; first: {mismatches[:5]}"
    # Fills at the same price (the closed candle's close, in both), so the same money.
    prices = [(i, a["order_avg_price"], b["order_avg_price"]) for i, (a, b) in enumerate(zip(live, fast))
              if _decimal(a["order_avg_price"]) != _decimal(b["order_avg_price"])]
    assert prices == [], f"{len(prices)} fills at another price; first: {prices[:5]}"
    money = [(i, c, a[c], b[c]) for i, (a, b) in enumerate(zip(live, fast)) for c in ("wallet", "equity")
             if abs(float(a[c]) - float(b[c])) > MONEY_TOLERANCE]
    assert money == [], f"{len(money)} account figures differ; first: {money[:5]}"
    filled = sum(r["order_status"] == "FILLED" for r in live)
    assert filled >= 300, filled  # the tiny run trades about one candle in four
    assert unaccepted == []  # every order the engine sent was accepted, as in the backtest
