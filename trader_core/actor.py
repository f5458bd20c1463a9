"""The SAC actor as plain numpy arrays, read from an SB3 model zip without unpickling.

Why: a run folder can come from anywhere, and an SB3 zip is full of pickles
(``data`` holds cloudpickled spaces and schedules; ``SAC.load`` unpickles them
all). Only the weights are needed to act: ``policy.pth`` is a torch state dict,
which ``torch.load(..., weights_only=True)`` reads with torch's restricted
unpickler (tensors and plain containers only, no code). The shapes come from the
weights themselves; the only other thing read from the zip is the ``data`` entry
parsed as JSON (never its ``:serialized:`` values), to refuse an actor that is not
SB3's standard ReLU MLP, whose forward pass this module reproduces.

The deterministic action of SB3's SAC is ``tanh(mu(latent_pi(obs)))``: ``latent_pi``
is Linear/ReLU pairs, ``mu`` one Linear layer. Evaluated in float32 it equals SB3's
``model.predict(obs, deterministic=True)`` to float32 rounding.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

POLICY_ENTRY = "policy.pth"
DATA_ENTRY = "data"
MAX_ENTRY_BYTES = 256 * 1024 * 1024  # far above any MLP sactui trains; stops a zip bomb
_HIDDEN_KEY = re.compile(r"^actor\.latent_pi\.(\d+)\.(weight|bias)$")
_OTHER_ACTOR_KEYS = {"actor.mu.weight", "actor.mu.bias", "actor.log_std.weight", "actor.log_std.bias"}


class ActorFormatError(ValueError):
    """The zip does not hold a standard SB3 SAC MLP actor that can be read safely."""


Layer = tuple[np.ndarray, np.ndarray, bool]  # (weight as in x @ weight, bias, ReLU after)


class NumpyActor:
    """SAC's deterministic action from weight arrays: no torch call per decision.

    At batch size 1 this is an order of magnitude cheaper than a torch forward,
    and it can be built from weights alone, so loading a model never unpickles.
    """

    def __init__(self, layers: list[Layer]) -> None:
        if not layers:
            raise ActorFormatError("the actor has no layers")
        self._layers = layers
        self.observation_shape = (int(layers[0][0].shape[0]),)
        self.action_dim = int(layers[-1][0].shape[1])

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> "NumpyActor":
        """Build from an SB3 SAC policy state dict (tensors or arrays), checking every shape."""
        arrays = {k: _as_float32(k, v) for k, v in state.items() if k.startswith("actor.")}
        hidden: dict[int, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            match = _HIDDEN_KEY.match(key)
            if match:
                hidden.setdefault(int(match.group(1)), {})[match.group(2)] = value
            elif key not in _OTHER_ACTOR_KEYS:
                raise ActorFormatError(f"unexpected actor parameter {key!r}: not SB3's standard MLP actor")
        indices = sorted(hidden)
        # Linear layers sit at 0, 2, 4, ... with an activation module between them.
        if indices != list(range(0, 2 * len(indices), 2)):
            raise ActorFormatError(f"actor hidden layers at positions {indices}: not Linear/activation pairs")
        linear = [hidden[i] for i in indices]
        for name in ("actor.mu.weight", "actor.mu.bias"):
            if name not in arrays:
                raise ActorFormatError(f"the model has no {name}")
        linear.append({"weight": arrays["actor.mu.weight"], "bias": arrays["actor.mu.bias"]})
        layers: list[Layer] = []
        width = None
        for position, params in enumerate(linear):
            weight, bias = params.get("weight"), params.get("bias")
            if weight is None or bias is None or weight.ndim != 2 or bias.shape != (weight.shape[0],):
                raise ActorFormatError(f"actor layer {position} has malformed weight/bias shapes")
            if width is not None and weight.shape[1] != width:
                raise ActorFormatError(
                    f"actor layer {position} takes {weight.shape[1]} inputs but the previous layer gives {width}"
                )
            width = weight.shape[0]
            relu_after = position < len(linear) - 1
            layers.append((np.ascontiguousarray(weight.T), bias.copy(), relu_after))
        return cls(layers)

    def act(self, observation: np.ndarray) -> float:
        x = np.asarray(observation, dtype=np.float32)
        for weight, bias, relu in self._layers:
            x = x @ weight + bias
            if relu:
                np.maximum(x, 0.0, out=x)
        return float(np.tanh(x[0]))


def _as_float32(key: str, value: object) -> np.ndarray:
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if array.dtype.kind != "f":
        raise ActorFormatError(f"actor parameter {key} is not floating point ({array.dtype})")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ActorFormatError(f"actor parameter {key} holds NaN or infinite values")
    return array


def _read_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ActorFormatError(f"the model zip has no {name!r} entry") from None
    if info.file_size > MAX_ENTRY_BYTES:
        raise ActorFormatError(f"the model zip's {name!r} entry is {info.file_size} bytes; refusing to read it")
    return archive.read(info)


def _check_standard_policy(data_json: bytes) -> None:
    """Refuse what the numpy forward pass would get wrong, reading the JSON only.

    SB3 writes ``policy_kwargs`` as plain JSON unless it holds Python objects (a custom
    activation or extractor), in which case it is a cloudpickle blob: never decoded here.
    """
    try:
        data = json.loads(data_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ActorFormatError(f"the model zip's 'data' entry is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ActorFormatError("the model zip's 'data' entry is not a JSON object")
    kwargs = data.get("policy_kwargs", {})
    if not isinstance(kwargs, dict) or ":serialized:" in kwargs:
        raise ActorFormatError("the model was trained with custom policy_kwargs (pickled): not the standard MLP actor")
    unsupported = sorted(set(kwargs) - {"net_arch", "use_sde"})
    if unsupported:
        raise ActorFormatError(f"the model's policy_kwargs set {unsupported}: not the standard MLP actor")
    if data.get("use_sde") or kwargs.get("use_sde"):
        raise ActorFormatError("the model uses gSDE exploration: not the standard MLP actor")


def read_actor(path: Path) -> NumpyActor:
    """The actor of an SB3 SAC zip, read with ``weights_only=True``: nothing is unpickled."""
    import torch

    try:
        with zipfile.ZipFile(path) as archive:
            _check_standard_policy(_read_entry(archive, DATA_ENTRY))
            policy = _read_entry(archive, POLICY_ENTRY)
    except zipfile.BadZipFile as exc:
        raise ActorFormatError(f"not a zip file: {exc}") from None
    try:
        state = torch.load(io.BytesIO(policy), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch refuses anything that is not tensors and plain containers
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ActorFormatError(f"policy.pth is not a plain weights file ({first_line})") from None
    if not isinstance(state, Mapping):
        raise ActorFormatError("policy.pth does not hold a state dict")
    return NumpyActor.from_state_dict(state)
