"""Training and live decide on the same observation, built by the same code."""

from __future__ import annotations

import numpy as np
import pytest

from trader_core.candles import iter_candles, load_candles
from trader_core.observation import ObservationWindow
from trader_core.replay import replay
from trader_core.step_record import JOURNAL_COLUMNS
from trader_core.time_utils import parse_date_ms
from trader_core.training.env import MarketData, TradingEnv, TradingSetup


@pytest.fixture()
def run_candles(tiny_run, candles_1h_path):
    data = tiny_run.metadata["data"]
    return load_candles(
        candles_1h_path, parse_date_ms(data["start"].rstrip("Z")), parse_date_ms(data["end"].rstrip("Z")) + 1
    )


def _env(run, candles, first_row=None):
    market = MarketData.build(candles, run.features, run.scaler)
    first = first_row if first_row is not None else run.features.warmup - 1 + run.window_size - 1
    return TradingEnv(market, TradingSetup.from_run(run), first, len(candles) - 1, mode="backtest")


def test_env_observation_equals_live_builder_observation_exactly(tiny_run, run_candles):
    """Same candles, same feature rows: the live window + builder gives the env's bytes."""
    run = tiny_run
    env = _env(run, run_candles)
    _, model = run.features.batch(run_candles)
    window = ObservationWindow(run.scaler, run.window_size)
    for i in range(env.first_row - run.window_size + 1, env.first_row + 1):
        window.push(model[i])
    obs, _ = env.reset()
    rng = np.random.default_rng(7)
    steps = 0
    done = False
    while not done:
        live = window.observation(env.portfolio_state())
        assert live.dtype == np.float32 and live.shape == obs.shape
        assert np.array_equal(live, obs), f"step {steps}: observations differ"
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, size=1).astype(np.float32))
        done = terminated or truncated
        window.push(model[env.first_row + steps + 1])
        steps += 1
    assert steps > 100


def test_incremental_live_path_matches_env_to_float32_resolution(tiny_run, run_candles):
    """With features from the O(1) live path instead of ta, observations agree to float32
    resolution and the agent's actions to 1e-5."""
    run = tiny_run
    agent = run.load_agent()
    env = _env(run, run_candles)
    incremental = run.features.incremental()
    window = ObservationWindow(run.scaler, run.window_size)
    candles = list(iter_candles(run_candles))
    for candle in candles[: env.first_row + 1]:
        row = incremental.update(candle.open, candle.high, candle.low, candle.close, candle.volume)
        if row is not None:
            window.push(row.model)
    obs, _ = env.reset()
    worst_obs = worst_action = 0.0
    done, i = False, env.first_row
    while not done:
        live = window.observation(env.portfolio_state())
        worst_obs = max(worst_obs, float(np.abs(live - obs).max()))
        action_env, action_live = agent.act(obs), agent.act(live)
        worst_action = max(worst_action, abs(action_env - action_live))
        obs, _, terminated, truncated, _ = env.step(np.array([action_env], dtype=np.float32))
        done = terminated or truncated
        i += 1
        c = candles[i]
        window.push(incremental.update(c.open, c.high, c.low, c.close, c.volume).model)
    assert worst_obs <= 1e-5, worst_obs
    assert worst_action <= 1e-4, worst_action


def test_env_info_uses_the_journal_column_names(tiny_run, run_candles):
    env = _env(tiny_run, run_candles)
    env.reset()
    _, _, _, _, info = env.step(np.array([0.8], dtype=np.float32))
    assert tuple(info) == JOURNAL_COLUMNS
    assert info["order_side"] == "BUY" and info["order_status"] == "FILLED"
    assert info["mode"] == "backtest" and info["state"] == "RUNNING"


def test_replay_through_the_live_path_trades_like_the_env(tiny_run, run_candles):
    """The offline replay (incremental features, rolling window, paper fills) places the
    same orders as the training environment on the held-out split."""
    run = tiny_run
    agent = run.load_agent()
    test_start = parse_date_ms(run.metadata["split"]["test_start"].rstrip("Z"))
    split = int((run_candles["open_time"] >= test_start).to_numpy().argmax())
    env = _env(run, run_candles, first_row=split)
    obs, _ = env.reset()
    env_orders, env_actions = [], []
    done = False
    while not done:
        action = agent.act(obs)
        obs, _, terminated, truncated, info = env.step(np.array([action], dtype=np.float32))
        env_actions.append(action)
        env_orders.append(info["order_qty"])
        done = terminated or truncated
    result = replay(run, agent, iter_candles(run_candles), warmup_candles=split)
    replay_actions = [r.raw_action for r in result.records[: len(env_actions)]]
    replay_orders = [r.order_qty for r in result.records[: len(env_orders)]]
    assert len(env_actions) > 50
    assert np.abs(np.array(replay_actions) - np.array(env_actions)).max() <= 1e-4
    assert replay_orders == env_orders
    assert any(q != "0" for q in env_orders)


def test_numpy_actor_gives_the_torch_action(tiny_run):
    """The numpy actor read from the zip's weights (no unpickling) equals SB3's torch forward
    (float32 rounding apart)."""
    from trader_core.policy import SacAgent

    agent = tiny_run.load_agent()
    trusted = SacAgent.load(tiny_run.model_path)  # our own run: SB3's unpickling load is fine in a test
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(500):
        obs = (rng.standard_normal(tiny_run.layout.size) * 3).astype(np.float32)
        worst = max(worst, abs(agent.act(obs) - trusted.act_torch(obs)))
        sb3, _ = trusted.model.predict(obs, deterministic=True)
        assert abs(float(sb3[0]) - agent.act(obs)) <= 1e-5
    assert worst <= 1e-5
