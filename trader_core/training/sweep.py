"""Hyper-parameter sweeps on Ray Tune: a grid of learning rate, batch size, window and seed.

Why Ray: a sweep is many independent trainings, and it is where one machine stops
being enough. Ray Tune runs the trials on this machine by default (an embedded
local Ray, nothing to start) or on an existing Ray cluster (``address``), with the
resources each trial asks for. Ray is an optional extra (``pip install -e .[sweep]``);
without it ``import_tune`` says how to install it.

Every trial is ``trainer.train`` - a normal run in ``entrenamientos/`` named by the
operator's convention, with ``group:`` naming the sweep. Selection uses the
validation metric only: the return of each trial's chosen checkpoint on the
validation slice, which lies inside the training split. The held-out test figures
are shown beside it and written down, but ``select_best`` never reads them (and
the trainer never shows the test span to training or checkpoint selection).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ..candles import load_candles, sha256_file
from ..errors import ConfigError
from ..time_utils import iso_ms, ms_to_datetime, parse_date_ms
from .groups import SWEEP_FILE, group_id, write_group
from .trainer import TrainingRequest

RAY_MISSING = (
    "sactui sweep runs on Ray Tune, an optional extra that is not installed: "
    "pip install -e '.[sweep]' (or: pip install 'ray[tune]')"
)
METRIC = "validation_return"
SELECTION_NOTE = (
    "highest validation return (the chosen checkpoint's return on the validation slice inside the training "
    "split); ties go to the earlier trial; held-out test figures are never read"
)


def import_tune():
    """Ray and Ray Tune, or a ``ConfigError`` (exit 2) saying how to install them."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables cannot name our runs: lines per trial instead
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray, tune


@dataclass(frozen=True)
class SweepRequest:
    training: TrainingRequest  # data, funding, split, timesteps and the settings the grid does not vary
    learning_rates: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    windows: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    address: str | None = None  # an existing Ray cluster; None: a local Ray in this process
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    sweep_id: str | None = None


def grid(request: SweepRequest) -> list[dict]:
    """Every combination, numbered from 1 in a fixed order (learning rate, batch size, window, seed)."""
    points = itertools.product(request.learning_rates, request.batch_sizes, request.windows, request.seeds)
    return [{"trial": k, "learning_rate": lr, "batch_size": bs, "window_size": ws, "seed": seed}
            for k, (lr, bs, ws, seed) in enumerate(points, start=1)]


def select_best(trials: list[dict]) -> dict | None:
    """The finished trial with the highest validation return (the earlier one on a tie).

    Reads ``trial`` and ``validation_return`` only: held-out test figures must never
    choose the settings they are supposed to judge."""
    done = [{"trial": t["trial"], METRIC: t[METRIC]} for t in trials
            if t.get("status") == "done" and t.get(METRIC) is not None]
    if not done:
        return None
    best = max(done, key=lambda t: (t[METRIC], -t["trial"]))
    return next(t for t in trials if t["trial"] == best["trial"])


def run_trial(point: dict, template: TrainingRequest, sweep_id: str, threads: int) -> dict:
    """One trial: train a run with the point's settings and return its figures."""
    from .trainer import train

    request = replace(
        template, learning_rate=point["learning_rate"], batch_size=point["batch_size"],
        window_size=point["window_size"], seed=point["seed"], torch_threads=max(1, threads),
        group={"kind": "sweep", "id": sweep_id, "trial": point["trial"]},
    )
    started = time.perf_counter()
    run = train(request, say=lambda _line: None)
    checkpoint = run.metadata["training"].get("checkpoint") or {}
    evaluation = run.metadata["evaluation"]
    return {
        METRIC: checkpoint.get("validation_return"),
        "checkpoint_step": checkpoint.get("selected_step"),
        "train_id": run.train_id,
        "test_return": evaluation["agent"]["total_return"],
        "test_sharpe": evaluation["agent"]["sharpe"],
        "test_trades": evaluation["agent"]["trades"],
        "test_buy_and_hold": evaluation["buy_and_hold"]["total_return"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _tune_trial(config: dict, template: TrainingRequest, sweep_id: str, threads: int) -> None:
    """What Ray runs in a worker: the trial, its figures reported to Tune once."""
    from ray import tune

    tune.report(run_trial(config["point"], template, sweep_id, threads))


def run_sweep(request: SweepRequest, say: Callable[[str], None] = print) -> dict:
    """Run the grid on Ray Tune, write the sweep's report beside the runs, name the best run."""
    ray, tune = import_tune()
    template = request.training
    template.validate()
    if template.validation_fraction <= 0:
        raise ConfigError("a sweep selects on the validation slice: --validation-fraction must be > 0")
    if request.cpus_per_trial <= 0 or request.gpus_per_trial < 0:
        raise ConfigError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    points = grid(request)
    data = Path(template.data).resolve()
    candles = load_candles(data, parse_date_ms(template.start) if template.start else None,
                           parse_date_ms(template.end) if template.end else None)
    opens = candles["open_time"]
    created = datetime.now(UTC).replace(microsecond=0)
    sweep_id = request.sweep_id or group_id(
        "sweep", template.symbol, ms_to_datetime(int(opens.iloc[0])), ms_to_datetime(int(opens.iloc[-1])), created)
    runs_dir = Path(template.runs_dir).resolve()
    folder = runs_dir / sweep_id
    if folder.exists() and request.sweep_id is None:
        raise ConfigError(f"sweep folder {folder} already exists")
    base = replace(template, data=data, runs_dir=runs_dir, progress_bar=False, train_id=None,
                   funding=Path(template.funding).resolve() if template.funding else None)
    report = {
        "sweep_id": sweep_id,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "running",
        "symbol": template.symbol,
        "data": {"file": data.name, "sha256": sha256_file(data), "start": iso_ms(int(opens.iloc[0])),
                 "end": iso_ms(int(opens.iloc[-1])), "funding_file": base.funding.name if base.funding else None},
        "grid": {"learning_rate": list(request.learning_rates), "batch_size": list(request.batch_sizes),
                 "window_size": list(request.windows), "seed": list(request.seeds)},
        "training": {"timesteps": template.timesteps, "test_fraction": template.test_fraction,
                     "validation_fraction": template.validation_fraction, "eval_every": template.eval_every,
                     "deadband": template.deadband},
        "ray": {"address": request.address or "local", "cpus_per_trial": request.cpus_per_trial,
                "gpus_per_trial": request.gpus_per_trial},
        "selection": SELECTION_NOTE,
        "trials": [],
    }
    write_group(folder, "sweep", report)
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=request.address, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, configure_logging=True)
    try:
        say(f"sweep {sweep_id}: {len(points)} trial{'s' if len(points) != 1 else ''} on "
            f"{'Ray at ' + request.address if request.address else 'a local Ray'} "
            f"({ray.cluster_resources().get('CPU', 0):.0f} CPUs; {request.cpus_per_trial:g} CPU"
            f"{', %g GPU' % request.gpus_per_trial if request.gpus_per_trial else ''} per trial), "
            f"{template.timesteps} timesteps each")
        trainable = tune.with_resources(
            tune.with_parameters(_tune_trial, template=base, sweep_id=sweep_id,
                                 threads=int(max(1, request.cpus_per_trial))),
            {"cpu": request.cpus_per_trial, "gpu": request.gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"point": tune.grid_search(points)},
            tune_config=tune.TuneConfig(metric=METRIC, mode="max", max_concurrent_trials=request.max_concurrent),
            run_config=tune.RunConfig(
                name=sweep_id, storage_path=str(folder / "ray"), verbose=0,
                callbacks=[_progress_callback(tune, say, len(points))],
            ),
        )
        results = tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()
    trials = _trial_rows(points, results)
    best = select_best(trials)
    report.update({"status": "complete", "trials": trials,
                   "best": None if best is None else {k: best[k] for k in ("trial", "train_id", METRIC)}})
    write_group(folder, "sweep", report)
    say(f"sweep written to {folder / SWEEP_FILE}")
    return report


def _trial_rows(points: list[dict], results) -> list[dict]:
    by_trial = {}
    for result in results:
        point = (result.config or {}).get("point") or {}
        if "trial" not in point:
            continue
        row = dict(point)
        if result.error is not None:
            row.update({"status": "error", "error": " ".join(str(result.error).split())[:300]})
        else:
            row.update({"status": "done", **{k: v for k, v in (result.metrics or {}).items()
                                             if k in _REPORTED}})
        by_trial[point["trial"]] = row
    return [by_trial.get(p["trial"], {**p, "status": "not run"}) for p in points]


_REPORTED = (METRIC, "checkpoint_step", "train_id", "test_return", "test_sharpe", "test_trades",
             "test_buy_and_hold", "seconds")


def _progress_callback(tune, say: Callable[[str], None], total: int):
    """A line per finished trial (Tune's own table is silenced: it cannot name our runs)."""

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self.finished = 0

        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            point = trial.config["point"]
            say(f"  trial {point['trial']}/{total} started: {_settings(point)}")

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            self.finished += 1
            point = trial.config["point"]
            say(f"[{self.finished}/{total}] trial {point['trial']} {_settings(point)}: validation "
                f"{_pct(result.get(METRIC))} (checkpoint {result.get('checkpoint_step')}), test "
                f"{_pct(result.get('test_return'))} (not used)  {result.get('seconds', 0):.0f} s  "
                f"{result.get('train_id')}")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.finished += 1
            say(f"[{self.finished}/{total}] trial {trial.config['point']['trial']} FAILED: {trial.error_file or ''}")

    return Progress()


def _settings(point: dict) -> str:
    from ..runs import format_learning_rate

    return (f"lr {format_learning_rate(point['learning_rate'])} bs {point['batch_size']} "
            f"ws {point['window_size']} seed {point['seed']}")


def _pct(value) -> str:
    return "-" if value is None else f"{value:+.2%}"
