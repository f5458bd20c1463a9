"""The bundled demo run (``entrenamientos/demo``) loads without any pickle and backtests.

``make demo`` and the README lead every new operator to this run, so a broken demo
must fail CI. The backtest runs on a temporary copy so the repository is never written.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from trader_core.journal import read_steps
from trader_core.runs import TrainingRun

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "entrenamientos" / "demo"
SACTUI = str(Path(sys.executable).parent / "sactui")


def test_demo_backtest_on_its_bundled_candles(tmp_path):
    runs_dir = tmp_path / "entrenamientos"
    shutil.copytree(DEMO, runs_dir / "demo")
    result = subprocess.run(
        [SACTUI, "backtest", "--train-id", "demo", "--runs-dir", str(runs_dir), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "session statistics:" in result.stdout and "buy-and-hold" in result.stdout
    journal = Path(result.stdout.split("journal: ")[1].split()[0])
    assert journal.is_relative_to(runs_dir / "demo" / "backtest")
    rows = read_steps(journal)
    run = TrainingRun.load("demo", runs_dir)
    replay_rows = run.metadata["replay"]["rows"]
    # one row per closed candle after the warm-up history, all in backtest mode
    assert len(rows) >= replay_rows - run.metadata["replay"]["history_rows"] - 1
    assert {row["mode"] for row in rows} == {"backtest"}
    assert rows[0]["state"] == "RUNNING"


def test_demo_loads_and_acts_without_its_pickle(tmp_path):
    """The demo's scaler numbers in the metadata are its pickled scaler's, bit for bit, and
    nothing needs the pickle: the run and its actor load from a copy without it."""
    runs_dir = tmp_path / "entrenamientos"
    shutil.copytree(DEMO, runs_dir / "demo")
    (runs_dir / "demo" / "scaler_train.pkl").unlink()
    run = TrainingRun.load("demo", runs_dir)
    agent = run.load_agent()
    assert agent.observation_shape == (run.layout.size,) == (333,)
    with open(DEMO / "scaler_train.pkl", "rb") as fh:  # we created the demo run ourselves
        fitted = pickle.load(fh)
    assert np.array_equal(run.scaler.mean, fitted.mean_) and np.array_equal(run.scaler.scale, fitted.scale_)
    shipped = TrainingRun.load("demo", REPO / "entrenamientos")  # every checksum as shipped
    assert shipped.metadata["scaler"]["sha256"] == run.metadata["scaler"]["sha256"]


def test_make_demo_shows_a_position_within_its_first_minute(tmp_path):
    """Issue 13: a new operator must see the position pane and F9 do something. ``make demo``
    replays the bundled candles at the Makefile's ``--speed``; the same session, faster, must
    open a position early enough that at that speed it comes within the first minute."""
    import re

    speed = float(re.search(r"sactui --train-id demo --sim --speed (\d+)", (REPO / "Makefile").read_text()).group(1))
    runs_dir = tmp_path / "entrenamientos"
    shutil.copytree(DEMO, runs_dir / "demo")
    result = subprocess.run(
        [SACTUI, "--train-id", "demo", "--runs-dir", str(runs_dir), "--sim", "--headless", "--speed", "36000",
         "--max-candles", "100", "--quiet"], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_steps(Path(result.stdout.split("journal: ")[1].split()[0]))
    held = [i for i, row in enumerate(rows) if row["position_qty"] not in ("0", "")]
    assert held, "the demo never held a position in its first 100 candles"
    seconds_in = (held[0] + 1) * 3600 / speed  # 1h candles at make demo's speed
    assert seconds_in < 50, f"the first position comes {seconds_in:.0f} s into make demo"


def test_runs_shows_the_checkpoint_the_demo_really_uses(tmp_path):
    """Issue 13: the demo was trained 100,000 steps but its model is the checkpoint validation chose;
    ``sactui runs`` says which, so nobody mistakes the model for the last step."""
    import yaml

    runs_dir = tmp_path / "entrenamientos"
    shutil.copytree(DEMO, runs_dir / "demo")
    training = yaml.safe_load((DEMO / "config_metadata.yaml").read_text())["training"]
    selected, trained = training["checkpoint"]["selected_step"], training["timesteps"]
    assert selected < trained
    result = subprocess.run([SACTUI, "runs", "--runs-dir", str(runs_dir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("demo ")]
    assert f"{selected:,} of {trained:,}" in line, result.stdout
    assert "model: step of trained" in result.stdout
