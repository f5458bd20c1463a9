"""A backtest (paper exchange, in memory) and a --sim session (python-binance against the
loopback simulator over real HTTP and websockets) decide the same on the same candles."""

from __future__ import annotations

from trader_core.candles import load_candles
from trader_core.journal import read_steps
from trader_core.launcher import SessionOptions, run_session
from trader_core.settings import Settings

STEPS = 60


async def test_backtest_and_sim_take_the_same_actions(tiny_run_copy, candles_1h_path, tmp_path):
    runs_dir, train_id = tiny_run_copy
    from trader_core.runs import TrainingRun

    run = TrainingRun.load(train_id, runs_dir)
    data = tmp_path / "slice.csv"
    frame = load_candles(candles_1h_path).iloc[2000 : 2000 + run.history_needed + STEPS + 1]
    frame.to_csv(data, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])

    backtest = await run_session(SessionOptions(train_id, "backtest", runs_dir, data=data), Settings())
    sim = await run_session(
        SessionOptions(train_id, "sim", runs_dir, data=data, speed=36_000, max_candles=STEPS), Settings()
    )
    fast = read_steps(backtest.journal_path)[:STEPS]
    live = read_steps(sim.journal_path)
    assert len(live) == STEPS and len(fast) == STEPS
    assert [r["candle_open_time"] for r in live] == [r["candle_open_time"] for r in fast]
    worst = max(abs(float(a["raw_action"]) - float(b["raw_action"])) for a, b in zip(live, fast))
    assert worst <= 1e-6, worst
    assert [r["order_qty"] for r in live] == [r["order_qty"] for r in fast]
    assert any(r["order_status"] == "FILLED" for r in live)
    assert [r["position_qty"] for r in live] == [r["position_qty"] for r in fast]
