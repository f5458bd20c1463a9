"""One decision step, under the column names shared by the journal and training.

The training environment returns ``StepRecord.as_info()`` as its per-step ``info``
and the live journal writes the same fields as CSV columns, so one analysis script
reads a training rollout, a backtest and a live session alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal

from .accounting import Fill, FuturesAccount, drawdown
from .candles import Candle
from .frozen import quick_init
from .states import EngineState
from .time_utils import iso_ms


@quick_init
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
    expected_fee: str = "0"  # the run's fee rate applied to the fill: the local expectation beside order_fee
    fill_realized_pnl: str = "0"  # PnL this order's fills realised, as the exchange booked it

    def as_info(self) -> dict:
        return asdict(self)

    def summary_line(self) -> str:
        """One line for logs and the headless console.

        One time convention everywhere: a candle is named by its **open** time (UTC), labelled
        ``open``, as the console's tables and the journal's ``candle_open_time`` do. A session on an
        exchange adds ``decided`` - the wall-clock time of the decision, which tells how late after
        the close it came; in a backtest or replay that is the candle's close and is left out."""
        if self.order_side:
            order = f"{self.order_side} {self.order_qty.lstrip('-')} @ {self.order_avg_price} {self.order_status}"
        else:
            order = self.order_status
        decided = "" if self.mode in OFFLINE_MODES else f"  decided {self.time}"
        return (
            f"open {iso_ms(self.candle_open_time)}  close {self.close:>10.1f}  action {self.raw_action:+.3f}  target "
            f"{self.target_exposure:+.2f}  {order:<34} pos {self.position_qty:>7}  equity {self.equity:>10.2f}  "
            f"dd {self.drawdown:6.2%}  {self.decision_latency_ms:6.2f} ms{decided}"
        )


#: Modes whose decision time is the candle's close by construction (nothing to add to the open time).
OFFLINE_MODES = frozenset({"backtest", "replay", "train"})


JOURNAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))


@quick_init
@dataclass(frozen=True)
class AccountFigures:
    """The account after a step, whichever side keeps it (exchange or in-process account)."""

    wallet: Decimal
    equity: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    position_qty: Decimal
    entry_price: Decimal

    @classmethod
    def of(cls, account: FuturesAccount, mark: Decimal) -> "AccountFigures":
        return cls(
            account.wallet_balance, account.equity(mark), account.unrealized_pnl(mark),
            account.realized_pnl, account.position_qty, account.entry_price,
        )


def decimal_text(value: Decimal) -> str:
    """``0.010`` and ``0.01000`` alike as ``0.01``; zero as ``0``; never scientific notation."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def record_step(
    *, candle: Candle, interval_ms: int, raw_action: float, target_exposure: float,
    fill: Fill | None, status: str, figures: AccountFigures, peak_equity: float,
    mode: str, state: str = EngineState.RUNNING.value, client_order_id: str = "", decision_latency_ms: float = 0.0,
    funding: float = 0.0, time: str | None = None, expected_fee: Decimal | None = None,
) -> StepRecord:
    """The row for one decision, from the account *after* its order (step G -> H)."""
    equity = float(figures.equity)
    return StepRecord(
        time=time or iso_ms(candle.open_time + interval_ms),
        candle_open_time=candle.open_time,
        open=candle.open, high=candle.high, low=candle.low, close=candle.close, volume=candle.volume,
        raw_action=raw_action, target_exposure=target_exposure,
        order_side=fill.side if fill else "",
        order_qty=decimal_text(fill.quantity) if fill else "0",
        order_avg_price=decimal_text(fill.price) if fill else "",
        order_fee=decimal_text(fill.fee) if fill else "0",
        client_order_id=client_order_id, order_status=status,
        position_qty=decimal_text(figures.position_qty), entry_price=decimal_text(figures.entry_price),
        wallet=float(figures.wallet), equity=equity,
        unrealized_pnl=float(figures.unrealized_pnl), realized_pnl=float(figures.realized_pnl),
        funding=funding,
        drawdown=drawdown(equity, peak_equity),
        decision_latency_ms=decision_latency_ms, mode=str(mode), state=str(state),
        expected_fee=decimal_text(fill.fee if expected_fee is None else expected_fee) if fill else "0",
        fill_realized_pnl=decimal_text(fill.realized_pnl) if fill else "0",
    )
