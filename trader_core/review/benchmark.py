"""Buy-and-hold, defined once: the figure the run's metadata, replay, backtest and reports print.

Why here and why through ``TradingEnv``: the held-out evaluation in a run's metadata is
``training.evaluation.compare`` - a 1x long bought at the first decision's close through
the training environment (fees, the symbol's step size, funding settled at the 8 h marks),
valued at the last close. Replay and backtest used to print ``last close / first close - 1``
over one more candle, so the demo read +48.12 % in the README and +51.99 % on screen. Every
buy-and-hold figure now runs that same environment over the same rows, and says its span:
``candles`` is the number of candles the position is held across (the training
environment's ``steps``), from the close of the first decision candle to the last close.
The policy never looks at its observation, so the environment gets a one-row window of
zeros instead of features.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..time_utils import interval_ms, iso_ms


@dataclass(frozen=True)
class BuyAndHold:
    total_return: float
    sharpe: float
    max_drawdown: float
    fees: float
    candles: int  # candles held across: the first decision's close to the last close
    first_open_ms: int  # open time of the candle whose close buys
    last_open_ms: int  # open time of the candle whose close values it
    funding: bool  # funding rates were settled
    equity: tuple[float, ...] = ()  # the hold's equity at each close, first decision candle to the last
    initial: float = 0.0  # the balance it started from (the run's initial balance)

    def scaled(self, start: float) -> list[float]:
        """The equity curve as if it had started from ``start`` (to draw beside a session's)."""
        factor = start / self.initial if self.initial > 0 else 1.0
        return [value * factor for value in self.equity]

    def describe(self) -> str:
        """``+48.12 % over 1,833 candles (1x long, fees and funding)`` - the one way it is said."""
        costs = "fees and funding" if self.funding else "fees, no funding rates for this span"
        return f"{self.total_return:+.2%} over {self.candles:,} candles (1x long, {costs})"

    def span(self) -> str:
        return f"{iso_ms(self.first_open_ms)} -> {iso_ms(self.last_open_ms)} (candle open times)"


def _settles(funding: pd.DataFrame | None, first_ms: int, end_ms: int) -> bool:
    """Some funding settlement of the file falls inside the span (the environment settles those)."""
    if funding is None or funding.empty:
        return False
    times = funding["funding_time"]
    return bool(((times > first_ms) & (times < end_ms)).any())


def buy_and_hold(run, frame: pd.DataFrame, first_row: int, last_row: int | None = None,
                 funding: pd.DataFrame | None = None) -> BuyAndHold:
    """A 1x long bought at the close of ``frame`` row ``first_row`` (the first decision) and valued
    at the close of ``last_row`` (default: the last row), as the run's held-out evaluation computes it.
    The settlements of ``funding`` inside the span are charged, exactly as in training; when none
    falls inside it the figure says so."""
    from ..training.env import MarketData, TradingEnv, TradingSetup
    from ..training.evaluation import run_policy

    frame = frame.reset_index(drop=True)
    last_row = len(frame) - 1 if last_row is None else last_row
    if not 0 <= first_row < last_row < len(frame):
        raise ValueError(f"buy-and-hold needs two candles or more (rows {first_row}..{last_row} of {len(frame)})")
    step = interval_ms(run.interval)
    opens = frame["open_time"]
    settled = _settles(funding, int(opens.iloc[first_row]), int(opens.iloc[last_row]) + step)
    setup = dataclasses.replace(TradingSetup.from_run(run), window_size=1)
    market = MarketData(frame, np.zeros((len(frame), 1)), MarketData.funding_per_candle(frame, funding, step), step)
    env = TradingEnv(market, setup, first_row, last_row, mode="buy_and_hold")
    metrics, infos = run_policy(env, lambda _observation: 1.0 / setup.mapping.max_leverage)
    curve = tuple(float(info["equity"]) for info in infos) + (metrics.final_equity,)
    return BuyAndHold(metrics.total_return, metrics.sharpe, metrics.max_drawdown, metrics.fees, metrics.steps,
                      int(opens.iloc[first_row]), int(opens.iloc[last_row]), settled, curve,
                      float(setup.initial_balance))


def run_funding(run) -> pd.DataFrame | None:
    """The funding rates the run was trained with, when the file is found (see ``launcher.funding_for``)."""
    from ..launcher import funding_for

    try:
        return funding_for(run, None)
    except Exception:  # noqa: BLE001 - a benchmark without funding says so; it never fails a report
        return None
