"""Steps C and D of the live loop: closed candle -> features -> observation -> action.

``DecisionPipeline`` is what live trading, the offline replay and the benchmark run
per closed candle: the incremental feature update (O(1)), one scaled row pushed
into the rolling window, the observation built by the same function the training
environment uses, and the agent's deterministic action. It refuses to decide
before every indicator is warm and the window is full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .candles import Candle
from .features import FeatureRow
from .frozen import quick_init
from .observation import ObservationWindow, PortfolioState
from .runs import TrainingRun


@quick_init
@dataclass(frozen=True)
class Decision:
    candle: Candle
    features: FeatureRow
    observation: np.ndarray
    action: float


class DecisionPipeline:
    def __init__(self, run: TrainingRun, agent) -> None:
        self.run = run
        self.agent = agent
        self.features = run.features.incremental()
        self.window = ObservationWindow(run.scaler, run.window_size)
        self.last_row: FeatureRow | None = None
        self.last_open_time: int | None = None

    @property
    def ready(self) -> bool:
        return self.window.ready

    def on_candle(self, candle: Candle) -> FeatureRow | None:
        """Fold one closed candle into the features and the window (no decision)."""
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            raise ValueError(
                f"candle {candle.open_time} is not after the last one ({self.last_open_time}); "
                "closed candles must arrive once each, in order"
            )
        row = self.features.update(candle.open, candle.high, candle.low, candle.close, candle.volume)
        self.last_open_time = candle.open_time
        if row is not None:
            self.window.push(row.model)
            self.last_row = row
        return row

    def warm_up(self, history: Iterable[Candle]) -> int:
        count = 0
        for candle in history:
            self.on_candle(candle)
            count += 1
        return count

    def decide(self, candle: Candle, portfolio: PortfolioState) -> Decision | None:
        """Update with ``candle``; the agent's action if the window is full, else None."""
        row = self.on_candle(candle)
        if row is None or not self.window.ready:
            return None
        observation = self.window.observation(portfolio)
        return Decision(candle, row, observation, self.agent.act(observation))
