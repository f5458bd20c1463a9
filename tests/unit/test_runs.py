"""Loading a training run: every failure is refused with its own clear message."""

from __future__ import annotations

import pickle
from datetime import datetime

import numpy as np
import pytest
import yaml

from trader_core.candles import sha256_file
from trader_core.errors import (
    ChecksumError, RunError, RunMismatchError, SchemaVersionError, UnknownRunError,
)
from trader_core.runs import METADATA_FILE, TrainingRun, format_learning_rate, make_train_id


def _edit_metadata(run_dir, change):
    path = run_dir / METADATA_FILE
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _drop_scaler_numbers(data):
    """Make the run look like one written before the scaler numbers were recorded."""
    del data["scaler"]["mean"], data["scaler"]["scale"]


def test_valid_run_loads_with_everything_live_needs(tiny_run):
    assert tiny_run.symbol == "BTCUSDT" and tiny_run.interval == "1h"
    assert tiny_run.window_size == 8
    assert tiny_run.layout.size == 8 * len(tiny_run.features.model_columns) + 3
    assert tiny_run.history_needed == tiny_run.features.settle + 8
    agent = tiny_run.load_agent()
    assert agent.observation_shape == (tiny_run.layout.size,)


def test_unknown_train_id_lists_existing_runs(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    with pytest.raises(UnknownRunError) as err:
        TrainingRun.load("train_nope", runs_dir)
    assert "unknown train id 'train_nope'" in str(err.value)
    assert train_id in str(err.value)


def test_unknown_train_id_with_no_runs_says_how_to_make_one(tmp_path):
    with pytest.raises(UnknownRunError, match="sactui train"):
        TrainingRun.load("x", tmp_path)


def test_missing_model_is_named(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    (runs_dir / train_id / "model.zip").unlink()
    with pytest.raises(RunError, match="model file missing: .*model.zip"):
        TrainingRun.load(train_id, runs_dir)


def test_missing_scaler_is_named_when_the_run_has_no_scaler_numbers(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    _edit_metadata(runs_dir / train_id, _drop_scaler_numbers)
    (runs_dir / train_id / "scaler_train.pkl").unlink()
    for trust in (False, True):
        with pytest.raises(RunError, match="scaler file missing: .*scaler_train.pkl"):
            TrainingRun.load(train_id, runs_dir, trust_pickle=trust)


def test_loading_never_needs_the_scaler_pickle(tiny_run_copy):
    """Training still writes scaler_train.pkl for the operator's tools; loading reads the numbers."""
    runs_dir, train_id = tiny_run_copy
    reference = TrainingRun.load(train_id, runs_dir).scaler
    (runs_dir / train_id / "scaler_train.pkl").unlink()
    run = TrainingRun.load(train_id, runs_dir)
    assert np.array_equal(run.scaler.mean, reference.mean) and np.array_equal(run.scaler.scale, reference.scale)
    assert run.load_agent().observation_shape == (run.layout.size,)


def test_unsupported_schema_version(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    _edit_metadata(runs_dir / train_id, lambda d: d.update(schema_version=99))
    with pytest.raises(SchemaVersionError, match="schema_version 99 is not supported"):
        TrainingRun.load(train_id, runs_dir)


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_tampered_scaler_is_refused_without_unpickling(tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    marker = tmp_path / "pwned"
    (runs_dir / train_id / "scaler_train.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ChecksumError, match="scaler file .* has sha256 .* refusing to load"):
        TrainingRun.load(train_id, runs_dir)
    assert not marker.exists()
    # The same bytes *would* run code if unpickled: the test's payload is real.
    pickle.loads((runs_dir / train_id / "scaler_train.pkl").read_bytes())
    assert marker.exists()


def test_tampered_model_is_refused(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    model = runs_dir / train_id / "model.zip"
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(ChecksumError, match="model file"):
        TrainingRun.load(train_id, runs_dir)


def test_model_swapped_after_load_is_refused_by_load_agent(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    run = TrainingRun.load(train_id, runs_dir)
    model = runs_dir / train_id / "model.zip"
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(ChecksumError):
        run.load_agent()


def test_window_change_breaks_observation_size(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    _edit_metadata(runs_dir / train_id, lambda d: d.update(window_size=9))
    with pytest.raises(RunMismatchError, match="observation size"):
        TrainingRun.load(train_id, runs_dir)


def test_consistent_metadata_that_disagrees_with_the_model_is_refused(tiny_run_copy):
    """Window and observation size edited together pass the metadata checks, but the
    model's own observation space still says what it was trained on."""
    runs_dir, train_id = tiny_run_copy

    def widen(d):
        d["window_size"] = 9
        d["observation"]["size"] = 9 * len(d["model_features"]) + 3

    _edit_metadata(runs_dir / train_id, widen)
    run = TrainingRun.load(train_id, runs_dir)
    with pytest.raises(RunMismatchError, match=r"model expects observations of shape \(\d+,\)"):
        run.load_agent()


def test_feature_list_mismatch(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    _edit_metadata(runs_dir / train_id, lambda d: d["features"][3].update(window=50))
    with pytest.raises(RunMismatchError, match="model_features"):
        TrainingRun.load(train_id, runs_dir)


def test_feature_dropped_everywhere_is_caught_by_scaler_width(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy

    def drop(d):
        d["features"] = d["features"][1:]
        d["model_features"] = d["model_features"][1:]

    _edit_metadata(runs_dir / train_id, drop)
    with pytest.raises(RunMismatchError, match="scaler was fitted on 11 features"):
        TrainingRun.load(train_id, runs_dir)


def test_malformed_yaml(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    (runs_dir / train_id / METADATA_FILE).write_text("features: [unclosed\n")
    with pytest.raises(RunError, match="not valid YAML"):
        TrainingRun.load(train_id, runs_dir)


def test_metadata_records_what_the_issue_asks(tiny_run):
    m = tiny_run.metadata
    for key in ("schema_version", "symbol", "interval", "data", "features", "window_size",
                "scaler", "model", "action_mapping", "trading", "library_versions", "split",
                "evaluation", "training"):
        assert key in m, key
    assert m["scaler"]["sha256"] == sha256_file(tiny_run.path / m["scaler"]["file"])
    assert m["model"]["sha256"] == sha256_file(tiny_run.path / m["model"]["file"])
    assert m["split"]["scaler_fitted_on"] == "training split only"
    assert m["split"]["train_end"] <= m["split"]["test_start"]
    for strategy in ("agent", "buy_and_hold", "flat"):
        assert set(m["evaluation"][strategy]) >= {"total_return", "sharpe", "max_drawdown", "trades", "fees"}
    assert m["evaluation"]["flat"]["trades"] == 0 and m["evaluation"]["flat"]["total_return"] == 0
    assert m["evaluation"]["buy_and_hold"]["trades"] == 1


def test_train_id_follows_the_operators_convention():
    assert format_learning_rate(3e-4) == "3e-4"
    assert format_learning_rate(0.00025) == "2.5e-4"
    assert format_learning_rate(0.001) == "1e-3"
    train_id = make_train_id(
        "BTCUSDT", datetime(2023, 1, 1), datetime(2025, 1, 1), 3e-4, 256, 30, datetime(2025, 10, 4, 11, 55, 13)
    )
    assert train_id == "train_BTCUSDT_20230101_20250101_lr3e-4_bs256_ws30_20251004_115513"
