"""The session report as one self-contained HTML file that opens offline.

Why plotly: it is a well-kept, widely used library whose figures are interactive where it
matters here - hovering a point shows the exact candle, equity or fill, zooming follows a
week inside months - and ``include_plotlyjs=True`` writes its JavaScript into the page,
so the file needs no network, no server and nothing else beside it (it is about 5 MB
because of that). Four panels share the time axis (candle open times, UTC): the close
with the trades on it, equity against buy-and-hold from the same start, drawdown from
the session's peak, and the position. Tables above say what the numbers are.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from trader_core.review.report import SessionReport

from .text import benchmark_line, minute, session_lines

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; }
th { text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def figure(report: SessionReport):
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    x = [_dt(ms) for ms in report.open_ms]
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.34, 0.26, 0.2, 0.2],
                        subplot_titles=(f"{report.symbol} close and trades", "Equity (USDT)",
                                        "Drawdown from the session's peak (%)", f"Position ({report.symbol})"))
    fig.add_trace(go.Scatter(x=x, y=list(report.close), name="close", mode="lines", line={"width": 1}), row=1, col=1)
    model = [t for t in report.trades if t.candle_open_ms is not None and t.price]
    for side, symbol, color in (("BUY", "triangle-up", "green"), ("SELL", "triangle-down", "red")):
        picked = [t for t in model if t.side == side]
        if picked:
            fig.add_trace(go.Scatter(
                x=[_dt(t.candle_open_ms) for t in picked], y=[float(t.price) for t in picked], mode="markers",
                name=f"{side} (model)", marker={"symbol": symbol, "size": 9, "color": color},
                text=[f"{t.side} {t.quantity.lstrip('-')} @ {t.price}, fee {t.fee:.4f}" for t in picked],
            ), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=list(report.equity), name="session equity", mode="lines"), row=2, col=1)
    if report.benchmark is not None:
        fig.add_trace(go.Scatter(x=x, y=report.benchmark.scaled(report.session.start_equity),
                                 name="buy-and-hold (same start)", mode="lines", line={"dash": "dot"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=[-100 * d for d in report.drawdown], name="drawdown", mode="lines",
                             fill="tozeroy"), row=3, col=1)
    fig.add_trace(go.Scatter(x=x, y=list(report.position), name="position", mode="lines", line={"shape": "hv"}),
                  row=4, col=1)
    fig.update_xaxes(title_text="candle open time (UTC)", row=4, col=1)
    fig.update_layout(height=1000, hovermode="x unified", margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.06})
    return fig


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i else ''}>{html.escape(str(c))}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def document(report: SessionReport) -> str:
    """The whole page (plotly's JavaScript inlined: it opens offline)."""
    s = report.session
    trades = [(t.time[:16].replace("T", " "), t.source, t.side, t.quantity.lstrip("-"), t.price or "-",
               f"{t.fee:.4f}", f"{t.realized_pnl:+.2f}", t.status) for t in report.trades]
    plot = figure(report).to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    title = f"sactui report - {s.session_id}"
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<pre>{html.escape(chr(10).join(session_lines(s)))}</pre>",
        f"<p>{report.symbol} {report.interval}; {len(report.open_ms):,} journaled candles, "
        f"{minute(s.first_candle_ms)} to {minute(s.last_candle_ms)} (candle open times, UTC). "
        f"{html.escape(benchmark_line(report))}.</p>",
        "<h2>Figures</h2>", _table(report.figures(), ("", "session", "buy-and-hold")),
        "<h2>Curves</h2>", plot,
        f"<h2>Trades ({len(trades)})</h2>",
        _table(trades, ("time (candle open / emergency)", "source", "side", "qty", "price", "fee", "realised", "status")),
        "</body></html>",
    ])


def write(report: SessionReport, path: Path) -> Path:
    """Write the page atomically (a half-written report is never left under the name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(document(report), encoding="utf-8")
    partial.replace(path)
    return path
