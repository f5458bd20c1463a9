"""The session report in the terminal: figures, then equity, drawdown and position drawn with plotext.

Why plotext: the console already draws its candles with it (through textual-plotext), so
the report needs nothing new and reads the same over SSH. The x axis is the candle index
with a few open-time labels (dates as x are slower and crowd the axis). Colour is dropped
when the output is not a terminal, so a report piped to a file is plain text.
"""

from __future__ import annotations

import re
import sys

import plotext as plt

from trader_core.review.report import SessionReport

from .text import benchmark_line, figures_table, minute, session_lines, trade_lines

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ticks(report: SessionReport, width: int) -> tuple[list[int], list[str]]:
    n = len(report.open_ms)
    count = max(2, min(6, width // 24))
    step = max(1, (n - 1) // (count - 1)) if n > 1 else 1
    positions = list(range(0, n, step))
    return positions, [minute(report.open_ms[i]) for i in positions]


def _chart(report: SessionReport, title: str, series: list[tuple[str, list[float]]], width: int, height: int,
           ylabel: str) -> str:
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    xs = list(range(len(report.open_ms)))
    for label, ys in series:
        plt.plot(xs[: len(ys)], ys, label=label)
    positions, labels = _ticks(report, width)
    plt.xticks(positions, labels)
    plt.title(title)
    plt.xlabel("candle open time (UTC)")
    plt.ylabel(ylabel)
    return plt.build()


def charts(report: SessionReport, width: int = 100, height: int = 14) -> list[str]:
    """Equity against buy-and-hold, drawdown, position: one plotext figure each."""
    if len(report.open_ms) < 2:
        return ["(fewer than two candles: nothing to draw)"]
    equity = [("session equity", list(report.equity))]
    if report.benchmark is not None:
        equity.append(("buy-and-hold (same start)", report.benchmark.scaled(report.session.start_equity)))
    return [
        _chart(report, f"Equity (USDT) - {report.session.session_id}", equity, width, height, "USDT"),
        _chart(report, "Drawdown from the session's peak (%)", [("drawdown", [-100 * d for d in report.drawdown])],
               width, max(8, height - 4), "%"),
        _chart(report, f"Position ({report.symbol}, signed)", [("position", list(report.position))], width,
               max(8, height - 4), report.symbol.replace("USDT", "")),
    ]


def render(report: SessionReport, *, plots: bool = True, width: int = 100, trades: int = 20) -> str:
    lines = [*session_lines(report.session), "", f"{report.symbol} {report.interval}; "
             f"figures over the session's {len(report.open_ms):,} journaled candles:", *figures_table(report),
             f"  {benchmark_line(report)}", ""]
    if plots:
        lines += charts(report, width)
    lines += ["", f"trades ({len(report.trades)}{', the last ' + str(trades) if len(report.trades) > trades else ''}):",
              *trade_lines(report, trades)]
    text = "\n".join(lines)
    return text if sys.stdout.isatty() else ANSI.sub("", text)
