"""``sactui watch``: the watchdog, in a process of its own, alerting through ``[alerts]``.

Run it beside the sessions (a systemd unit: ``deploy/``). It reads only the files a
session writes atomically, so it still speaks after a kill -9 or an out-of-memory kill.
SIGINT/SIGTERM stop it (pending alerts get a last short chance to go out).
"""

from __future__ import annotations

import signal
import threading

from trader_core.errors import UnknownRunError

from ..arguments import Parser, add_common, positive_float, runs_dir, say, settings

NAME = "watch"
HELP = "the watchdog: alerts when a session's heartbeat goes stale, it dies, halts or latches"


def run(argv: list[str]) -> int:
    p = Parser(prog="sactui watch", description="Watch sessions from outside their process and alert.")
    p.add_argument("--train-id", action="append", required=True, help="a run to watch (repeatable)")
    p.add_argument("--stale-seconds", type=positive_float, help="default: [watch] stale_seconds")
    p.add_argument("--poll-seconds", type=positive_float, help="default: [watch] poll_seconds")
    p.add_argument("--once", action="store_true", help="look once, alert, and exit with the status code")
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.monitoring.dispatcher import AlertDispatcher
    from trader_core.monitoring.status import run_folders
    from trader_core.monitoring.targets import build_targets
    from trader_core.monitoring.watchdog import Watchdog

    folder = runs_dir(args)
    operator = settings(args)
    for train_id in args.train_id:
        if not (folder / train_id).is_dir():
            raise UnknownRunError(f"unknown train id {train_id!r} in {folder}/; see 'sactui runs'")
    stale = args.stale_seconds or operator.watch.stale_seconds
    poll = args.poll_seconds or operator.watch.poll_seconds
    alerts = operator.alerts
    targets, redactor = build_targets(alerts.urls)
    dispatcher = AlertDispatcher(targets, redactor, repeat_s=alerts.repeat_seconds,
                                 retry_max_s=alerts.retry_max_seconds,
                                 on_problem=lambda line: say(f"WARNING   alerts: {line}")).start()
    # the folders to watch: each run's sim and production folders (created when a session first runs)
    from trader_core.modes import LATCHING_FOLDERS

    pairs = [(t, folder / t / name) for t in args.train_id for name in LATCHING_FOLDERS]
    known = {str(w) for _, w in run_folders(folder, args.train_id)}
    watchdog = Watchdog(pairs, stale_s=stale, submit=dispatcher.submit, say=say, min_level=alerts.min_level)
    say(f"watching {', '.join(args.train_id)} every {poll:g} s (stale after {stale:g} s); alerts to "
        + (", ".join(t.label for t in targets) if targets else "nowhere: no [alerts] urls, printing only")
        + f"; {len(known)} session folder(s) present")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = 0
    try:
        while True:
            code = watchdog.exit_code(watchdog.poll())
            if args.once or stop.wait(poll):
                break
    finally:
        dispatcher.close(5.0)
    say("watch stopped")
    return code if args.once else 0
