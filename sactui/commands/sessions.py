"""``sactui sessions``: every session of a run across modes - what it did and how it ended.

Read from the files sessions leave (journals, emergencies, ``session.json``,
``sessions.jsonl``), so it answers the same about a session that ended a month ago, one
that crashed and one still running.
"""

from __future__ import annotations

import json

from ..arguments import Parser, add_common, runs_dir, say, settings

NAME = "sessions"
HELP = "every session of a run (sim, testnet, live, backtest): steps, trades, PnL, fees, drawdown, how it ended"


def parser() -> Parser:
    p = Parser(prog="sactui sessions",
               description="List every session of a run across modes, oldest first, with how each ended.")
    p.add_argument("--train-id", required=True, help="the run whose sessions to list (see 'sactui runs')")
    p.add_argument("--mode", choices=("sim", "testnet", "live", "backtest"),
                   help="only sessions of this mode (default: every mode)")
    p.add_argument("--last", type=int, metavar="N", help="only the N most recent sessions (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout instead of text")
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.review.sessions import list_sessions

    from ..reporting.text import session_lines

    folder = runs_dir(args)
    found = list_sessions(folder, args.train_id, stale_s=settings(args).watch.stale_seconds)
    if args.mode:
        found = [s for s in found if s.mode == args.mode]
    if args.last is not None:
        found = found[-args.last:] if args.last > 0 else []
    if args.json:
        print(json.dumps({"train_id": args.train_id, "sessions": [s.as_dict() for s in found]}, indent=2))
        return 0
    if not found:
        say(f"no sessions of {args.train_id}" + (f" in {args.mode} mode" if args.mode else "")
            + f" under {folder / args.train_id}/ (journals appear with their first row)")
        return 0
    say(f"{len(found)} session(s) of {args.train_id}, oldest first; times UTC "
        "(candles by their open time, sessions by the wall clock)")
    for info in found:
        say("")
        for line in session_lines(info):
            say(line)
    return 0
