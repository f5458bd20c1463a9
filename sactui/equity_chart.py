"""Equity curves as a plain-text chart for the terminal (plotext), readable without colour.

Why text: walk-forward and sweeps run on servers over SSH, where the operator reads
the result in the terminal that launched it. Strategies are told apart by their
marker and the legend, never by colour alone; the ANSI codes plotext adds are
stripped so the chart survives a log file.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MARKERS = {"agent": "*", "buy_and_hold": "+", "flat": "."}
LABELS = {"agent": "agent", "buy_and_hold": "buy-and-hold", "flat": "flat"}


def equity_chart(frame, title: str, width: int = 100, height: int = 20) -> str:
    """``frame``: columns ``close_time`` (ISO), ``fold`` and one per strategy; fold edges are drawn."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    x = list(range(len(frame)))
    for name, marker in MARKERS.items():
        if name in frame:
            plt.plot(x, [float(v) for v in frame[name]], marker=marker, label=LABELS[name])
    edges = [i for i in range(1, len(frame)) if frame["fold"].iloc[i] != frame["fold"].iloc[i - 1]]
    for edge in edges:
        plt.vline(edge)
    ticks = [0] + edges + [len(frame) - 1]
    plt.xticks(ticks, [str(frame["close_time"].iloc[i])[:10] for i in ticks])
    plt.title(title)
    return _ANSI.sub("", plt.build()).rstrip()
