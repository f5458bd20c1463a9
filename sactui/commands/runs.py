"""``sactui runs``: list the training runs. Pickle-free by construction: metadata, checksums, numbers.

The model of a run is the checkpoint its trainer *selected* (the best validation return,
evaluated every few thousand steps), not the last step trained: the listing shows both,
so "100,000 steps" is never read as the model's age when the model is step 5,000.
"""

from __future__ import annotations

from trader_core.errors import SactuiError

from ..arguments import Parser, add_common, runs_dir, say

NAME = "runs"
HELP = "list the training runs: data range, window, the checkpoint in use, held-out metrics"


def parser() -> Parser:
    p = Parser(prog="sactui runs", description="List training runs and their key metadata (never unpickles).")
    add_common(p)
    return p


def checkpoint_text(metadata: dict) -> str:
    """``5,000 of 100,000``: the selected checkpoint's step and the steps trained."""
    training = metadata.get("training") or {}
    trained = training.get("timesteps")
    selected = (training.get("checkpoint") or {}).get("selected_step")
    if selected is None:
        return f"{trained:,} (last)" if isinstance(trained, int) else "-"
    return f"{selected:,} of {trained:,}" if isinstance(trained, int) else f"{selected:,}"


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.errors import PickleOnlyRunError
    from trader_core.runs import TrainingRun, run_ids

    folder = runs_dir(args)
    ids = run_ids(folder)
    if not ids:
        say(f"no runs in {folder}/ (train one with 'sactui train --data FILE')")
        return 0
    say(f"{'train id':<66} {'symbol':<8} {'int':<4} {'win':>4} {'model: step of trained':>22} {'test ret':>9} "
        f"{'sharpe':>7} {'max dd':>7}")
    for train_id in ids:
        try:  # never trusted here: listing runs must not unpickle anything
            training_run = TrainingRun.load(train_id, folder, trust_pickle=False)
            s = training_run.summary()
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
            f"{checkpoint_text(training_run.metadata):>22} {ret:>9} {sharpe:>7} {dd:>7}"
        )
        say(f"    data {s['data']}")
    return 0
