"""``sactui unlatch``: clear a run's drawdown latch after review, in whichever mode's folder it is."""

from __future__ import annotations

import sys

from trader_core.errors import ConfigError, UnknownRunError

from ..arguments import Parser, add_common, runs_dir, say

NAME = "unlatch"
HELP = "clear the drawdown latch after review (asks you to type the train id)"


def run(argv: list[str]) -> int:
    p = Parser(prog="sactui unlatch", description="Clear the drawdown latch of a run after reviewing what happened.")
    p.add_argument("--train-id", required=True, help="the latched run")
    p.add_argument("--yes", metavar="TRAIN_ID", help="confirm without a prompt by typing the train id (default: asks on the terminal)")
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.latch import clear_latch, read_latch
    from trader_core.modes import LATCHING_FOLDERS
    from trader_core.runs import run_ids

    folder = runs_dir(args)
    if args.train_id not in run_ids(folder):
        raise UnknownRunError(f"unknown train id {args.train_id!r} in {folder}/; see 'sactui runs'")
    run_path = folder / args.train_id
    latched = [(run_path / name, read_latch(run_path / name)) for name in LATCHING_FOLDERS]
    latched = [(where, latch) for where, latch in latched if latch is not None]
    if not latched:
        say(f"run {args.train_id} is not latched ({', '.join(f'{n}/' for n in LATCHING_FOLDERS)}); nothing to do")
        return 0
    for where, latch in latched:
        say(f"latched in {where.name}/: {latch.reason} at {latch.time} (equity {latch.equity}, peak {latch.peak})")
    typed = args.yes
    if typed is None:
        if not sys.stdin.isatty():
            raise ConfigError("unlatch needs confirmation: run it in a terminal, or pass --yes <train id>")
        typed = input(f"type the train id to clear the latch ({args.train_id}): ").strip()
    if typed != args.train_id:
        raise ConfigError("confirmation did not match the train id; the latch stays")
    for where, _latch in latched:
        clear_latch(where)
    say("latch cleared; the next start will trade again")
    return 0
