"""A training run on disk: ``entrenamientos/<train_id>/``, loaded and proven consistent.

A run is ``config_metadata.yaml`` + ``scaler_train.pkl`` + the SB3 model zip. Live
trading takes everything it needs from here (features, window, scaler, action
mapping, trading assumptions), so loading is strict and every failure says what to
do: an unknown id lists the runs that exist; a missing file, an unsupported schema
version or a checksum mismatch is refused **before anything is unpickled** (a
pickle can run code); a feature/window/observation size that disagrees with the
model's observation space is refused before a single decision is made.
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
from .errors import ChecksumError, RunError, RunMismatchError, SchemaVersionError, UnknownRunError
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
    """A validated run. ``load_agent()`` is the only step that unpickles the model."""

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
    def load(cls, train_id: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> "TrainingRun":
        runs_dir = Path(runs_dir)
        path = runs_dir / train_id
        if not train_id or "/" in train_id or not (path / METADATA_FILE).is_file():
            known = run_ids(runs_dir)
            listing = ", ".join(known) if known else "none (train one with 'sactui train --data FILE')"
            if path.is_dir():
                raise UnknownRunError(f"run {train_id!r} has no {METADATA_FILE} in {path}")
            raise UnknownRunError(f"unknown train id {train_id!r} in {runs_dir}/; runs found: {listing}")
        try:
            metadata = yaml.safe_load((path / METADATA_FILE).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RunError(f"{path / METADATA_FILE} is not valid YAML: {exc}") from None
        if not isinstance(metadata, dict):
            raise RunError(f"{path / METADATA_FILE} is not a mapping")
        version = metadata.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{path / METADATA_FILE}: schema_version {version!r} is not supported "
                f"(this sactui reads version {SCHEMA_VERSION}); re-train the run or upgrade sactui"
            )
        features = FeatureSet.from_metadata(_require(metadata, "features"))
        window = _require(metadata, "window_size")
        if not isinstance(window, int) or window < 1:
            raise RunError(f"{METADATA_FILE}: window_size must be a positive integer, got {window!r}")
        declared = list(_require(metadata, "model_features"))
        if declared != list(features.model_columns):
            raise RunMismatchError(
                f"{METADATA_FILE}: model_features {declared} do not match what the declared "
                f"features produce {list(features.model_columns)}"
            )
        scaler_info = _require(metadata, "scaler")
        scaler_path = cls._verified(path, scaler_info, "scaler")
        with open(scaler_path, "rb") as fh:
            scaler = FeatureScaler.from_sklearn(pickle.load(fh), float(scaler_info.get("clip", 10.0)))
        if scaler.n_features != len(features.model_columns):
            raise RunMismatchError(
                f"scaler was fitted on {scaler.n_features} features but the run declares "
                f"{len(features.model_columns)}"
            )
        cls._verified(path, _require(metadata, "model"), "model")
        observation = _require(metadata, "observation")
        layout = ObservationLayout(window, len(features.model_columns))
        if observation.get("size") != layout.size:
            raise RunMismatchError(
                f"{METADATA_FILE}: observation size {observation.get('size')} differs from "
                f"window {window} x {len(features.model_columns)} features + portfolio = {layout.size}"
            )
        mapping_info = _require(metadata, "action_mapping")
        trading = _require(metadata, "trading")
        symbol = _require(metadata, "symbol")
        interval = _require(metadata, "interval")
        interval_ms(interval)  # validates
        try:
            mapping = ActionMapping(float(mapping_info["max_leverage"]), float(mapping_info["deadband"]))
            filters = SymbolFilters.from_dict(_require(trading, "filters", f"{METADATA_FILE} trading"))
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise RunError(f"{METADATA_FILE}: invalid action mapping or filters: {exc}") from None
        return cls(train_id, path, metadata, features, window, scaler, mapping, filters, symbol, interval)

    @staticmethod
    def _verified(run_path: Path, info: dict, what: str) -> Path:
        name = _require(info, "file", f"{METADATA_FILE} {what}")
        expected = _require(info, "sha256", f"{METADATA_FILE} {what}")
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
        return Decimal(str(self.trading["fee_rate"]))

    @property
    def leverage(self) -> int:
        return int(self.trading["leverage"])

    def load_agent(self):
        """Re-verify the model's checksum, load it, and check its observation space."""
        from .policy import SacAgent

        self._verified(self.path, self.metadata["model"], "model")
        try:
            agent = SacAgent.load(self.model_path)
        except Exception as exc:  # a zip that passed its checksum but SB3 cannot read
            raise RunError(f"cannot load model {self.model_path}: {exc}") from None
        if agent.observation_shape != (self.layout.size,):
            raise RunMismatchError(
                f"model expects observations of shape {agent.observation_shape} but the run's "
                f"features and window give ({self.layout.size},): window {self.window_size} x "
                f"{len(self.features.model_columns)} features + portfolio state"
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
        }
