"""Offline replay of a run over candles through the *live* decision path.

Candles go one at a time through ``DecisionPipeline`` (incremental features, rolling
observation window, deterministic action), orders through ``ActionMapping.plan``
with the run's filters, fills through ``FuturesAccount`` at the candle close. No
exchange and no network: this is what ``make demo`` runs until the trading engine
and the loopback simulator take over, and what proves that the live path decides
as the training environment did on the same candles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .accounting import FuturesAccount, price_to_decimal
from .candles import Candle
from .decision import DecisionPipeline
from .observation import PortfolioState
from .runs import TrainingRun
from .step_record import AccountFigures, StepRecord, record_step
from .time_utils import interval_ms
from .training.evaluation import equity_metrics
from .review.benchmark import BuyAndHold, buy_and_hold


@dataclass(frozen=True)
class ReplayResult:
    records: tuple[StepRecord, ...]
    total_return: float
    sharpe: float
    max_drawdown: float
    trades: int
    fees: float
    benchmark: BuyAndHold  # over the decided candles, defined as in the run's held-out evaluation

    @property
    def buy_and_hold_return(self) -> float:
        return self.benchmark.total_return


def replay(
    run: TrainingRun, agent, candles: Iterable[Candle], say: Callable[[str], None] | None = None,
    warmup_candles: int | None = None, funding=None,
) -> ReplayResult:
    """Decide on every candle after the first ``warmup_candles`` (default: the history a
    live session downloads before its first decision, ``run.history_needed``). ``funding``:
    the rates buy-and-hold is charged (the run's own file, as in its evaluation)."""
    pipeline = DecisionPipeline(run, agent)
    warmup_left = run.history_needed if warmup_candles is None else warmup_candles
    step_ms = interval_ms(run.interval)
    initial = Decimal(str(run.trading["initial_balance"]))
    account = FuturesAccount(initial, run.fee_rate, run.leverage)
    peak = float(initial)
    records: list[StepRecord] = []
    equity_curve: list[float] = []
    decided: list[Candle] = []
    for candle in candles:
        if warmup_left > 0:
            pipeline.on_candle(candle)
            warmup_left -= 1
            continue
        mark = price_to_decimal(candle.close)
        equity = account.equity(mark)
        peak = max(peak, float(equity))
        portfolio = PortfolioState.from_account(
            float(equity), float(account.position_notional(mark)), float(account.unrealized_pnl(mark)),
            peak, run.mapping.max_leverage,
        )
        started = time.perf_counter()
        decision = pipeline.decide(candle, portfolio)
        if decision is None:
            continue
        plan = run.mapping.plan(decision.action, equity, mark, account.position_qty, run.filters)
        latency_ms = (time.perf_counter() - started) * 1000.0
        fill, status = (None, f"SKIPPED:{plan.reason}")
        if plan.quantity != 0:
            fill, status = account.try_fill(plan.quantity, mark)
        peak = max(peak, float(account.equity(mark)))
        record = record_step(
            candle=candle, interval_ms=step_ms, raw_action=decision.action,
            target_exposure=plan.target_exposure, fill=fill, status=status,
            figures=AccountFigures.of(account, mark), peak_equity=peak, mode="replay", decision_latency_ms=latency_ms,
        )
        records.append(record)
        equity_curve.append(record.equity)
        decided.append(candle)
        if say:
            say(record.summary_line())
    if not records:
        raise ValueError(
            "no decision was made: the replay needs more candles than its warm-up "
            f"({run.history_needed} for this run)"
        )
    total, sharpe, max_dd = equity_metrics(np.array([float(initial), *equity_curve]), run.interval)
    frame = pd.DataFrame([(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in decided],
                         columns=["open_time", "open", "high", "low", "close", "volume"])
    benchmark = buy_and_hold(run, frame, 0, None, funding) if len(frame) > 1 else None
    return ReplayResult(
        tuple(records), total, sharpe, max_dd, account.trade_count, float(account.fees_paid), benchmark,
    )
