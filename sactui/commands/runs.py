"""``sactui runs``: list the training runs. Pickle-free by construction: metadata, checksums, numbers.

The model of a run is the checkpoint its trainer *selected* (the best validation return,
evaluated every few thousand steps), not the last step trained: the listing shows both,
so "100,000 steps" is never read as the model's age when the model is step 5,000.

Runs that belong to a walk-forward or a sweep are listed under their group, after the
runs of their own, with the group's out-of-sample or selection figures on top.
"""

from __future__ import annotations

from trader_core.errors import SactuiError

from ..arguments import Parser, add_common, runs_dir, say

NAME = "runs"
HELP = "list the training runs (walk-forwards and sweeps grouped): data range, window, checkpoint, metrics"


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
    from trader_core.training.groups import load_groups

    folder = runs_dir(args)
    ids = run_ids(folder)
    groups = load_groups(folder)
    if not ids and not groups:
        say(f"no runs in {folder}/ (train one with 'sactui train --data FILE')")
        return 0
    members: dict[str, list[list[str]]] = {}
    alone: list[list[str]] = []
    for train_id in ids:
        try:  # never trusted here: listing runs must not unpickle anything
            training_run = TrainingRun.load(train_id, folder, trust_pickle=False)
            s = training_run.summary()
        except PickleOnlyRunError as exc:
            alone.append([f"{train_id:<66} NEEDS --trust-run: {exc}"])
            continue
        except SactuiError as exc:
            alone.append([f"{train_id:<66} INVALID: {exc}"])
            continue
        lines = _run_lines(train_id, s, checkpoint_text(training_run.metadata))
        group = s.get("group") or {}
        (members.setdefault(str(group["id"]), []) if group.get("id") else alone).append(lines)
    say(f"{'train id':<66} {'symbol':<8} {'int':<4} {'win':>4} {'model: step of trained':>22} {'test ret':>9} "
        f"{'sharpe':>7} {'max dd':>7}")
    for lines in alone:
        for line in lines:
            say(line)
    known = {g["id"]: g for g in groups}
    for group_id in sorted(set(known) | set(members)):
        say("")
        for line in group_lines(known.get(group_id), group_id):
            say(line)
        for lines in members.get(group_id, []):
            for line in lines:
                say("  " + line)
    return 0


def _run_lines(train_id: str, s: dict, checkpoint: str) -> list[str]:
    ret = "-" if s["test_return"] is None else f"{s['test_return']:+.2%}"
    sharpe = "-" if s["test_sharpe"] is None else f"{s['test_sharpe']:.2f}"
    dd = "-" if s["test_max_drawdown"] is None else f"{s['test_max_drawdown']:.2%}"
    group = s.get("group") or {}
    tag = ""
    if group.get("kind") == "walkforward":
        tag = f"  (fold {group.get('fold')} of {group.get('folds')})"
    elif group.get("kind") == "sweep":
        tag = f"  (trial {group.get('trial')})"
    return [
        f"{train_id:<66} {s['symbol']:<8} {s['interval']:<4} {s['window']:>4} "
        f"{checkpoint:>22} {ret:>9} {sharpe:>7} {dd:>7}",
        f"    data {s['data']}{tag}",
    ]


def _pct(value) -> str:
    return "-" if value is None else f"{value:+.2%}"


def group_lines(group: dict | None, group_id: str) -> list[str]:
    """The header of a walk-forward or sweep: what it ran and what it found."""
    if group is None:
        return [f"group {group_id}: its folder is missing (the runs below name it)"]
    if "error" in group:
        return [f"{group['kind']} {group_id}: {group['error']}"]
    if group["kind"] == "walkforward":
        spans = group.get("spans") or {}
        lines = [f"walk-forward {group_id}: {spans.get('folds', '?')} folds, train {spans.get('train')} / test "
                 f"{spans.get('test')} / step {spans.get('step')}, {group.get('status', '?')}"]
        overall = group.get("overall")
        if overall:
            agent, hold = overall["agent"], overall["buy_and_hold"]
            lines.append(
                f"  out of sample, folds chained: agent {_pct(agent['total_return'])} (sharpe {agent['sharpe']:.2f}, "
                f"max dd {agent['max_drawdown']:.2%}, turnover {agent['turnover']:.1f}) vs buy-and-hold "
                f"{_pct(hold['total_return'])} and flat 0.00%; agent ahead of buy-and-hold in "
                f"{overall['folds_agent_beat_buy_and_hold']} of {overall['folds']} folds")
        for fold in group.get("folds") or []:
            lines.append(f"  fold {fold['fold']}: test {fold['test_start'][:10]} -> {fold['test_end'][:10]}  agent "
                         f"{_pct(fold['agent']['total_return'])}  buy-and-hold "
                         f"{_pct(fold['buy_and_hold']['total_return'])}  {fold['train_id']}")
        return lines
    trials = group.get("trials") or []
    best = group.get("best")
    lines = [f"sweep {group_id}: {len(trials)} trials, {group.get('status', '?')}"]
    if best:
        lines.append(f"  best by validation return: trial {best['trial']} {best['train_id']} "
                     f"(validation {_pct(best.get('validation_return'))})")
    return lines
