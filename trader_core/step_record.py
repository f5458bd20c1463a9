"""One decision step, under the column names shared by the journal and training.

The training environment returns ``StepRecord.as_info()`` as its per-step ``info``
and the live journal writes the same fields as CSV columns, so one analysis script
reads a training rollout, a backtest and a live session alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class StepRecord:
    time: str  # ISO UTC: when the decision was made (candle close in training/backtest)
    candle_open_time: int  # ms
    open: float
    high: float
    low: float
    close: float
    volume: float
    raw_action: float
    target_exposure: float
    order_side: str  # BUY / SELL / "" when no order
    order_qty: str  # Decimal as text, signed by side; "0" when no order
    order_avg_price: str
    order_fee: str
    client_order_id: str
    order_status: str  # FILLED / REJECTED:<code> / SKIPPED:<reason>
    position_qty: str
    entry_price: str
    wallet: float
    equity: float
    unrealized_pnl: float
    realized_pnl: float
    funding: float
    drawdown: float
    decision_latency_ms: float
    mode: str  # train / backtest / sim / testnet / live
    state: str  # engine state: RUNNING / PAUSED / REDUCING / HALTED

    def as_info(self) -> dict:
        return asdict(self)


JOURNAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))
