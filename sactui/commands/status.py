"""``sactui status``: is each run alive, how is it, and does it need its operator - from files only.

Exit codes are stable so scripts and monitors can use them (the highest over all runs):
0 all well, 10 halted, 11 latched, 12 heartbeat stale, 13 crashed, 14 NOT FLAT
(``trader_core.monitoring.status.StatusCode``).
"""

from __future__ import annotations

import json

from trader_core.errors import UnknownRunError

from ..arguments import Parser, add_common, runs_dir, say, settings

NAME = "status"
HELP = "each run: running or not, state, latch, position, equity, drawdown (exit 0: all well)"


def _line(st) -> list[str]:
    money = "-" if st.equity is None else f"{st.equity:,.2f}"
    dd = "-" if st.drawdown is None else f"{st.drawdown:.2%}"
    pnl = "-" if st.today_pnl is None else f"{st.today_pnl:+,.2f}"
    beat = "-" if st.heartbeat_age_s is None else f"{st.heartbeat_age_s:.0f} s ago"
    alive = f"pid {st.pid} {'alive' if st.pid_alive else 'gone'}" if st.pid else "no pid"
    lines = [
        f"{st.train_id} [{st.folder.rsplit('/', 1)[-1]}/] {st.condition.upper()}  mode {st.mode or '-'}  "
        f"engine {st.engine_state or '-'}  {alive}  heartbeat {beat}",
        f"  last step {st.last_step_time or '-'}  position {st.position_qty or '-'}  equity {money}  "
        f"drawdown {dd}  today {pnl}",
        f"  latched: {'YES - ' + st.latch['reason'] if st.latched else 'no'}",
    ]
    if st.journal:
        lines.append(f"  journal {st.journal}")
    if st.emergencies_journal:
        lines.append(f"  emergencies {st.emergencies_journal}")
    lines += [f"  ! {problem}" for problem in st.problems]
    return lines


def run(argv: list[str]) -> int:
    p = Parser(prog="sactui status", description="The state of each run's sessions, read from their files.")
    p.add_argument("--train-id", action="append", help="a run to report (repeatable; default: every run)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.monitoring.status import StatusCode, inspect_folder, run_folders

    folder = runs_dir(args)
    operator = settings(args)
    for train_id in args.train_id or []:
        if not (folder / train_id).is_dir():
            raise UnknownRunError(f"unknown train id {train_id!r} in {folder}/; see 'sactui runs'")
    statuses = [inspect_folder(train_id, where, stale_s=operator.watch.stale_seconds)
                for train_id, where in run_folders(folder, args.train_id)]
    code = int(max([StatusCode.OK, *(s.code for s in statuses)]))
    if args.json:
        print(json.dumps({"exit_code": code, "runs": [s.as_dict() for s in statuses]}, indent=2, sort_keys=True))
        return code
    if not statuses:
        say(f"no sessions under {folder}/" + (f" for {', '.join(args.train_id)}" if args.train_id else ""))
    for st in statuses:
        for line in _line(st):
            say(line)
    if code:
        say(f"needs the operator (exit {code}: {StatusCode(code).name.lower().replace('_', ' ')})")
    return code
