"""The ``sactui`` console script never unpickles a run it was not told to trust.

Real subprocesses, a really trained run, payloads that create a marker file when
unpickled; the metadata records their true sha256, as an attacker editing the folder
would make it.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trader_core.candles import load_candles, sha256_file
from trader_core.runs import METADATA_FILE

SACTUI = str(Path(sys.executable).parent / "sactui")
SESSION_FOLDERS = ("simulacion", "produccion", "backtest")


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture()
def clean_run(tiny_run_copy):
    """A private copy of the tiny run without session folders (other tests journal into the shared original)."""
    runs_dir, train_id = tiny_run_copy
    for folder in SESSION_FOLDERS:
        shutil.rmtree(runs_dir / train_id / folder, ignore_errors=True)
    return runs_dir, train_id


def sactui(*args):
    return subprocess.run([SACTUI, *args], capture_output=True, text=True, timeout=300)


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("sactui: error: "), lines[0]
    return lines[0]


def edit_metadata(run_dir, change):
    path = run_dir / METADATA_FILE
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def plant_scaler_pickle(run_dir, marker, drop_numbers: bool):
    (run_dir / "scaler_train.pkl").write_bytes(pickle.dumps(Payload(marker)))

    def change(data):
        data["scaler"]["sha256"] = sha256_file(run_dir / "scaler_train.pkl")
        if drop_numbers:
            del data["scaler"]["mean"], data["scaler"]["scale"]

    edit_metadata(run_dir, change)


@pytest.fixture(scope="module")
def short_candles(tmp_path_factory, candles_1h_path):
    """Enough real candles for the tiny run's history plus a few hundred decisions."""
    path = tmp_path_factory.mktemp("candles") / "short.csv"
    frame = load_candles(candles_1h_path).iloc[1400:2100]
    frame.to_csv(path, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])
    return path


@pytest.mark.parametrize("drop_numbers", [False, True], ids=["with-numbers", "pickle-only"])
def test_sactui_runs_never_unpickles(clean_run, tmp_path, drop_numbers):
    runs_dir, train_id = clean_run
    marker = tmp_path / "pwned"
    plant_scaler_pickle(runs_dir / train_id, marker, drop_numbers)
    result = sactui("runs", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    row = next(line for line in result.stdout.splitlines() if line.startswith(train_id))
    if drop_numbers:
        assert "NEEDS --trust-run" in row
    else:
        assert "BTCUSDT" in row and "INVALID" not in row and "NEEDS" not in row


def test_replay_of_a_run_with_a_malicious_pickle_and_its_numbers_runs_no_code(clean_run, tmp_path, short_candles):
    """Loading the run and the agent in a real process: the numbers are used, the pickle is not."""
    runs_dir, train_id = clean_run
    marker = tmp_path / "pwned"
    plant_scaler_pickle(runs_dir / train_id, marker, drop_numbers=False)
    result = sactui("replay", "--train-id", train_id, "--data", str(short_candles), "--quiet",
                    "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert "steps " in result.stdout
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ("--train-id", "{id}", "--sim", "--headless", "--max-candles", "3", "--data", "{data}"),
        ("backtest", "--train-id", "{id}", "--data", "{data}", "--quiet"),
        ("replay", "--train-id", "{id}", "--data", "{data}", "--quiet"),
        ("features", "--train-id", "{id}", "--data", "{data}", "--out", "{out}"),
    ],
    ids=["session", "backtest", "replay", "features"],
)
def test_pickle_only_run_is_refused_in_one_line_with_exit_4(clean_run, tmp_path, short_candles, command):
    runs_dir, train_id = clean_run
    marker = tmp_path / "pwned"
    plant_scaler_pickle(runs_dir / train_id, marker, drop_numbers=True)
    out = tmp_path / "features.csv"
    args = [a.format(id=train_id, data=short_candles, out=out) for a in command]
    result = sactui(*args, "--runs-dir", str(runs_dir))
    assert result.returncode == 4, result.stderr
    line = one_line(result)
    assert "--trust-run" in line and "only as a pickle" in line
    assert not marker.exists()
    assert not out.exists()
    assert not any((runs_dir / train_id / folder).exists() for folder in SESSION_FOLDERS)  # no journal


@pytest.mark.parametrize(
    "command, expect",
    [
        (("replay", "--train-id", "{id}", "--data", "{data}", "--quiet"), "steps "),
        (("backtest", "--train-id", "{id}", "--data", "{data}", "--quiet"), "journal: "),
        (("features", "--train-id", "{id}", "--data", "{data}", "--out", "{out}"), "wrote "),
    ],
    ids=["replay", "backtest", "features"],
)
def test_pickle_only_run_loads_with_trust_run(clean_run, tmp_path, short_candles, command, expect):
    """Our own run, written before the numbers were recorded: --trust-run unpickles its scaler."""
    runs_dir, train_id = clean_run
    edit_metadata(runs_dir / train_id, lambda d: (d["scaler"].pop("mean"), d["scaler"].pop("scale")))
    out = tmp_path / "features.csv"
    args = [a.format(id=train_id, data=short_candles, out=out) for a in command]
    result = sactui(*args, "--trust-run", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout
