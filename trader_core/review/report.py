"""One session's report as data: curves, trades, costs and figures against buy-and-hold.

Why data only: the terminal (plotext) and the HTML file (plotly) draw the same report,
and a test can check its numbers without reading pixels. Everything comes from the
session's journal - every candle's row (close, equity, drawdown as the engine saw it,
position, fees, funding) and the emergencies file (F9 and emergency closes are trades
too) - and buy-and-hold is ``benchmark.buy_and_hold`` over the session's own journaled
candles, so "the same candles" is literal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from ..journal import read_emergencies, read_steps
from ..metrics import RunningMetrics
from ..time_utils import interval_ms
from .benchmark import BuyAndHold, buy_and_hold, run_funding
from .sessions import SessionInfo

SERIES = ("open_ms", "close", "equity", "drawdown", "position")


@dataclass(frozen=True)
class Trade:
    """One execution: a model order on a candle, or the close orders of an emergency / F9."""

    time: str  # ISO UTC: the candle's open time (model orders) or when the emergency ran
    candle_open_ms: int | None  # None for an emergency's closes
    source: str  # "model" or the emergency trigger ("operator_flatten", "max_drawdown", ...)
    side: str  # BUY / SELL
    quantity: str  # signed, as journaled
    price: str
    fee: float
    realized_pnl: float
    status: str


@dataclass(frozen=True)
class SessionReport:
    session: SessionInfo
    symbol: str
    interval: str
    open_ms: tuple[int, ...]  # candle open times, one per journaled row
    close: tuple[float, ...]
    equity: tuple[float, ...]
    drawdown: tuple[float, ...]  # as the engine measured it (against the session's peak, ticks included)
    position: tuple[float, ...]  # signed quantity after each row
    trades: tuple[Trade, ...]
    fees: float  # model orders and emergency closes
    funding: float  # settled on the position (negative: paid)
    total_return: float
    sharpe: float
    max_drawdown: float
    benchmark: BuyAndHold | None
    benchmark_note: str = ""  # why there is no benchmark

    def figures(self) -> list[tuple[str, str, str]]:
        """(figure, session, buy-and-hold) rows for tables."""
        bh = self.benchmark

        def other(value: str) -> str:
            return value if bh is not None else "-"

        return [
            ("return", f"{self.total_return:+.2%}", other(f"{bh.total_return:+.2%}" if bh else "")),
            ("Sharpe (annualised)", f"{self.sharpe:.2f}", other(f"{bh.sharpe:.2f}" if bh else "")),
            ("max drawdown", f"{self.max_drawdown:.2%}", other(f"{bh.max_drawdown:.2%}" if bh else "")),
            ("trades", f"{self.session.trades}", other("1")),
            ("fees (USDT)", f"{self.fees:.4f}", other(f"{bh.fees:.4f}" if bh else "")),
            ("funding (USDT)", f"{self.funding:+.4f}", other("included" if bh and bh.funding else "none")),
        ]

    def summary_line(self) -> str:
        bh = f"buy-and-hold {self.benchmark.describe()}" if self.benchmark else f"no buy-and-hold: {self.benchmark_note}"
        return (f"return {self.total_return:+.2%}  sharpe {self.sharpe:.2f}  max drawdown {self.max_drawdown:.2%}  "
                f"({bh})")


def _trades(rows: list[dict], emergencies: list[dict]) -> list[Trade]:
    from ..time_utils import iso_ms

    trades = [
        Trade(iso_ms(int(r["candle_open_time"])), int(r["candle_open_time"]), "model", r["order_side"],
              r["order_qty"], r["order_avg_price"], float(r["order_fee"] or 0), float(r["fill_realized_pnl"] or 0),
              r["order_status"])
        for r in rows if r["order_qty"] not in ("0", "")
    ]
    for e in emergencies:
        qty = Decimal(e.get("closed_qty") or "0")
        if qty == 0:
            continue  # a second row of the same emergency with nothing new, or nothing closed
        trades.append(Trade(e["time"], None, e["trigger"], "BUY" if qty > 0 else "SELL", str(qty),
                            e.get("close_avg_price") or "", float(e.get("fees") or 0),
                            float(e.get("realized_pnl") or 0), "flat" if e.get("flat") == "true" else "NOT FLAT"))
    return sorted(trades, key=lambda t: t.time)


def session_frame(rows: list[dict]) -> pd.DataFrame:
    """The session's journaled candles as a candle frame (``open_time, open, high, low, close, volume``)."""
    return pd.DataFrame({
        "open_time": [int(r["candle_open_time"]) for r in rows],
        **{c: [float(r[c]) for r in rows] for c in ("open", "high", "low", "close", "volume")},
    })


def build_report(run, session: SessionInfo, funding: pd.DataFrame | None = None) -> SessionReport:
    """The report of ``session`` of ``run`` (``funding``: rates for buy-and-hold, default the run's file)."""
    rows = read_steps(session.steps_path)
    emergencies = read_emergencies(session.emergencies_path)
    metrics = RunningMetrics()
    metrics.update(session.start_equity)
    for r in rows:
        metrics.update(float(r["equity"]))
    benchmark, note = None, ""
    candles = session_frame(rows)
    if len(candles) < 2:
        note = "the session journaled fewer than two candles"
    elif candles["open_time"].diff().iloc[1:].ne(interval_ms(run.interval)).any():
        note = "the journaled candles are not contiguous"
    else:
        benchmark = buy_and_hold(run, candles, 0, None, run_funding(run) if funding is None else funding)
    trades = _trades(rows, emergencies)
    sharpe = metrics.sharpe(run.interval)
    return SessionReport(
        session=session, symbol=run.symbol, interval=run.interval,
        open_ms=tuple(int(r["candle_open_time"]) for r in rows), close=tuple(float(r["close"]) for r in rows),
        equity=tuple(float(r["equity"]) for r in rows),
        drawdown=tuple(float(r["drawdown"]) if not math.isnan(float(r["drawdown"])) else 0.0 for r in rows),
        position=tuple(float(r["position_qty"]) for r in rows), trades=tuple(trades),
        fees=sum(t.fee for t in trades), funding=session.funding, total_return=session.pnl_fraction,
        sharpe=sharpe, max_drawdown=session.max_drawdown, benchmark=benchmark, benchmark_note=note,
    )
