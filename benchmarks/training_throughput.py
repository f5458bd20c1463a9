"""SAC training throughput at the demo's settings, and the environment step's share of it.

Measured on the bundled real 1h candles with the demo's settings (window 30 -> an
observation of 333, batch 256, 64x64 networks, deadband 0.1, learning rate 3e-4):

* env step: ``TradingEnv.step`` alone with random actions (the part this project owns);
* SAC steps per second before learning starts (collection only) and while learning
  (one gradient step per environment step, SB3's default for SAC), at 1 and 2 torch threads;
* whether the learned weights depend on the thread count (they must not, for the
  settings to be comparable across machines and for parallel folds/trials).

    python benchmarks/training_throughput.py [--steps 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trader_core.candles import load_candles  # noqa: E402
from trader_core.features import FeatureSet  # noqa: E402
from trader_core.observation import FeatureScaler  # noqa: E402
from trader_core.policy import ActionMapping  # noqa: E402
from trader_core.training.env import MarketData, TradingEnv, TradingSetup  # noqa: E402

DATA = REPO / "data/btcusdt/binance_usdm_BTCUSDT_1h_20240101_20250119.csv"


def make_env() -> TradingEnv:
    from sklearn.preprocessing import StandardScaler

    candles = load_candles(DATA)
    features = FeatureSet.default()
    _, matrix = features.batch(candles)
    scaler = FeatureScaler.from_sklearn(StandardScaler().fit(matrix[40:6000]))
    market = MarketData.build(candles, features, scaler, None, matrix)
    return TradingEnv(market, TradingSetup(window_size=30, mapping=ActionMapping(1.0, 0.1)), 63, 7000, 720)


def env_step_us(env: TradingEnv, steps: int = 20_000) -> float:
    actions = np.random.default_rng(0).uniform(-1, 1, steps).astype(np.float32)
    env.reset(seed=0)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(np.array([action]))
        if terminated or truncated:
            env.reset()
    return (time.perf_counter() - started) / steps * 1e6


def sac_rates(threads: int, steps: int):
    import torch
    from stable_baselines3 import SAC

    torch.set_num_threads(threads)
    model = SAC("MlpPolicy", make_env(), learning_rate=3e-4, batch_size=256, buffer_size=100_000,
                learning_starts=1_000, seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]})
    started = time.perf_counter()
    model.learn(1_000)
    collected = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    learned = time.perf_counter()
    weights = torch.cat([p.detach().flatten() for p in model.policy.parameters()])
    return 1_000 / (collected - started), steps / (learned - collected), weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000, help="learning steps timed per configuration")
    args = parser.parse_args()
    print(f"env step (TradingEnv.step, random actions): {env_step_us(make_env()):.1f} us")
    results = {}
    for threads in (2, 1):
        collect, learn, weights = sac_rates(threads, args.steps)
        results[threads] = weights
        print(f"torch threads {threads}: {collect:,.0f} steps/s collecting, {learn:,.0f} steps/s learning "
              f"({1e3 / learn:.2f} ms a step); 100,000 demo steps ~ {100_000 / learn / 60:.1f} min")
    import torch

    print(f"weights identical at 1 and 2 threads: {torch.equal(results[1], results[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
