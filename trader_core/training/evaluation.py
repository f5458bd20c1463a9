"""Held-out evaluation: the agent against buy-and-hold and staying flat.

All three strategies run through the same ``TradingEnv`` (same fees, funding,
filters and drawdown stop), so the comparison is about decisions, not accounting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..metrics import RunningMetrics
from .env import TradingEnv


@dataclass(frozen=True)
class Metrics:
    total_return: float
    sharpe: float  # annualised, from per-candle log returns
    max_drawdown: float
    trades: int
    fees: float
    final_equity: float
    steps: int
    stopped_by_drawdown: bool

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def equity_metrics(equity: np.ndarray, interval: str) -> tuple[float, float, float]:
    """(total return, annualised Sharpe, max drawdown) of an equity curve."""
    metrics = RunningMetrics()
    for value in equity:
        metrics.update(float(value))
    return metrics.total_return, metrics.sharpe(interval), metrics.max_drawdown


def filled(row) -> bool:
    """A step row (env info or journal row) whose order filled: a quantity and a fill price."""
    qty, price = str(row["order_qty"] or "0"), str(row["order_avg_price"] or "")
    return qty not in ("0", "") and price not in ("", "0", "nan")


def traded_notional(rows) -> float:
    """Sum of |quantity x fill price| over the rows with a fill."""
    return sum(abs(float(r["order_qty"])) * float(r["order_avg_price"]) for r in rows if filled(r))


def turnover(rows, equity: np.ndarray) -> float:
    """How many times the (average) equity was traded over the range: notional / mean equity.

    Why this figure: return and Sharpe hide how much an agent churns; two agents with
    the same return and 2x vs 200x turnover are not the same agent under real fees."""
    mean_equity = float(np.mean(equity)) if len(equity) else 0.0
    return traded_notional(rows) / mean_equity if mean_equity > 0 else 0.0


def run_policy(env: TradingEnv, act: Callable[[np.ndarray], float]) -> tuple[Metrics, list[dict]]:
    """One deterministic pass over the env's whole range; returns metrics and step infos."""
    metrics, infos, _ = rollout(env, act)
    return metrics, infos


def rollout(env: TradingEnv, act: Callable[[np.ndarray], float]) -> tuple[Metrics, list[dict], np.ndarray]:
    """``run_policy`` plus the equity curve: the start, then the account after each step
    marked at the next close (what the metrics are computed from)."""
    obs, _ = env.reset(seed=0)
    equity = [float(env.setup.initial_balance)]
    infos: list[dict] = []
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(np.array([act(obs)], dtype=np.float32))
        infos.append(info)
        equity.append(float(env.account.equity(env.account_mark())))
    total, sharpe, max_dd = equity_metrics(np.array(equity), env.interval)
    metrics = Metrics(
        total_return=total, sharpe=sharpe, max_drawdown=max_dd,
        trades=env.account.trade_count, fees=float(env.account.fees_paid),
        final_equity=equity[-1], steps=len(infos), stopped_by_drawdown=bool(terminated),
    )
    return metrics, infos, np.array(equity)


def compare(env: TradingEnv, agent_act: Callable[[np.ndarray], float]) -> dict[str, dict]:
    """Agent, buy-and-hold (1x long from the first candle) and flat, on one range."""
    hold_action = 1.0 / env.setup.mapping.max_leverage
    results = {}
    for name, act in (("agent", agent_act), ("buy_and_hold", lambda _: hold_action), ("flat", lambda _: 0.0)):
        metrics, _ = run_policy(env, act)
        results[name] = metrics.as_dict()
    return results
