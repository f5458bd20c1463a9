"""Keep the checkpoint that did best on a validation slice, not the last one.

SAC on a few thousand candles overfits: trained longer, it learns to flip on noise
and pays for it in fees out of sample. The trainer therefore holds back the tail of
the *training* split (never the test split, which stays untouched for the final
evaluation), evaluates the deterministic policy on it every ``every`` steps through
the same environment, and restores the best-scoring weights at the end.
"""

from __future__ import annotations

import copy

from stable_baselines3.common.callbacks import BaseCallback

from ..policy import SacAgent
from .env import TradingEnv
from .evaluation import run_policy


class BestOnValidation(BaseCallback):
    def __init__(self, env: TradingEnv, every: int) -> None:
        super().__init__()
        self.env = env
        self.every = max(1, every)
        self.best_return = float("-inf")
        self.best_step = 0
        self._best_params = None
        self.history: list[dict] = []

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            self._evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["step"] != self.num_timesteps:
            self._evaluate()

    def _evaluate(self) -> None:
        metrics, _ = run_policy(self.env, SacAgent(self.model).act)
        self.history.append(
            {"step": int(self.num_timesteps), "total_return": round(metrics.total_return, 6), "trades": metrics.trades}
        )
        if metrics.total_return > self.best_return:
            self.best_return = metrics.total_return
            self.best_step = int(self.num_timesteps)
            self._best_params = copy.deepcopy(self.model.policy.state_dict())

    def restore_best(self) -> None:
        if self._best_params is not None:
            self.model.policy.load_state_dict(self._best_params)
