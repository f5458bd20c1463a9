"""The gymnasium environment SAC trains in, assembled from the live building blocks.

Nothing here re-implements what live trading does: observations come from
``observation.build_observation``, actions go through ``policy.ActionMapping.plan``
with the symbol's real filters, fills, fees, funding and PnL through
``accounting.FuturesAccount``. Timing matches live: the agent decides on the close
of candle ``i`` and its market order fills at that close; the reward is the log
change of equity (unrealised PnL included) over the next candle, fees included.

An episode ends at the end of its data range, when equity is gone, or when the
drawdown from the episode's peak reaches ``drawdown_limit`` (the live risk guard's
job, so the agent learns that deep drawdowns end the game).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter

import gymnasium as gym
import numpy as np
import pandas as pd

from ..accounting import FuturesAccount, drawdown_reached, price_to_decimal
from ..exchanges.filters import SymbolFilters
from ..observation import FeatureScaler, ObservationLayout, PortfolioState, build_observation
from ..policy import ActionMapping
from ..candles import Candle, infer_interval
from ..features import FeatureSet
from ..step_record import JOURNAL_COLUMNS, AccountFigures, StepRecord, record_step
from ..time_utils import interval_from_ms, interval_ms

_COLUMN_VALUES = attrgetter(*JOURNAL_COLUMNS)


def step_info(record: StepRecord) -> dict:
    """``record.as_info()`` without ``dataclasses.asdict``'s per-field deep copy.

    Why: every value is an immutable str, int or float, so the copy buys nothing, and
    it was over half of an environment step (80 -> 35 us, see docs/BENCHMARKS.md)."""
    return dict(zip(JOURNAL_COLUMNS, _COLUMN_VALUES(record)))


@dataclass(frozen=True)
class TradingSetup:
    """The trading assumptions a run is trained under (written to its metadata)."""

    window_size: int = 30
    mapping: ActionMapping = field(default_factory=ActionMapping)
    filters: SymbolFilters = field(default_factory=SymbolFilters.btcusdt_default)
    fee_rate: Decimal = Decimal("0.0005")
    leverage: int = 2
    initial_balance: Decimal = Decimal("10000")
    drawdown_limit: float = 0.3

    @classmethod
    def from_run(cls, run) -> "TradingSetup":
        """The assumptions a ``TrainingRun`` was trained under, read back from its metadata."""
        trading = run.trading
        return cls(
            window_size=run.window_size, mapping=run.mapping, filters=run.filters,
            fee_rate=Decimal(str(trading["fee_rate"])), leverage=int(trading["leverage"]),
            initial_balance=Decimal(str(trading["initial_balance"])),
            drawdown_limit=float(trading["drawdown_limit"]),
        )

    def to_metadata(self) -> dict:
        return {
            "fee_rate": str(self.fee_rate),
            "leverage": self.leverage,
            "initial_balance": str(self.initial_balance),
            "drawdown_limit": self.drawdown_limit,
            "filters": self.filters.to_dict(),
        }


@dataclass(frozen=True)
class MarketData:
    """Candles with their scaled feature matrix and per-candle funding rates."""

    candles: pd.DataFrame
    scaled: np.ndarray  # (rows, model features), NaN before warm-up
    funding: np.ndarray  # (rows,) summed funding rate of events inside each candle
    interval_ms: int

    @classmethod
    def build(
        cls, candles: pd.DataFrame, features: FeatureSet, scaler: FeatureScaler,
        funding: pd.DataFrame | None = None, model: np.ndarray | None = None,
    ) -> "MarketData":
        """Batch features for ``candles`` (or the ``model`` matrix already computed), scaled."""
        step_ms = interval_ms(infer_interval(candles))
        if model is None:
            _, model = features.batch(candles)
        return cls(candles, scaler.transform(model), cls.funding_per_candle(candles, funding, step_ms), step_ms)

    @staticmethod
    def funding_per_candle(candles: pd.DataFrame, funding: pd.DataFrame | None, interval_ms: int) -> np.ndarray:
        rates = np.zeros(len(candles))
        if funding is None or funding.empty:
            return rates
        opens = candles["open_time"].to_numpy()
        idx = np.searchsorted(opens, funding["funding_time"].to_numpy(), side="right") - 1
        inside = (idx >= 0) & (funding["funding_time"].to_numpy() < opens[np.clip(idx, 0, None)] + interval_ms)
        np.add.at(rates, idx[inside], funding["funding_rate"].to_numpy()[inside])
        return rates


class TradingEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(
        self, market: MarketData, setup: TradingSetup, first_row: int, last_row: int,
        episode_length: int | None = None, mode: str = "train",
    ) -> None:
        """Decide on candles ``first_row .. last_row - 1``; ``last_row`` is the final close seen."""
        super().__init__()
        window = setup.window_size
        if first_row < window - 1 or np.isnan(market.scaled[first_row - window + 1]).any():
            raise ValueError("first_row leaves the observation window inside the indicator warm-up")
        if last_row >= len(market.candles) or last_row <= first_row:
            raise ValueError("empty or out-of-range decision range")
        self.market = market
        self.setup = setup
        self.first_row = first_row
        self.last_row = last_row
        self.episode_length = episode_length
        self.mode = mode
        self.layout = ObservationLayout(window, market.scaled.shape[1])
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.layout.size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        c = market.candles
        self._open = c["open"].to_numpy()
        self._high = c["high"].to_numpy()
        self._low = c["low"].to_numpy()
        self._close = c["close"].to_numpy()
        self._volume = c["volume"].to_numpy()
        self._open_time = c["open_time"].to_numpy()
        self._row = first_row
        self._end = last_row
        self.account = FuturesAccount(setup.initial_balance, setup.fee_rate, setup.leverage)
        self._peak = float(setup.initial_balance)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        start, end = self.first_row, self.last_row
        if self.episode_length and end - start > self.episode_length:
            start = int(self.np_random.integers(start, end - self.episode_length))
            end = start + self.episode_length
        self._row, self._end = start, end
        self.account = FuturesAccount(self.setup.initial_balance, self.setup.fee_rate, self.setup.leverage)
        self._peak = float(self.setup.initial_balance)
        return self._observation(), {}

    def step(self, action):
        i = self._row
        raw_action = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        price = price_to_decimal(self._close[i])
        equity_before = self.account.equity(price)
        plan = self.setup.mapping.plan(
            raw_action, equity_before, price, self.account.position_qty, self.setup.filters
        )
        fill, status = None, f"SKIPPED:{plan.reason}"
        if plan.quantity != 0:
            fill, status = self.account.try_fill(plan.quantity, price)
        self._peak = max(self._peak, float(self.account.equity(price)))
        record = record_step(
            candle=self._candle(i), interval_ms=self.market.interval_ms, raw_action=raw_action,
            target_exposure=plan.target_exposure, fill=fill, status=status, figures=AccountFigures.of(self.account, price),
            peak_equity=self._peak, mode=self.mode,
        )

        # The market moves one candle; funding settles inside it.
        j = i + 1
        funding = 0.0
        if self.market.funding[j]:
            funding = float(self.account.apply_funding(
                price_to_decimal(self.market.funding[j]), price_to_decimal(self._open[j])
            ))
        equity_next = float(self.account.equity(price_to_decimal(self._close[j])))
        self._peak = max(self._peak, equity_next)
        self._row = j
        reward = math.log(max(equity_next, 1e-9) / float(equity_before))
        terminated = equity_next <= 0 or drawdown_reached(equity_next, self._peak, self.setup.drawdown_limit)
        truncated = (not terminated) and j >= self._end
        info = step_info(record)
        info["funding"] = funding  # settled inside the next candle, after this decision
        return self._observation(), reward, terminated, truncated, info

    # ------------------------------------------------------------------ helpers
    @property
    def interval(self) -> str:
        return interval_from_ms(self.market.interval_ms)

    def account_mark(self) -> Decimal:
        """The price the account is marked at now: the close of the current candle."""
        return price_to_decimal(self._close[self._row])

    def portfolio_state(self) -> PortfolioState:
        mark = self.account_mark()
        return PortfolioState.from_account(
            equity=float(self.account.equity(mark)),
            position_notional=float(self.account.position_notional(mark)),
            unrealized_pnl=float(self.account.unrealized_pnl(mark)),
            peak_equity=self._peak,
            max_leverage=self.setup.mapping.max_leverage,
        )

    def _observation(self) -> np.ndarray:
        i, w = self._row, self.setup.window_size
        return build_observation(self.market.scaled[i - w + 1 : i + 1], self.portfolio_state())

    def _candle(self, i: int) -> Candle:
        return Candle(
            int(self._open_time[i]), float(self._open[i]), float(self._high[i]),
            float(self._low[i]), float(self._close[i]), float(self._volume[i]),
        )
