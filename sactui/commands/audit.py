"""``sactui audit``: did the live session do what the model would have done on the backtest path?

Replays the session's own journaled candles through the backtest engine, each candle from
the state the session was in, and compares action, target exposure and order row by row;
every difference is explained, or reported UNEXPLAINED.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, say, settings

NAME = "audit"
HELP = "replay a session's candles through the backtest path and compare every decision with its journal"


def parser() -> Parser:
    p = Parser(prog="sactui audit",
               description="Compare a session's journal, row by row, with the backtest path over the same candles.")
    p.add_argument("--train-id", required=True, help="the run (see 'sactui runs')")
    p.add_argument("--session", metavar="ID",
                   help="session id from 'sactui sessions' (or its stamp, a unique prefix, 'last'; default: last)")
    p.add_argument("--data", metavar="FILE", action="append", default=[],
                   help="a candle file with the candles before the session (the warm-up history); repeatable "
                        "(default: the run's replay candles and training data, else the session's own first rows)")
    p.add_argument("--out", metavar="FILE", help="write every compared row as CSV (default: none)")
    p.add_argument("--show", type=int, default=20, metavar="N",
                   help="print at most N differing rows (default: %(default)s; 0: none)")
    add_trust_run(p)
    add_common(p)
    return p


def _write_rows(result, path: Path) -> None:
    from trader_core.time_utils import iso_ms

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["candle_open_time", "candle_open_ms", "identical", "same_action", "same_target", "same_order",
                         "live_action", "model_action", "live_order", "model_order", "live_status", "model_status",
                         "live_price", "model_price", "cause", "explanation"])
        for r in result.rows:
            writer.writerow([iso_ms(r.candle_open_ms), r.candle_open_ms, r.identical, r.same_action, r.same_target,
                             r.same_order, repr(r.live_action), repr(r.model_action), r.live_order, r.model_order,
                             r.live_status, r.model_status, r.live_price, r.model_price, r.cause, r.explanation])


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.review.audit import audit_session
    from trader_core.review.sessions import find_session, list_sessions
    from trader_core.runs import TrainingRun

    from ..reporting.text import minute

    folder = runs_dir(args)
    operator = settings(args)
    training_run = TrainingRun.load(args.train_id, folder, trust_pickle=args.trust_run)
    session = find_session(list_sessions(folder, args.train_id, stale_s=operator.watch.stale_seconds), args.session)
    result = asyncio.run(audit_session(training_run, training_run.load_agent(), operator, session,
                                       [Path(p) for p in args.data]))
    say(f"audit of {session.session_id} ({session.mode}, {session.steps:,} rows): the backtest engine over the "
        f"session's own candles, each from the state the session was in")
    say(f"  warm-up: {result.warmup}")
    for note in result.notes:
        say(f"  note: {note}")
    shown = result.differences[: max(0, args.show)]
    if shown:
        say(f"  differences (candle open time, UTC){'; the first ' + str(len(shown)) if len(shown) < len(result.differences) else ''}:")
        for r in shown:
            say(f"    {minute(r.candle_open_ms)}  live {r.live_status} {r.live_order} (action {r.live_action:+.6f})  "
                f"model {r.model_status} {r.model_order} (action {r.model_action:+.6f})  -> {r.cause}: {r.explanation}")
    if args.out:
        _write_rows(result, Path(args.out))
        say(f"  every row: {args.out}")
    say(result.line())
    return 0
