"""A walk-forward as one self-contained HTML page: the chained out-of-sample equity and the folds.

Why plotly, inlined: the same library and choice as the session report
(``sactui/reporting/html.py``) - hovering shows the exact close and equity, zooming
follows one fold inside a year, and the page opens offline with nothing beside it.
Strategies differ by line style as well as colour; fold edges are dotted lines.
"""

from __future__ import annotations

import html
from pathlib import Path

STYLES = {"agent": ("agent", "solid"), "buy_and_hold": ("buy-and-hold", "dash"), "flat": ("flat", "dot")}


def _pct(value) -> str:
    return "-" if value is None else f"{value:+.2%}"


def write_walkforward_html(report: dict, frame, path: Path) -> Path:
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, (label, dash) in STYLES.items():
        figure.add_trace(go.Scatter(x=frame["close_time"], y=frame[name], name=label, mode="lines",
                                    line={"dash": dash}))
    for fold in report["folds"][1:]:
        figure.add_vline(x=fold["test_start"].replace("Z", ""), line_dash="dot", line_width=1)
    figure.update_layout(title="Out-of-sample equity, folds chained (USDT; dotted lines: fold edges)",
                         xaxis_title="candle close (UTC)", yaxis_title="equity", height=520)
    rows = []
    for fold in report["folds"]:
        cells = [str(fold["fold"]), f"{fold['test_start'][:10]} → {fold['test_end'][:10]}",
                 str(fold["checkpoint_step"]), _pct(fold["validation_return"])]
        for name in ("agent", "buy_and_hold"):
            m = fold[name]
            cells += [_pct(m["total_return"]), f"{m['sharpe']:.2f}", f"{m['max_drawdown']:.2%}", f"{m['turnover']:.1f}"]
        cells.append(html.escape(fold["train_id"]))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    overall = report.get("overall") or {}
    summary = ""
    if overall:
        a, b = overall["agent"], overall["buy_and_hold"]
        summary = (f"<p>Chained out of sample: agent {_pct(a['total_return'])} (Sharpe {a['sharpe']:.2f}, max drawdown "
                   f"{a['max_drawdown']:.2%}, turnover {a['turnover']:.1f}, fees {a['fees']:.2f}, funding paid "
                   f"{a['funding']:+.2f}) against buy-and-hold {_pct(b['total_return'])} (Sharpe {b['sharpe']:.2f}, "
                   f"max drawdown {b['max_drawdown']:.2%}) and flat 0.00 %. The agent was ahead of buy-and-hold in "
                   f"{overall['folds_agent_beat_buy_and_hold']} of {overall['folds']} folds.</p>")
    head = ("<tr><th>fold</th><th>test span</th><th>checkpoint</th><th>validation</th><th>agent</th><th>Sharpe</th>"
            "<th>max dd</th><th>turnover</th><th>buy-and-hold</th><th>Sharpe</th><th>max dd</th><th>turnover</th>"
            "<th>run</th></tr>")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(report['walkforward_id'])}</title></head><body style='font-family: sans-serif'>"
        f"<h1>Walk-forward {html.escape(report['walkforward_id'])}</h1>"
        f"<p>{html.escape(str(report['spans']))}; {html.escape(report['selection'])}. The agent runs through the "
        "backtest engine, net of fees and funding; buy-and-hold and flat through the training environment "
        "(same fees, funding, filters).</p>"
        f"{summary}<table border='1' cellspacing='0' cellpadding='3'>{head}{''.join(rows)}</table>"
        + figure.to_html(full_html=False, include_plotlyjs=True)
        + "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
