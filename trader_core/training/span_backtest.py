"""Out-of-sample figures for one span: the run's agent through the backtest engine, the
benchmarks through the training environment, all on the same candles and accounting.

Why the engine for the agent: a walk-forward number must be what the operator would
have got, so the agent runs through ``run_session(..., "backtest")`` - the same
``TradingEngine`` step, risk guard and paper fills as any backtest, with its journal
in the run's ``backtest/`` folder. Buy-and-hold and flat need no model, so they run
through ``TradingEnv`` with the same fees, filters, funding and accounting.

The span is a time range ``[first_ms, end_ms]`` of candle closes: the first decision
is on the close at ``first_ms``, the last one on the close before ``end_ms``, and the
account is marked at the close at ``end_ms``. The engine also acts on that last close
(it belongs to the next span), so that decision's fee, trade and notional are left
out and the final point is the account before it - exactly the training
environment's convention, so the two can be compared.

Funding: the backtest's paper exchange settles none (yet), so funding is charged here
from the journal's positions with the environment's own rule (the rate of each event
inside candle ``j`` on the position held after the decision on candle ``j - 1``, at
candle ``j``'s open) through ``FuturesAccount.apply_funding``. If the journal records
funding itself, that is used instead. Funding is not fed back into later order sizes
(a few USDT on 10,000 of equity); the figure is reported apart from fees.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ..accounting import FuturesAccount, price_to_decimal
from ..errors import DataError
from ..journal import read_steps
from ..launcher import SessionOptions, run_session
from ..runs import TrainingRun
from ..settings import Settings
from ..time_utils import interval_ms, iso_ms
from .env import MarketData, TradingEnv, TradingSetup
from .evaluation import equity_metrics, filled, rollout, turnover

SPAN_CANDLES_FILE = "walkforward_test_candles.csv"
CSV_HEADER = ["open_time_ms", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class SpanResult:
    """One strategy over one span: its figures and its equity at every close of the span."""

    metrics: dict
    equity: np.ndarray  # at close(first) .. close(last), before the decision on that close
    journal: Path | None = None


@dataclass(frozen=True)
class SpanRows:
    """Where a span sits in a candle frame: decisions on rows ``first .. last - 1``, marked at ``last``."""

    first: int
    last: int

    @classmethod
    def of(cls, candles: pd.DataFrame, first_ms: int, end_ms: int, step_ms: int) -> SpanRows:
        opens = candles["open_time"].to_numpy()
        first = int(np.searchsorted(opens, first_ms - step_ms, side="left"))
        last = int(np.searchsorted(opens, end_ms - step_ms, side="left"))
        if first >= len(opens) or opens[first] != first_ms - step_ms or last >= len(opens) \
                or opens[last] != end_ms - step_ms or last <= first:
            raise DataError(f"the candles do not cover the span {iso_ms(first_ms)} -> {iso_ms(end_ms)} without a gap")
        if last - first != (end_ms - first_ms) // step_ms:
            raise DataError(f"the candles of the span {iso_ms(first_ms)} -> {iso_ms(end_ms)} have gaps")
        return cls(first, last)

    @property
    def times(self) -> slice:
        return slice(self.first, self.last + 1)


def backtest_agent(
    run: TrainingRun, candles: pd.DataFrame, rows: SpanRows, funding: pd.DataFrame | None,
    settings: Settings | None = None,
) -> SpanResult:
    """The run's agent over the span through the backtest engine, net of fees and funding."""
    history = run.history_needed
    start = rows.first - history
    if start < 0:
        raise DataError(f"the span needs {history} candles of history before it; the data has {rows.first}")
    frame = candles.iloc[start : rows.last + 1]
    path = run.path / SPAN_CANDLES_FILE
    frame.to_csv(path, index=False, header=CSV_HEADER)
    outcome = asyncio.run(run_session(
        SessionOptions(run.train_id, "backtest", run.path.parent, data=path), settings or Settings(),
    ))
    journal = Path(outcome.journal_path)
    steps = read_steps(journal)
    expected = rows.last - rows.first + 1
    if len(steps) > expected or (steps and int(steps[0]["candle_open_time"]) != int(frame["open_time"].iloc[history])):
        raise DataError(f"backtest journal {journal} does not line up with the span's candles")
    return _agent_result(run, candles, rows, steps, funding, journal)


def _agent_result(run, candles, rows: SpanRows, steps: list[dict], funding, journal: Path) -> SpanResult:
    initial = float(run.trading["initial_balance"])
    span = rows.last - rows.first
    # Equity at close i before its decision = the row's equity after it + the fee it paid.
    before = [initial] + [float(r["equity"]) + float(r["order_fee"] or 0) for r in steps[1:]]
    decided = steps[: span]  # the decision on the span's last close belongs to the next span
    journal_funding = sum(float(r["funding"] or 0) for r in steps[1:])
    if journal_funding == 0.0:
        paid = _funding_paid(run, candles, rows, steps, funding)
        before = [value - paid[k] for k, value in enumerate(before)]
        funding_total = float(paid[len(before) - 1]) if before else 0.0
    else:
        funding_total = -journal_funding
    if len(before) < span + 1:  # the engine stopped early (the risk guard halted it): flat from there
        before += [before[-1]] * (span + 1 - len(before))
    equity = np.array(before, dtype=float)
    total, sharpe, max_dd = equity_metrics(equity, run.interval)
    fees = sum(float(r["order_fee"] or 0) for r in decided)
    metrics = {
        "total_return": total, "sharpe": sharpe, "max_drawdown": max_dd, "turnover": turnover(decided, equity),
        "trades": sum(1 for r in decided if filled(r)), "fees": fees,
        "funding": funding_total, "final_equity": float(equity[-1]), "steps": span,
        "stopped_early": len(steps) < span + 1,
    }
    return SpanResult(_rounded(metrics), equity, journal)


def _funding_paid(run, candles, rows: SpanRows, steps: list[dict], funding) -> np.ndarray:
    """Cumulative funding paid (positive = paid out) at each close of the span, from the journal's positions."""
    paid = np.zeros(rows.last - rows.first + 1)
    if funding is None or funding.empty:
        return paid
    rates = MarketData.funding_per_candle(candles, funding, interval_ms(run.interval))
    opens = candles["open"].to_numpy()
    account = FuturesAccount(Decimal(0), run.fee_rate, run.leverage)
    total = Decimal(0)
    for k in range(1, len(paid)):
        j = rows.first + k
        if rates[j] and k - 1 < len(steps):
            account.position_qty = Decimal(str(steps[k - 1]["position_qty"]))
            total += account.apply_funding(price_to_decimal(rates[j]), price_to_decimal(opens[j]))
        paid[k] = float(total)
    return paid


def benchmarks(run: TrainingRun, candles: pd.DataFrame, rows: SpanRows, funding) -> dict[str, SpanResult]:
    """Buy-and-hold (1x long from the first close) and flat over the span, through the training env."""
    market = MarketData.build(candles.iloc[: rows.last + 1], run.features, run.scaler, funding)
    env = TradingEnv(market, TradingSetup.from_run(run), rows.first, rows.last, None, mode="backtest")
    hold = 1.0 / env.setup.mapping.max_leverage
    results = {}
    for name, action in (("buy_and_hold", hold), ("flat", 0.0)):
        metrics, infos, equity = rollout(env, lambda _obs, a=action: a)
        figures = metrics.as_dict()
        figures["turnover"] = turnover(infos, equity)
        figures["funding"] = sum(float(i["funding"]) for i in infos)  # paid out (the env's sign)
        results[name] = SpanResult(_rounded(figures), equity)
    return results


def agent_in_env(run: TrainingRun, candles: pd.DataFrame, rows: SpanRows, funding) -> dict:
    """The same agent through the training environment: a cross-check of the engine's figures."""
    market = MarketData.build(candles.iloc[: rows.last + 1], run.features, run.scaler, funding)
    env = TradingEnv(market, TradingSetup.from_run(run), rows.first, rows.last, None, mode="backtest")
    metrics, infos, equity = rollout(env, run.load_agent().act)
    figures = metrics.as_dict()
    figures["turnover"] = turnover(infos, equity)
    figures["funding"] = sum(float(i["funding"]) for i in infos)
    return _rounded(figures)


def _rounded(metrics: dict) -> dict:
    return {k: (round(float(v), 6) if isinstance(v, float | np.floating) else v) for k, v in metrics.items()}
