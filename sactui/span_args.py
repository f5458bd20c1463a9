"""``--start`` / ``--end`` for the commands that decide on a file's candles (backtest, replay).

Why shared: both name the *decision* candles the same way (open time, UTC, ``--end``
exclusive), take the warm-up from the candles before ``--start``, and warn the same way
when the candles are inside the run's training split.
"""

from __future__ import annotations

import argparse
import sys

from trader_core.time_utils import parse_date_ms


def add_span(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", metavar="DATE",
                        help="first candle to decide on, by open time: YYYY-MM-DD or ISO (UTC; the warm-up comes from "
                             "the candles before it; default: the first candle after the warm-up)")
    parser.add_argument("--end", metavar="DATE",
                        help="decide on candles opening before this, YYYY-MM-DD or ISO (UTC, exclusive; "
                             "default: the file's end)")


def span_ms(args: argparse.Namespace) -> tuple[int | None, int | None]:
    start = parse_date_ms(args.start) if args.start else None
    end = parse_date_ms(args.end) if args.end else None
    return start, end


def select(run, frame, args: argparse.Namespace):
    """The candles to feed (warm-up + decisions); warns on stderr when the decisions are in-sample."""
    from trader_core.review.span import decision_span, in_sample_warning

    start, end = span_ms(args)
    chosen = decision_span(frame, run.history_needed, start, end)
    warning = in_sample_warning(run, chosen["open_time"].iloc[run.history_needed:])
    if warning:
        print(f"sactui: warning: {warning}", file=sys.stderr, flush=True)
    return chosen
