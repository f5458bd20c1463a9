"""A run folder from elsewhere must not run code here.

Every payload below creates a marker file when it is unpickled; each test records the
matching sha256 in the metadata (anyone who can edit the pickle can edit the YAML), then
proves the marker never appears, and that the same bytes *do* run code when unpickled the
ordinary way, so the payload is real.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import yaml

from trader_core.candles import sha256_file
from trader_core.errors import PickleOnlyRunError, RunError
from trader_core.runs import METADATA_FILE, TrainingRun


class Payload:
    """Unpickling this creates a marker file: proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def edit_metadata(run_dir, change):
    path = run_dir / METADATA_FILE
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def record_checksum(run_dir, block):
    """Write the artifact's real sha256 into the metadata, as an attacker would."""
    def change(data):
        data[block]["sha256"] = sha256_file(run_dir / data[block]["file"])

    edit_metadata(run_dir, change)


def drop_scaler_numbers(run_dir):
    def change(data):
        del data["scaler"]["mean"], data["scaler"]["scale"]

    edit_metadata(run_dir, change)


def plant_scaler_pickle(run_dir, marker):
    (run_dir / "scaler_train.pkl").write_bytes(pickle.dumps(Payload(marker)))
    record_checksum(run_dir, "scaler")


def rewrite_zip_entry(path, name, content: bytes):
    entries = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            entries[info.filename] = archive.read(info)
    entries[name] = content
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in entries.items():
            archive.writestr(filename, data)


# ----------------------------------------------------------------- the scaler pickle


def test_malicious_scaler_pickle_with_matching_checksum_is_never_unpickled(tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    marker = tmp_path / "pwned"
    plant_scaler_pickle(runs_dir / train_id, marker)
    run = TrainingRun.load(train_id, runs_dir)
    assert run.load_agent().observation_shape == (run.layout.size,)
    # trusting the run changes nothing while the numbers are there: they are always preferred
    TrainingRun.load(train_id, runs_dir, trust_pickle=True)
    assert not marker.exists()
    pickle.loads((runs_dir / train_id / "scaler_train.pkl").read_bytes())
    assert marker.exists()  # the payload is live


def test_pickle_only_run_with_a_malicious_pickle_is_refused_without_unpickling(tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    marker = tmp_path / "pwned"
    drop_scaler_numbers(runs_dir / train_id)
    plant_scaler_pickle(runs_dir / train_id, marker)
    with pytest.raises(PickleOnlyRunError) as err:
        TrainingRun.load(train_id, runs_dir)
    assert not marker.exists()
    message = str(err.value)
    assert "--trust-run" in message and "only as a pickle" in message and "\n" not in message
    assert err.value.exit_code == 4


def test_pickle_only_run_loads_when_trusted_with_the_same_numbers(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    with_numbers = TrainingRun.load(train_id, runs_dir)
    drop_scaler_numbers(runs_dir / train_id)
    with pytest.raises(PickleOnlyRunError):
        TrainingRun.load(train_id, runs_dir)
    trusted = TrainingRun.load(train_id, runs_dir, trust_pickle=True)
    assert np.array_equal(trusted.scaler.mean, with_numbers.scaler.mean)
    assert np.array_equal(trusted.scaler.scale, with_numbers.scaler.scale)
    assert trusted.scaler.clip == with_numbers.scaler.clip


def test_recorded_scaler_numbers_are_the_fitted_scaler_bit_for_bit(tiny_run):
    """The YAML round trip loses nothing: the metadata numbers equal the pickled scaler's."""
    with open(tiny_run.path / "scaler_train.pkl", "rb") as fh:  # our own run, just trained
        fitted = pickle.load(fh)
    assert np.array_equal(tiny_run.scaler.mean, fitted.mean_)
    assert np.array_equal(tiny_run.scaler.scale, fitted.scale_)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["mean"].__setitem__(0, float("nan")), "mean must hold finite numbers"),
        (lambda s: s["scale"].__setitem__(2, 0.0), "scale must hold finite numbers > 0"),
        (lambda s: s["scale"].__setitem__(2, float("inf")), "scale must hold finite numbers > 0"),
        (lambda s: s.__setitem__("mean", "abc"), "mean must be a list of numbers"),
        (lambda s: s["mean"].pop(), "equally long"),
        (lambda s: s.__setitem__("clip", float("nan")), "clip must be a finite number"),
    ],
)
def test_bad_scaler_numbers_are_refused(tiny_run_copy, change, message):
    runs_dir, train_id = tiny_run_copy
    edit_metadata(runs_dir / train_id, lambda d: change(d["scaler"]))
    with pytest.raises(RunError, match=message) as err:
        TrainingRun.load(train_id, runs_dir)
    assert "scaler" in str(err.value) and err.value.exit_code == 4


# ----------------------------------------------------------------- the model zip


def test_malicious_pickle_in_the_zips_data_entry_is_never_unpickled(tiny_run_copy, tmp_path):
    """SB3's ``data`` entry holds cloudpickled spaces; the weights-only loader never decodes them."""
    runs_dir, train_id = tiny_run_copy
    run_dir = runs_dir / train_id
    marker = tmp_path / "pwned"
    model = run_dir / "model.zip"
    with zipfile.ZipFile(model) as archive:
        data = json.loads(archive.read("data"))
    data["observation_space"][":serialized:"] = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    rewrite_zip_entry(model, "data", json.dumps(data).encode())
    record_checksum(run_dir, "model")
    run = TrainingRun.load(train_id, runs_dir)
    agent = run.load_agent()
    assert agent.observation_shape == (run.layout.size,)  # from the weights, not the pickled space
    assert not marker.exists()
    from trader_core.policy import SacAgent

    with contextlib.suppress(Exception):  # SB3 may fail after unpickling; the marker is the point
        SacAgent.load(model)
    assert marker.exists()  # SB3's own loader does run it: the payload is live


def test_malicious_policy_weights_are_refused_without_running_them(tiny_run_copy, tmp_path):
    import torch

    runs_dir, train_id = tiny_run_copy
    run_dir = runs_dir / train_id
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"actor.mu.weight": Payload(marker)}, buffer)
    rewrite_zip_entry(run_dir / "model.zip", "policy.pth", buffer.getvalue())
    record_checksum(run_dir, "model")
    run = TrainingRun.load(train_id, runs_dir)
    with pytest.raises(RunError, match="policy.pth is not a plain weights file") as err:
        run.load_agent()
    assert "\n" not in str(err.value)
    assert not marker.exists()
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert marker.exists()  # unrestricted unpickling runs it: the payload is live


def test_a_file_that_is_not_a_zip_is_one_clear_error(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    (runs_dir / train_id / "model.zip").write_bytes(b"not a zip at all")
    record_checksum(runs_dir / train_id, "model")
    run = TrainingRun.load(train_id, runs_dir)
    with pytest.raises(RunError, match="cannot load model .*not a zip file"):
        run.load_agent()


def test_artifact_names_must_stay_inside_the_run_folder(tiny_run_copy):
    runs_dir, train_id = tiny_run_copy
    edit_metadata(runs_dir / train_id, lambda d: d["model"].update(file="../elsewhere/model.zip"))
    with pytest.raises(RunError, match="plain file name in the run folder"):
        TrainingRun.load(train_id, runs_dir)
