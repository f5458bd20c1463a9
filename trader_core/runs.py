"""A training run on disk: ``entrenamientos/<train_id>/``, loaded and proven consistent.

A run is ``config_metadata.yaml`` + the SB3 model zip (+ ``scaler_train.pkl``, which
training writes for the operator's tools). Live trading takes everything it needs
from here (features, window, scaler, action mapping, trading assumptions), so
loading is strict and every failure says what to do: an unknown id lists the runs
that exist; a missing file, an unsupported schema version, a checksum mismatch or
an out-of-range trading value is refused; a feature/window/observation size that
disagrees with the model's weights is refused before a single decision is made.

A run folder may come from anywhere, and its checksums sit in the same YAML anyone
can edit, so a checksum proves nothing about intent. Loading therefore **never
unpickles**: the scaler is read as plain numbers from the metadata and the actor as
weights only (``actor.read_actor``). A run that has its scaler only as a pickle
(written before the numbers were recorded) loads only with ``trust_pickle=True``
(``--trust-run`` on the command line), which the operator gives for runs they made.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .candles import sha256_file
from . import run_values
from .errors import (
    ChecksumError, PickleOnlyRunError, RunError, RunMismatchError, SactuiError, SchemaVersionError,
    UnknownRunError,
)
from .exchanges.filters import SymbolFilters
from .features import FeatureSet
from .observation import FeatureScaler, ObservationLayout
from .policy import ActionMapping
from .time_utils import interval_ms

SCHEMA_VERSION = 1
METADATA_FILE = "config_metadata.yaml"
SCALER_FILE = "scaler_train.pkl"
MODEL_FILE = "model.zip"
DEFAULT_RUNS_DIR = Path("entrenamientos")


def format_learning_rate(lr: float) -> str:
    """3e-4 -> ``3e-4``; 0.00025 -> ``2.5e-4`` (the operator's train-id convention)."""
    mantissa, exponent = f"{lr:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def make_train_id(
    symbol: str, start: datetime, end: datetime, lr: float, batch_size: int, window: int,
    created: datetime,
) -> str:
    return (
        f"train_{symbol}_{start:%Y%m%d}_{end:%Y%m%d}_lr{format_learning_rate(lr)}"
        f"_bs{batch_size}_ws{window}_{created:%Y%m%d_%H%M%S}"
    )


def run_ids(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if (p / METADATA_FILE).is_file())


def _require(mapping: dict, key: str, where: str = METADATA_FILE) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise RunError(f"{where}: missing required key {key!r}")
    return mapping[key]


@dataclass(frozen=True)
class TrainingRun:
    """A validated run. ``load_agent()`` reads the model's weights; nothing here unpickles unless trusted."""

    train_id: str
    path: Path
    metadata: dict
    features: FeatureSet
    window_size: int
    scaler: FeatureScaler
    mapping: ActionMapping
    filters: SymbolFilters
    symbol: str
    interval: str

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(
        cls, train_id: str, runs_dir: Path = DEFAULT_RUNS_DIR, trust_pickle: bool = False,
    ) -> "TrainingRun":
        """Load and check a run; ``trust_pickle`` allows unpickling a scaler stored only as a pickle."""
        runs_dir = Path(runs_dir)
        path = runs_dir / train_id
        if not train_id or "/" in train_id or not (path / METADATA_FILE).is_file():
            known = run_ids(runs_dir)
            listing = ", ".join(known) if known else "none (train one with 'sactui train --data FILE')"
            if path.is_dir():
                raise UnknownRunError(f"run {train_id!r} has no {METADATA_FILE} in {path}")
            raise UnknownRunError(f"unknown train id {train_id!r} in {runs_dir}/; runs found: {listing}")
        where = str(path / METADATA_FILE)
        try:
            metadata = yaml.safe_load((path / METADATA_FILE).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RunError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None
        except UnicodeDecodeError:
            raise RunError(f"{where} is not UTF-8 text") from None
        if not isinstance(metadata, dict):
            raise RunError(f"{where} is not a mapping")
        version = metadata.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{where}: schema_version {version!r} is not supported "
                f"(this sactui reads version {SCHEMA_VERSION}); re-train the run or upgrade sactui"
            )
        features = FeatureSet.from_metadata(_require(metadata, "features"))
        window = _require(metadata, "window_size")
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 100_000:
            raise RunError(f"{METADATA_FILE}: window_size must be an integer from 1 to 100000, got {window!r}")
        declared = list(_require(metadata, "model_features"))
        if declared != list(features.model_columns):
            raise RunMismatchError(
                f"{METADATA_FILE}: model_features {declared} do not match what the declared "
                f"features produce {list(features.model_columns)}"
            )
        scaler = cls._scaler(path, _require(metadata, "scaler"), trust_pickle)
        if scaler.n_features != len(features.model_columns):
            raise RunMismatchError(
                f"scaler was fitted on {scaler.n_features} features but the run declares "
                f"{len(features.model_columns)}"
            )
        cls._verified(path, _require(metadata, "model"), "model")
        observation = _require(metadata, "observation")
        layout = ObservationLayout(window, len(features.model_columns))
        if not isinstance(observation, dict) or observation.get("size") != layout.size:
            size = observation.get("size") if isinstance(observation, dict) else observation
            raise RunMismatchError(
                f"{METADATA_FILE}: observation size {size} differs from "
                f"window {window} x {len(features.model_columns)} features + portfolio = {layout.size}"
            )
        trading = _require(metadata, "trading")
        if not isinstance(trading, dict):
            raise RunError(f"{where}: trading must be a mapping")
        symbol = _require(metadata, "symbol")
        if not isinstance(symbol, str) or not symbol.isalnum() or not symbol.isascii() or len(symbol) > 20:
            raise RunError(f"{where}: symbol must be letters and digits such as BTCUSDT, got {symbol!r}")
        interval = _require(metadata, "interval")
        try:
            interval_ms(interval)
        except SactuiError as exc:
            raise RunError(f"{where}: interval: {exc}") from None
        account_leverage = run_values.leverage(trading, where)
        run_values.fee_rate(trading, where)
        run_values.initial_balance(trading, where)
        run_values.drawdown_limit(trading, where)
        mapping = run_values.action_mapping(_require(metadata, "action_mapping"), account_leverage, where)
        filters = run_values.filters(_require(trading, "filters", f"{METADATA_FILE} trading"), symbol, where)
        return cls(train_id, path, metadata, features, window, scaler, mapping, filters, symbol, interval)

    @classmethod
    def _scaler(cls, run_path: Path, info: object, trust_pickle: bool) -> FeatureScaler:
        """The scaler from its numbers; from the pickle only when the operator trusts the run.

        A pickle that is present is still checksummed (a changed file means a changed
        run), but a matching checksum never leads to unpickling on its own: whoever
        edited the pickle could edit the YAML that records its checksum."""
        where = f"{run_path / METADATA_FILE} scaler"
        if not isinstance(info, dict):
            raise RunError(f"{where} must be a mapping")
        has_numbers = "mean" in info or "scale" in info
        pickle_name = info.get("file")
        pickle_file = None
        if pickle_name is not None and (not has_numbers or (run_path / str(pickle_name)).exists()):
            pickle_file = cls._verified(run_path, info, "scaler")  # reads bytes, unpickles nothing
        if has_numbers:
            try:
                return FeatureScaler.from_metadata(info)
            except (ValueError, ArithmeticError) as exc:
                raise RunError(f"{where}: {exc}") from None
        if pickle_name is None:
            raise RunError(f"{where} has neither mean/scale numbers nor a file")
        if not trust_pickle:
            raise PickleOnlyRunError(
                f"run {run_path.name} stores its scaler only as a pickle ({pickle_name}), and unpickling a file "
                "can run code; if you created this run yourself, pass --trust-run to load it"
            )
        with open(pickle_file, "rb") as fh:
            fitted = pickle.load(fh)  # trusted by the operator (--trust-run), checksum verified above
        try:
            return FeatureScaler.from_sklearn(fitted, info.get("clip", 10.0))
        except (AttributeError, ValueError, TypeError) as exc:
            raise RunError(f"{where}: {pickle_name} is not a fitted StandardScaler ({exc})") from None

    @staticmethod
    def _verified(run_path: Path, info: dict, what: str) -> Path:
        name = _require(info, "file", f"{METADATA_FILE} {what}")
        expected = _require(info, "sha256", f"{METADATA_FILE} {what}")
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise RunError(f"{METADATA_FILE} {what}: file must be a plain file name in the run folder, got {name!r}")
        file = run_path / name
        if not file.is_file():
            raise RunError(f"{what} file missing: {file} (the run is incomplete; re-train or restore it)")
        actual = sha256_file(file)
        if actual != expected:
            raise ChecksumError(
                f"{what} file {file} has sha256 {actual[:12]}… but the metadata records "
                f"{str(expected)[:12]}…; refusing to load it (it was changed or corrupted)"
            )
        return file

    # ---------------------------------------------------------------- derived
    @property
    def layout(self) -> ObservationLayout:
        return ObservationLayout(self.window_size, len(self.features.model_columns))

    @property
    def model_path(self) -> Path:
        return self.path / self.metadata["model"]["file"]

    @property
    def history_needed(self) -> int:
        """Closed candles a live session downloads before its first decision."""
        return self.features.settle + self.window_size

    @property
    def replay_candles_path(self) -> Path | None:
        """The bundled candles offline modes replay (verified), or None if the run has none."""
        info = self.metadata.get("replay")
        if not info:
            return None
        return self._verified(self.path, info, "replay candles")

    @property
    def trading(self) -> dict:
        return self.metadata["trading"]

    @property
    def fee_rate(self) -> Decimal:
        return Decimal(str(self.trading["fee_rate"]))  # range-checked by load()

    @property
    def leverage(self) -> int:
        return int(self.trading["leverage"])  # range-checked by load()

    def load_agent(self):
        """Re-verify the model's checksum, read the actor's weights (no unpickling), check its shape.

        Returns a ``NumpyActor``: ``act(observation) -> float`` and ``observation_shape``."""
        from .actor import ActorFormatError, read_actor

        self._verified(self.path, self.metadata["model"], "model")
        try:
            agent = read_actor(self.model_path)
        except ActorFormatError as exc:
            raise RunError(f"cannot load model {self.model_path}: {exc}") from None
        if agent.observation_shape != (self.layout.size,):
            raise RunMismatchError(
                f"model expects observations of shape {agent.observation_shape} but the run's "
                f"features and window give ({self.layout.size},): window {self.window_size} x "
                f"{len(self.features.model_columns)} features + portfolio state"
            )
        if agent.action_dim != 1:
            raise RunMismatchError(
                f"model {self.model_path} outputs {agent.action_dim} actions; sactui maps exactly one "
                "(the target exposure)"
            )
        return agent

    def summary(self) -> dict:
        m = self.metadata
        evaluation = (m.get("evaluation") or {}).get("agent") or {}
        return {
            "train_id": self.train_id,
            "symbol": self.symbol,
            "interval": self.interval,
            "data": f"{m.get('data', {}).get('start', '?')} → {m.get('data', {}).get('end', '?')}",
            "window": self.window_size,
            "timesteps": m.get("training", {}).get("timesteps"),
            "test_return": evaluation.get("total_return"),
            "test_sharpe": evaluation.get("sharpe"),
            "test_max_drawdown": evaluation.get("max_drawdown"),
            "group": m.get("group") if isinstance(m.get("group"), dict) else None,  # a walk-forward fold, a sweep trial
        }
