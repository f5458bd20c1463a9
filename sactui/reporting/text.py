"""How review figures are written in words: times, money, the sessions listing, the report's tables.

Why one module: ``sactui sessions``, ``sactui report`` and the HTML file name the same
facts, and an operator comparing them must read them written the same way. Times are UTC;
a candle is named by its open time and labelled so; wall-clock times say "wall".
"""

from __future__ import annotations

from trader_core.review.report import SessionReport
from trader_core.review.sessions import SessionInfo
from trader_core.time_utils import iso_ms


def minute(ms: int | None) -> str:
    """``2024-11-04 01:00`` (UTC) for a candle's open time."""
    return "-" if ms is None else iso_ms(ms)[:16].replace("T", " ")


def wall(iso: str) -> str:
    """``2026-11-30 12:51:22`` from an ISO UTC stamp ("-" when empty)."""
    return iso.replace("T", " ").rstrip("Z") if iso else "-"


def money(value: float, signed: bool = False) -> str:
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def session_lines(s: SessionInfo) -> list[str]:
    """Four lines per session: identity and ending, candles, money, files."""
    ended = f"ended {wall(s.ended_at)}" if s.ended_at else "still running"
    files = f"  journal {s.steps_path}"
    if s.emergencies_path.exists():
        files += f"  emergencies {s.emergencies_path}"
    triggers = f"  emergencies: {', '.join(s.emergencies)}" if s.emergencies else ""
    return [
        f"{s.session_id}  [{s.mode}]  started {wall(s.started_at)} (wall)  {ended}  -> {s.ending}",
        f"  candles {minute(s.first_candle_ms)} -> {minute(s.last_candle_ms)} (open times)  steps {s.steps:,}  "
        f"trades {s.trades:,}{triggers}",
        f"  PnL {money(s.pnl, True)} ({s.pnl_fraction:+.2%}; equity {money(s.start_equity)} -> {money(s.end_equity)})  "
        f"fees {s.fees:,.4f}  funding {s.funding:+,.4f}  max drawdown {s.max_drawdown:.2%}",
        files,
    ]


def figures_table(report: SessionReport) -> list[str]:
    rows = [("", "session", "buy-and-hold"), *report.figures()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"  {a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]


def benchmark_line(report: SessionReport) -> str:
    bh = report.benchmark
    if bh is None:
        return f"buy-and-hold: not computed ({report.benchmark_note})"
    return f"buy-and-hold {bh.describe()}, {bh.span()}"


def trade_lines(report: SessionReport, limit: int | None = None) -> list[str]:
    trades = report.trades if limit is None else report.trades[-limit:]
    lines = [f"  {'time (UTC)':<16} {'source':<16} {'side':<4} {'qty':>9} {'price':>10} "
             f"{'fee':>9} {'realised':>9} status   (model: candle open time; emergency/F9: when it ran)"]
    for t in trades:
        when = t.time[:16].replace("T", " ")
        lines.append(f"  {when:<16} {t.source:<16} {t.side:<4} {t.quantity.lstrip('-'):>9} {t.price or '-':>10} "
                     f"{t.fee:>9.4f} {t.realized_pnl:>+9.2f} {t.status}")
    return lines
