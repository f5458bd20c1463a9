"""``sactui runs``: list the training runs. Pickle-free by construction: metadata, checksums, numbers."""

from __future__ import annotations

from trader_core.errors import SactuiError

from ..arguments import Parser, add_common, runs_dir, say

NAME = "runs"
HELP = "list the training runs with their data range, window and held-out metrics"


def run(argv: list[str]) -> int:
    p = Parser(prog="sactui runs", description="List training runs and their key metadata.")
    add_common(p)
    args = p.parse_args(argv)
    from trader_core.errors import PickleOnlyRunError
    from trader_core.runs import TrainingRun, run_ids

    folder = runs_dir(args)
    ids = run_ids(folder)
    if not ids:
        say(f"no runs in {folder}/ (train one with 'sactui train --data FILE')")
        return 0
    say(f"{'train id':<66} {'symbol':<8} {'int':<4} {'win':>4} {'steps':>7} {'test ret':>9} {'sharpe':>7} {'max dd':>7}")
    for train_id in ids:
        try:  # never trusted here: listing runs must not unpickle anything
            s = TrainingRun.load(train_id, folder, trust_pickle=False).summary()
        except PickleOnlyRunError as exc:
            say(f"{train_id:<66} NEEDS --trust-run: {exc}")
            continue
        except SactuiError as exc:
            say(f"{train_id:<66} INVALID: {exc}")
            continue
        ret = "-" if s["test_return"] is None else f"{s['test_return']:+.2%}"
        sharpe = "-" if s["test_sharpe"] is None else f"{s['test_sharpe']:.2f}"
        dd = "-" if s["test_max_drawdown"] is None else f"{s['test_max_drawdown']:.2%}"
        say(
            f"{train_id:<66} {s['symbol']:<8} {s['interval']:<4} {s['window']:>4} "
            f"{s['timesteps'] or '-':>7} {ret:>9} {sharpe:>7} {dd:>7}"
        )
        say(f"    data {s['data']}")
    return 0
