"""``sactui sweep`` on a real local Ray: a 2x2 grid of real SAC trainings on real candles.

Ray Tune is the optional ``[sweep]`` extra. ``make test`` installs it (the ``sweep``
target); without it these tests fail and say what to install - never a silent skip.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import CANDLES_1H, real_candle_file
from trader_core.runs import TrainingRun
from trader_core.training.sweep import RAY_MISSING, select_best

SACTUI = str(Path(sys.executable).parent / "sactui")


def _sactui(*args, python_prelude: str | None = None):
    if python_prelude is None:
        command = [SACTUI, *args]
    else:
        command = [sys.executable, "-c", python_prelude + "\nfrom sactui.main import main\nraise SystemExit(main())",
                   *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        pytest.fail("the sweep tests need Ray Tune, the [sweep] extra: pip install -e '.[sweep]' (make test does)")
    runs_dir = tmp_path_factory.mktemp("sweep") / "runs"
    result = _sactui(
        "sweep", "--data", str(real_candle_file(CANDLES_1H)), "--start", "2024-03-01", "--end", "2024-06-01",
        "--lr", "3e-4,1e-3", "--batch-size", "32,64", "--window", "8", "--timesteps", "300", "--eval-every", "100",
        "--cpus-per-trial", "1", "--runs-dir", str(runs_dir),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_id = result.stdout.split("sweep id: ")[1].split()[0]
    return runs_dir, sweep_id, yaml.safe_load((runs_dir / sweep_id / "sweep.yaml").read_text()), result.stdout


def test_every_trial_is_a_normal_run_named_by_the_convention(sweep):
    runs_dir, sweep_id, report, _ = sweep
    assert sweep_id.startswith("sweep_BTCUSDT_20240301_20240531_")
    trials = report["trials"]
    assert [(t["learning_rate"], t["batch_size"], t["window_size"], t["seed"]) for t in trials] == [
        (3e-4, 32, 8, 0), (3e-4, 64, 8, 0), (1e-3, 32, 8, 0), (1e-3, 64, 8, 0)]
    assert {t["status"] for t in trials} == {"done"}
    for t in trials:
        lr = "3e-4" if t["learning_rate"] == 3e-4 else "1e-3"
        assert re.match(rf"^train_BTCUSDT_20240301_20240531_lr{lr}_bs{t['batch_size']}_ws8_\d{{8}}_\d{{6}}$",
                        t["train_id"])
        run = TrainingRun.load(t["train_id"], runs_dir)  # strict loading, no pickle
        assert run.metadata["group"] == {"kind": "sweep", "id": sweep_id, "trial": t["trial"]}
        training = run.metadata["training"]
        assert (training["learning_rate"], training["batch_size"], training["timesteps"]) == (
            t["learning_rate"], t["batch_size"], 300)
        # the figures reported to Tune are the run's own
        assert t["validation_return"] == training["checkpoint"]["validation_return"]
        assert t["test_return"] == run.metadata["evaluation"]["agent"]["total_return"]
    assert len({t["train_id"] for t in trials}) == 4


def test_the_best_trial_is_the_highest_validation_return_and_is_named(sweep):
    runs_dir, _, report, out = sweep
    returns = {t["trial"]: TrainingRun.load(t["train_id"], runs_dir).metadata["training"]["checkpoint"][
        "validation_return"] for t in report["trials"]}
    best = max(sorted(returns), key=lambda k: returns[k])  # the earlier trial on a tie
    assert report["best"]["trial"] == best
    best_id = report["trials"][best - 1]["train_id"]
    assert report["best"]["train_id"] == best_id
    assert f"best (highest validation return): trial {best}, run {best_id}" in out
    assert re.search(rf"^> +{best} ", out, re.M)  # marked in the results table


def test_progress_is_a_line_per_finished_trial_and_tunes_own_tables_are_silent(sweep):
    _, _, _, out = sweep
    assert "4 trials on a local Ray" in out
    assert sorted(re.findall(r"^\[(\d)/4\] trial \d ", out, re.M)) == ["1", "2", "3", "4"]
    assert "Configuration for experiment" not in out and "Trial status" not in out


def test_runs_lists_the_sweep_as_a_group(sweep):
    runs_dir, sweep_id, report, _ = sweep
    result = _sactui("runs", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert f"sweep {sweep_id}: 4 trials, complete" in result.stdout
    assert f"best by validation return: trial {report['best']['trial']} {report['best']['train_id']}" in result.stdout
    for t in report["trials"]:
        assert f"(trial {t['trial']})" in result.stdout


def test_selection_never_reads_the_test_figures():
    """Test figures that rank the trials the other way round change nothing."""
    trials = [
        {"trial": 1, "status": "done", "validation_return": 0.01, "test_return": 0.30, "train_id": "a"},
        {"trial": 2, "status": "done", "validation_return": 0.05, "test_return": -0.20, "train_id": "b"},
        {"trial": 3, "status": "done", "validation_return": 0.05, "test_return": 0.10, "train_id": "c"},
        {"trial": 4, "status": "error", "error": "boom"},
    ]
    assert select_best(trials)["trial"] == 2  # highest validation; the tie goes to the earlier trial
    for t in trials:
        if "test_return" in t:
            t["test_return"] = -t["test_return"] * 7
    assert select_best(trials)["trial"] == 2
    assert select_best([{"trial": 1, "status": "error"}]) is None


def test_without_ray_the_command_says_how_to_install_it(tmp_path):
    """Ray hidden from the import system, as on a machine without the extra: one line, exit 2."""
    hide_ray = (
        "import sys, importlib.abc\n"
        "class NoRay(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "sys.argv[0] = 'sactui'"
    )
    result = _sactui("sweep", "--data", str(real_candle_file(CANDLES_1H)), "--runs-dir", str(tmp_path),
                     python_prelude=hide_ray)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"sactui: error: {RAY_MISSING}"]
    assert "pip install -e '.[sweep]'" in RAY_MISSING
    assert not any(tmp_path.iterdir())  # nothing written
