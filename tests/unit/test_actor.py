"""The weights-only actor: what it accepts, what it refuses, and that it is SB3's actor.

(The actor read from a zip equals SB3's ``model.predict`` to 1e-5:
``tests/integration/test_training_parity.py::test_numpy_actor_gives_the_torch_action``.)
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from trader_core.actor import ActorFormatError, NumpyActor, read_actor


def _state(rng, sizes=(5, 4, 3), action=1):
    """A state dict shaped like SB3's SAC MlpPolicy: latent_pi at 0, 2, ...; mu; log_std."""
    state = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        state[f"actor.latent_pi.{2 * i}.weight"] = rng.standard_normal((n_out, n_in)).astype(np.float32)
        state[f"actor.latent_pi.{2 * i}.bias"] = rng.standard_normal(n_out).astype(np.float32)
    state["actor.mu.weight"] = rng.standard_normal((action, sizes[-1])).astype(np.float32)
    state["actor.mu.bias"] = rng.standard_normal(action).astype(np.float32)
    state["actor.log_std.weight"] = np.zeros((action, sizes[-1]), np.float32)
    state["actor.log_std.bias"] = np.zeros(action, np.float32)
    state["critic.qf0.0.weight"] = np.zeros((2, 2), np.float32)  # ignored
    return state


def test_forward_pass_is_tanh_of_mu_of_relu_layers():
    rng = np.random.default_rng(0)
    state = _state(rng)
    actor = NumpyActor.from_state_dict(state)
    assert actor.observation_shape == (5,) and actor.action_dim == 1
    obs = rng.standard_normal(5).astype(np.float32)
    h = np.maximum(state["actor.latent_pi.0.weight"] @ obs + state["actor.latent_pi.0.bias"], 0)
    h = np.maximum(state["actor.latent_pi.2.weight"] @ h + state["actor.latent_pi.2.bias"], 0)
    expected = np.tanh(state["actor.mu.weight"] @ h + state["actor.mu.bias"])[0]
    assert actor.act(obs) == pytest.approx(float(expected), abs=1e-6)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s.__setitem__("actor.features_extractor.0.weight", np.ones((2, 2), np.float32)),
         "unexpected actor parameter"),
        (lambda s: s.pop("actor.mu.weight"), "no actor.mu.weight"),
        (lambda s: s.update({"actor.latent_pi.4.weight": s.pop("actor.latent_pi.2.weight"),
                             "actor.latent_pi.4.bias": s.pop("actor.latent_pi.2.bias")}),
         "not Linear/activation pairs"),
        (lambda s: s.__setitem__("actor.latent_pi.2.weight", np.ones((3, 7), np.float32)), "takes 7 inputs"),
        (lambda s: s["actor.mu.bias"].__setitem__(0, np.nan), "NaN or infinite"),
        (lambda s: s.__setitem__("actor.mu.bias", np.ones(1, np.int64)), "not floating point"),
    ],
)
def test_anything_but_the_standard_mlp_actor_is_refused(damage, message):
    state = _state(np.random.default_rng(1))
    damage(state)
    with pytest.raises(ActorFormatError, match=message):
        NumpyActor.from_state_dict(state)


def _zip_with(tmp_path, data: dict, state: dict):
    import torch

    buffer = io.BytesIO()
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, buffer)
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data))
        archive.writestr("policy.pth", buffer.getvalue())
    return path


def test_read_actor_reads_weights_from_a_zip(tmp_path):
    state = _state(np.random.default_rng(2))
    path = _zip_with(tmp_path, {"policy_kwargs": {"net_arch": [4, 3]}, "use_sde": False}, state)
    actor = read_actor(path)
    obs = np.ones(5, np.float32)
    assert actor.act(obs) == NumpyActor.from_state_dict(state).act(obs)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"policy_kwargs": {":type:": "<class 'dict'>", ":serialized:": "gAR9lC4="}}, "custom policy_kwargs"),
        ({"policy_kwargs": {"net_arch": [4, 3], "activation_fn": "tanh"}}, "activation_fn"),
        ({"policy_kwargs": {}, "use_sde": True}, "gSDE"),
    ],
)
def test_read_actor_refuses_architectures_it_would_evaluate_wrongly(tmp_path, data, message):
    path = _zip_with(tmp_path, data, _state(np.random.default_rng(3)))
    with pytest.raises(ActorFormatError, match=message):
        read_actor(path)


def test_in_memory_model_acts_through_the_same_numpy_actor_as_its_torch_forward(tiny_run):
    """Training and validation wrap the live SB3 model; its numpy path equals torch."""
    from trader_core.policy import SacAgent

    agent = SacAgent.load(tiny_run.model_path)  # our own run: SB3's unpickling load is fine in a test
    assert agent._numpy is not None
    rng = np.random.default_rng(4)
    for _ in range(200):
        obs = (rng.standard_normal(tiny_run.layout.size) * 3).astype(np.float32)
        assert abs(agent.act(obs) - agent.act_torch(obs)) <= 1e-5
