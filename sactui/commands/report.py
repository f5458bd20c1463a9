"""``sactui report``: one session's equity, drawdown, position, trades, fees and funding against
buy-and-hold over the same candles - in the terminal (plotext) and as one HTML file (plotly)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, say, settings

NAME = "report"
HELP = "a session's equity, drawdown and position plots, trades and costs vs buy-and-hold (terminal, --html)"


def parser() -> Parser:
    p = Parser(prog="sactui report",
               description="Report one session: figures against buy-and-hold over its own candles, plots, trades.")
    p.add_argument("--train-id", required=True, help="the run (see 'sactui runs')")
    p.add_argument("--session", metavar="ID",
                   help="session id from 'sactui sessions' (or its stamp, a unique prefix, 'last'; default: last)")
    p.add_argument("--html", nargs="?", const="", metavar="FILE",
                   help="also write a self-contained HTML report (opens offline); without FILE: "
                        "report_<session>.html beside the session's journal (default: no HTML)")
    p.add_argument("--no-plots", action="store_true", help="figures and trades only, no terminal plots")
    p.add_argument("--width", type=int, default=None,
                   help="width of the terminal plots in columns (default: the terminal's, 60 to 160)")
    p.add_argument("--trades", type=int, default=20, help="how many of the last trades to list (default: %(default)s)")
    add_trust_run(p)
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.review.report import build_report
    from trader_core.review.sessions import find_session, list_sessions
    from trader_core.runs import TrainingRun

    from ..reporting import terminal

    folder = runs_dir(args)
    training_run = TrainingRun.load(args.train_id, folder, trust_pickle=args.trust_run)
    session = find_session(list_sessions(folder, args.train_id, stale_s=settings(args).watch.stale_seconds),
                           args.session)
    report = build_report(training_run, session)
    width = args.width or max(60, min(160, shutil.get_terminal_size((100, 40)).columns - 2))
    say(terminal.render(report, plots=not args.no_plots, width=width, trades=max(0, args.trades)))
    if args.html is not None:
        from ..reporting import html

        target = Path(args.html) if args.html else session.folder / f"report_{session.session_id}.html"
        html.write(report, target)
        say(f"HTML report: {target} (self-contained: opens offline)")
    return 0
