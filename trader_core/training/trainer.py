"""``sactui train``: candles -> features -> SAC -> a complete, checksummed training run.

The run directory is written under a temporary name and renamed into place only
when the model, scaler and metadata are all on disk, so an interrupted training
never leaves a half run that live code could pick up.

The held-out (test) span never reaches training: the scaler, the training
environment and the validation slice that picks the checkpoint are built from the
candles *before* the test span only (``_training_frame``); the full frame is used
for nothing but the final held-out evaluation. Walk-forward folds and sweep trials
rely on this: their selection cannot depend on what the test span contains.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from ..candles import infer_interval, load_candles, load_funding, sha256_file
from ..errors import ConfigError, DataError
from ..exchanges.filters import SymbolFilters
from ..features import FeatureSet
from ..observation import PORTFOLIO_FIELDS, FeatureScaler, ObservationLayout
from ..policy import ActionMapping, SacAgent
from ..runs import (
    DEFAULT_RUNS_DIR, METADATA_FILE, MODEL_FILE, SCALER_FILE, SCHEMA_VERSION, TrainingRun, make_train_id,
)
from ..time_utils import iso_ms, ms_to_datetime, parse_date_ms
from .env import MarketData, TradingEnv, TradingSetup
from .evaluation import compare
from .validation import BestOnValidation


@dataclass(frozen=True)
class TrainingRequest:
    data: Path
    symbol: str = "BTCUSDT"
    interval: str | None = None
    start: str | None = None
    end: str | None = None
    timesteps: int = 20_000
    learning_rate: float = 3e-4
    batch_size: int = 256
    window_size: int = 30
    seed: int = 0
    funding: Path | None = None
    test_fraction: float = 0.2
    max_leverage: float = 1.0
    deadband: float = 0.05
    leverage: int = 2
    fee_rate: str = "0.0005"
    initial_balance: str = "10000"
    drawdown_limit: float = 0.3
    net_arch: tuple[int, ...] = (64, 64)
    episode_length: int | None = 720
    learning_starts: int = 1_000
    validation_fraction: float = 0.15  # tail of the training split used to pick the checkpoint
    eval_every: int = 5_000
    runs_dir: Path = DEFAULT_RUNS_DIR
    train_id: str | None = None  # default: the operator's naming convention
    progress_bar: bool = True
    features: FeatureSet = field(default_factory=FeatureSet.default)
    #: Where the held-out span begins (date or ISO timestamp, UTC); ``test_fraction`` is ignored when set.
    #: Walk-forward folds use it: training up to the fold's boundary, the following span held out.
    test_start: str | None = None
    #: Extra top-level metadata, e.g. the walk-forward or sweep group a run belongs to.
    group: dict | None = None
    #: torch threads while training. One learns as fast as two on these small networks, gives the same
    #: weights bit for bit, and does not collapse when another process wants a core (2 threads: 15 steps/s
    #: instead of 150 on a busy 2-core machine; docs/BENCHMARKS.md section 6).
    torch_threads: int = 1

    def validate(self) -> None:
        finite = all(math.isfinite(v) for v in (
            self.learning_rate, self.test_fraction, self.validation_fraction, self.drawdown_limit,
            self.max_leverage, self.deadband,
        ))
        checks = [
            (finite, "--lr, --test-fraction, --max-leverage and --deadband must be finite numbers"),
            (self.timesteps >= 1, "--timesteps must be >= 1"),
            (self.learning_rate > 0, "--lr must be > 0"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.window_size >= 1, "--window must be >= 1"),
            (0 < self.test_fraction < 1, "test fraction must be between 0 and 1"),
            (0 <= self.validation_fraction < 1, "validation fraction must be in [0, 1)"),
            (0 < self.drawdown_limit <= 1, "drawdown limit must be in (0, 1]"),
            (0 < self.max_leverage <= self.leverage,
             f"--max-leverage must be > 0 and <= the account leverage ({self.leverage})"),
            (0 <= self.deadband < 1, "--deadband must be >= 0 and < 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _library_versions() -> dict[str, str]:
    import gymnasium, pandas, sklearn, stable_baselines3, torch  # noqa: E401
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "stable_baselines3": stable_baselines3.__version__,
        "torch": str(torch.__version__),
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scikit_learn": sklearn.__version__,
        "ta": version("ta"),
    }


def train(request: TrainingRequest, say: Callable[[str], None] = print) -> TrainingRun:
    """Train, evaluate on the held-out split, write the run and load it back."""
    request.validate()
    import torch
    from sklearn.preprocessing import StandardScaler
    from stable_baselines3 import SAC

    torch.set_num_threads(max(1, request.torch_threads))

    start_ms = parse_date_ms(request.start) if request.start else None
    end_ms = parse_date_ms(request.end) if request.end else None
    candles = load_candles(request.data, start_ms, end_ms)
    interval = infer_interval(candles)
    if request.interval and request.interval != interval:
        raise ConfigError(f"--interval {request.interval} but {request.data} holds {interval} candles")
    features = request.features
    window = request.window_size

    first_valid = features.warmup - 1
    first_decision = first_valid + window - 1
    n = len(candles)
    split = _test_split(request, candles, first_decision)
    # Everything that learns or selects sees only the candles up to the test span's first
    # decision (row ``split``, the last close the validation slice sees): see the module docstring.
    training_frame = candles.iloc[: split + 1]
    _, training_matrix = features.batch(training_frame)
    scaler = StandardScaler().fit(training_matrix[first_valid : split + 1])
    feature_scaler = FeatureScaler.from_sklearn(scaler)
    funding_frame = load_funding(request.funding) if request.funding else None
    training_market = MarketData.build(training_frame, features, feature_scaler, funding_frame, training_matrix)
    market = MarketData.build(candles, features, feature_scaler, funding_frame)  # held-out evaluation only
    setup = TradingSetup(
        window_size=window,
        mapping=ActionMapping(request.max_leverage, request.deadband),
        filters=SymbolFilters.btcusdt_default() if request.symbol == "BTCUSDT" else _filters_for(request.symbol),
        fee_rate=Decimal(request.fee_rate),
        leverage=request.leverage,
        initial_balance=Decimal(request.initial_balance),
        drawdown_limit=request.drawdown_limit,
    )
    val_start = first_decision + int((split - first_decision) * (1 - request.validation_fraction))
    if val_start - first_decision < 20:
        raise DataError(f"{request.data}: too few training decisions left after the validation slice")
    train_env = TradingEnv(training_market, setup, first_decision, val_start, request.episode_length, mode="train")
    validation = None
    if val_start < split:
        validation = BestOnValidation(
            TradingEnv(training_market, setup, val_start, split, None, mode="validation"), request.eval_every
        )
    test_env = TradingEnv(market, setup, split, n - 1, None, mode="backtest")

    times = candles["open_time"]
    train_id, created, staging = _reserve_run_dir(request, ms_to_datetime(int(times.iloc[0])),
                                                  ms_to_datetime(int(times.iloc[-1])))
    final_dir = Path(request.runs_dir) / train_id
    try:

        say(
            f"training {train_id}: {n} {interval} candles, {val_start - first_decision} training + "
            f"{split - val_start} validation decisions, "
            f"{n - 1 - split} held-out, {request.timesteps} timesteps"
        )
        model = SAC(
            "MlpPolicy", train_env, learning_rate=request.learning_rate, batch_size=request.batch_size,
            buffer_size=max(request.timesteps, 1_000),
            learning_starts=min(request.learning_starts, request.timesteps // 2),
            seed=request.seed, device="cpu", verbose=0, policy_kwargs={"net_arch": list(request.net_arch)},
        )
        model.learn(total_timesteps=request.timesteps, progress_bar=request.progress_bar, callback=validation)
        if validation is not None:
            validation.restore_best()
            say(
                f"checkpoint: step {validation.best_step} of {request.timesteps}, best validation return "
                f"{validation.best_return:+.2%} (evaluated every {request.eval_every} steps)"
            )

        agent = SacAgent(model)
        evaluation = compare(test_env, agent.act)
        _print_evaluation(evaluation, say)

        model.save(str(staging / MODEL_FILE))
        with open(staging / SCALER_FILE, "wb") as fh:
            pickle.dump(scaler, fh)
        layout = ObservationLayout(window, len(features.model_columns))
        metadata = {
            "schema_version": SCHEMA_VERSION,
            "train_id": train_id,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "symbol": request.symbol,
            "interval": interval,
            "data": {
                "file": Path(request.data).name,
                "sha256": sha256_file(Path(request.data)),
                "start": iso_ms(int(times.iloc[0])),
                "end": iso_ms(int(times.iloc[-1])),
                "rows": n,
                "funding_file": Path(request.funding).name if request.funding else None,
            },
            "split": {
                "train_start": iso_ms(int(times.iloc[first_valid])),
                "train_end": iso_ms(int(times.iloc[split])),
                "test_start": iso_ms(int(times.iloc[split])),
                "test_end": iso_ms(int(times.iloc[-1])),
                "train_decisions": val_start - first_decision,
                "validation_start": iso_ms(int(times.iloc[val_start])),
                "validation_decisions": split - val_start,
                "test_decisions": n - 1 - split,
                "scaler_fitted_on": "training split only",
            },
            "features": features.to_metadata(),
            "raw_columns": list(features.raw_columns),
            "model_features": list(features.model_columns),
            "warmup_candles": features.warmup,
            "history_candles": features.settle + window,
            "window_size": window,
            "observation": {
                "size": layout.size,
                "layout": f"{window} rows x {len(features.model_columns)} scaled features, oldest first, "
                          "then portfolio",
                "portfolio": list(PORTFOLIO_FIELDS),
                "dtype": "float32",
            },
            # mean/scale are what loading reads; the pickle is kept for the operator's tools only.
            "scaler": {"file": SCALER_FILE, "sha256": sha256_file(staging / SCALER_FILE),
                       "kind": "sklearn.preprocessing.StandardScaler", **feature_scaler.to_metadata()},
            "model": {"file": MODEL_FILE, "sha256": sha256_file(staging / MODEL_FILE), "algorithm": "SAC",
                      "policy": "MlpPolicy", "net_arch": list(request.net_arch)},
            "action_mapping": setup.mapping.to_metadata(),
            "trading": setup.to_metadata(),
            "training": {
                "timesteps": request.timesteps, "learning_rate": request.learning_rate,
                "batch_size": request.batch_size, "seed": request.seed,
                "episode_length": request.episode_length, "gamma": model.gamma, "tau": model.tau,
                "reward": "log change of equity (unrealised PnL included) per candle, fees and funding included",
                "checkpoint": None if validation is None else {
                    "selected_step": validation.best_step,
                    "selected_by": "highest total return on the validation slice",
                    "validation_return": round(validation.best_return, 6),
                    "evaluations": validation.history,
                },
            },
            "library_versions": _library_versions(),
            "evaluation": evaluation,
        }
        if request.group:
            metadata["group"] = dict(request.group)
        (staging / METADATA_FILE).write_text(yaml.safe_dump(metadata, sort_keys=False), encoding="utf-8")
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # an interrupted training leaves no half run behind
        raise
    say(f"run written to {final_dir}")
    return TrainingRun.load(train_id, Path(request.runs_dir))


def _test_split(request: TrainingRequest, candles, first_decision: int) -> int:
    """The row of the held-out span's first decision: ``test_start`` if given, else the
    ``test_fraction`` tail of the decisions."""
    n = len(candles)
    decisions = n - 1 - first_decision
    if decisions < 20:
        raise DataError(
            f"{request.data}: {n} candles leave {max(decisions, 0)} decisions after the "
            f"{request.features.warmup}-candle warm-up and {request.window_size}-candle window; use more data"
        )
    if request.test_start is None:
        return first_decision + int(decisions * (1 - request.test_fraction))
    # The first held-out decision is on the close at test_start: the candle opened one interval before it,
    # so the last close training and validation see is test_start itself.
    split = int(np.searchsorted(candles["open_time"].to_numpy(), parse_date_ms(request.test_start), side="left")) - 1
    if not first_decision + 20 <= split < n - 1:
        raise DataError(
            f"{request.data}: a test span starting {request.test_start} leaves "
            f"{max(split - first_decision, 0)} training decisions and {max(n - 1 - split, 0)} held-out ones"
        )
    return split


def _reserve_run_dir(request: TrainingRequest, start: datetime, end: datetime) -> tuple[str, datetime, Path]:
    """The run's id, creation time and staging folder, created atomically.

    An id the operator chose is (re)written in place. A conventional id carries its
    creation second, so two runs with the same data and settings started in the
    same second (sweep trials differing only by seed, folds trained in parallel)
    would collide: ``mkdir`` of the staging folder is atomic, and whoever loses the
    race takes the next second."""
    runs_dir = Path(request.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(timezone.utc).replace(microsecond=0)
    if request.train_id is not None:
        staging = runs_dir / f".{request.train_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        return request.train_id, created, staging
    for _ in range(3600):
        train_id = make_train_id(request.symbol, start, end, request.learning_rate, request.batch_size,
                                 request.window_size, created)
        staging = runs_dir / f".{train_id}.partial"
        if not (runs_dir / train_id).exists():
            try:
                staging.mkdir()
                return train_id, created, staging
            except FileExistsError:
                pass
        created += timedelta(seconds=1)
    raise ConfigError(f"no free run name in {runs_dir} for {train_id}")


def _filters_for(symbol: str) -> SymbolFilters:
    raise ConfigError(
        f"no offline symbol filters for {symbol}; training currently supports BTCUSDT "
        "(its exchangeInfo filters are bundled)"
    )


def _print_evaluation(evaluation: dict, say: Callable[[str], None]) -> None:
    say("held-out evaluation:")
    say(f"  {'strategy':<14}{'return':>10}{'sharpe':>9}{'max dd':>9}{'trades':>8}{'fees':>10}")
    for name, m in evaluation.items():
        say(
            f"  {name:<14}{m['total_return']:>+10.2%}{m['sharpe']:>9.2f}{m['max_drawdown']:>9.2%}"
            f"{m['trades']:>8}{m['fees']:>10.2f}"
        )
