"""The training environment and the backtest engine trade the same orders on every candle of the 5m file.

The environment computes its features in batch (``ta``), the engine one candle at a time (the
live path); both then scale, observe, map the action and account with the same code. Over all
121,573 real 5m candles a policy that wants to trade - the demo's actor with its action
amplified, still a function of each observation - must give the same order side, quantity and
status and the same position on every candle, with thousands of orders. This pins the rule that
speeding the engine up may change nothing it decides (issue 14: "the parity must stay exact").
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil

import numpy as np

from trader_core.candles import load_candles
from trader_core.launcher import SessionOptions, run_session
from trader_core.runs import TrainingRun
from trader_core.settings import RiskSettings, Settings
from trader_core.training.env import MarketData, TradingEnv, TradingSetup
from trader_core.training.evaluation import rollout

from support import REPO, real_candle_file

FIVE_MINUTE = "binance_usdm_BTCUSDT_5m_20231101_20241230.csv"
GAIN = 3.0  # the demo's actor barely trades on 5m candles (2 orders); amplified it trades thousands of times
NO_STOP = 0.99  # neither side stops on drawdown, so every candle of the file is decided
COLUMNS = ("candle_open_time", "order_side", "order_qty", "order_status", "position_qty")


class WantsToTrade:
    """The demo's actor, its action multiplied by ``GAIN`` and clipped: deterministic in the observation."""

    def __init__(self, actor) -> None:
        self.actor = actor

    def act(self, observation) -> float:
        return float(np.clip(self.actor.act(observation) * GAIN, -1.0, 1.0))


def test_env_and_backtest_engine_agree_order_for_order_over_the_5m_file(tmp_path):
    data = real_candle_file(FIVE_MINUTE)
    shutil.copytree(REPO / "entrenamientos" / "demo", tmp_path / "demo")
    run = TrainingRun.load("demo", tmp_path)
    records = []
    settings = Settings(risk=RiskSettings(max_drawdown=NO_STOP))
    asyncio.run(run_session(SessionOptions("demo", "backtest", tmp_path, data=data), settings,
                            on_step=records.append, agent=WantsToTrade(run.load_agent())))

    candles = load_candles(data)
    first = int(np.flatnonzero(candles["open_time"].to_numpy() == records[0].candle_open_time)[0])
    setup = dataclasses.replace(TradingSetup.from_run(run), drawdown_limit=NO_STOP)
    env = TradingEnv(MarketData.build(candles, run.features, run.scaler), setup, first, len(candles) - 1,
                     mode="backtest")
    _, infos, _ = rollout(env, WantsToTrade(run.load_agent()).act)

    # The engine also decides on the file's last candle (the env needs the next close to mark it).
    assert len(records) == len(infos) + 1 > 120_000
    orders = sum(1 for record in records if record.order_side)
    assert orders > 5_000, f"the policy must really trade: {orders} orders"
    mismatched = [
        (i, {c: (getattr(record, c), info[c]) for c in COLUMNS if str(getattr(record, c)) != str(info[c])})
        for i, (record, info) in enumerate(zip(records, infos))
        if any(str(getattr(record, c)) != str(info[c]) for c in COLUMNS)
    ]
    assert not mismatched, f"{len(mismatched)} of {len(infos)} candles differ; first: {mismatched[:3]}"
    actions = np.array([r.raw_action for r in records[: len(infos)]]) - np.array([i["raw_action"] for i in infos])
    assert np.abs(actions).max() < 1e-5  # batch vs incremental features: float32 resolution, never a different order
