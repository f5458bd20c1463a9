"""Walk-forward evaluation: train on a span, test on the span after it, slide, repeat.

Why: one train/test split says little about an RL agent - the demo's single split
could be a lucky or an unlucky quarter. Walk-forward trains a fresh agent for every
fold with the same trainer and measures it only on the candles that follow its
training span, so every figure is out of sample, and the folds together cover a
long stretch of market regimes.

Each fold is a normal run in ``entrenamientos/`` (the operator's naming convention,
``group:`` in its metadata), trained by ``trainer.train`` with ``test_start`` at the
fold's boundary. Selection - the scaler, the checkpoint picked on the validation
slice - happens inside the training span only: the trainer never receives the test
span's candles (see ``trainer``), so a fold's selection is the same whatever its test
span contains (``tests/integration/test_walkforward.py`` proves it). The test span is
then evaluated through the backtest engine (``span_backtest``), net of fees and
funding, against buy-and-hold and flat.

The folds' test spans never overlap (``step >= test span``), so they chain into one
out-of-sample equity curve: the overall figures are that curve's.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..candles import infer_interval, load_candles, load_funding, sha256_file
from ..errors import ConfigError, DataError
from ..settings import Settings
from ..time_utils import interval_from_ms, interval_ms, iso_ms, ms_to_datetime, parse_date_ms
from .evaluation import equity_metrics
from .groups import WALKFORWARD_FILE, group_id, write_group
from .trainer import TrainingRequest

EQUITY_FILE = "equity.csv"
STRATEGIES = ("agent", "buy_and_hold", "flat")
SELECTION_NOTE = (
    "per fold: scaler fitted and checkpoint chosen (best validation return) inside the training span only; "
    "the trainer never receives the test span's candles"
)
_SPAN = re.compile(r"^(\d+)([hdw])$")
_UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_span(text: str, option: str) -> int:
    """``180d``, ``12w``, ``720h`` -> milliseconds."""
    match = _SPAN.match(str(text).strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{option} {text!r}: write a length such as 720h, 180d or 12w")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class Fold:
    """Training candles open in ``[train_start, test_start)``; the agent is tested on the closes
    from ``test_start`` to ``test_end`` (decisions on every close before ``test_end``)."""

    index: int  # 1-based
    train_start: int
    test_start: int
    test_end: int

    def describe(self) -> dict:
        return {"fold": self.index, "train_start": iso_ms(self.train_start), "test_start": iso_ms(self.test_start),
                "test_end": iso_ms(self.test_end)}


def plan_folds(data_start: int, data_end: int, train_ms: int, test_ms: int, step_ms: int,
               max_folds: int | None = None) -> list[Fold]:
    """Folds from the first candle on: training spans slide by ``step``; each test span follows
    its training span and must end inside the data (``data_end``: the last candle's close)."""
    if step_ms < test_ms:
        raise ConfigError("--step must be at least --test-span, so that test spans never overlap")
    folds = []
    start = data_start
    while start + train_ms + test_ms <= data_end and (max_folds is None or len(folds) < max_folds):
        folds.append(Fold(len(folds) + 1, start, start + train_ms, start + train_ms + test_ms))
        start += step_ms
    if not folds:
        raise DataError(
            f"the data ({iso_ms(data_start)} -> {iso_ms(data_end)}) is shorter than one training span plus "
            "one test span"
        )
    return folds


@dataclass(frozen=True)
class WalkForwardRequest:
    training: TrainingRequest  # data, funding, hyper-parameters; start/end bound the whole walk-forward
    train_span: str
    test_span: str
    step: str | None = None  # default: the test span
    max_folds: int | None = None
    jobs: int = 1  # folds trained side by side, in fresh processes (the trainer uses one torch thread)
    walkforward_id: str | None = None
    settings: Settings | None = None  # the backtest engine's (risk guard); default Settings()


@dataclass(frozen=True)
class FoldJob:
    training: TrainingRequest
    fold: Fold
    walkforward_id: str
    folds: int
    settings: Settings | None


def run_walkforward(request: WalkForwardRequest, say: Callable[[str], None] = print) -> dict:
    """Train and test every fold; write the group's report after each fold; return it."""
    template = request.training
    template.validate()
    if template.validation_fraction <= 0:
        raise ConfigError("walk-forward selects each fold's checkpoint on a validation slice: "
                          "--validation-fraction must be > 0")
    if request.jobs < 1:
        raise ConfigError("--jobs must be >= 1")
    train_ms = parse_span(request.train_span, "--train-span")
    test_ms = parse_span(request.test_span, "--test-span")
    step_ms = parse_span(request.step, "--step") if request.step else test_ms
    data = Path(template.data).resolve()
    candles = load_candles(data, parse_date_ms(template.start) if template.start else None,
                           parse_date_ms(template.end) if template.end else None)
    step_candle = interval_ms(infer_interval(candles))
    for name, span in (("--train-span", train_ms), ("--test-span", test_ms), ("--step", step_ms)):
        if span % step_candle:
            raise ConfigError(f"{name} must be a whole number of candles")
    opens = candles["open_time"]
    folds = plan_folds(int(opens.iloc[0]), int(opens.iloc[-1]) + step_candle, train_ms, test_ms, step_ms,
                       request.max_folds)
    created = datetime.now(UTC).replace(microsecond=0)
    wf_id = request.walkforward_id or group_id(
        "walkforward", template.symbol, ms_to_datetime(folds[0].train_start), ms_to_datetime(folds[-1].test_end),
        created, (template.learning_rate, template.batch_size, template.window_size))
    runs_dir = Path(template.runs_dir).resolve()
    folder = runs_dir / wf_id
    if folder.exists() and request.walkforward_id is None:
        raise ConfigError(f"walk-forward folder {folder} already exists")
    funding = Path(template.funding).resolve() if template.funding else None
    base = replace(template, data=data, funding=funding, runs_dir=runs_dir, progress_bar=False, train_id=None)
    report = {
        "walkforward_id": wf_id,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "running",
        "symbol": template.symbol,
        "data": {"file": data.name, "sha256": sha256_file(data), "funding_file": funding.name if funding else None,
                 "start": iso_ms(folds[0].train_start), "end": iso_ms(folds[-1].test_end)},
        "spans": {"train": request.train_span, "test": request.test_span,
                  "step": request.step or request.test_span, "folds": len(folds)},
        "training": _training_settings(base),
        "selection": SELECTION_NOTE,
        "folds": [],
    }
    write_group(folder, "walkforward", report)
    say(f"walk-forward {wf_id}: {len(folds)} folds, train {request.train_span} / test {request.test_span} / "
        f"step {request.step or request.test_span}, {template.timesteps} timesteps each"
        + (f", {request.jobs} at a time" if request.jobs > 1 else ""))
    jobs = [FoldJob(base, fold, wf_id, len(folds), request.settings) for fold in folds]
    outcomes: dict[int, dict] = {}
    for outcome in _run_jobs(jobs, request.jobs):
        outcomes[outcome["fold"]] = outcome
        say(_fold_line(outcome, len(folds)))
        report["folds"] = [_public(outcomes[k]) for k in sorted(outcomes)]
        write_group(folder, "walkforward", report)
    ordered = [outcomes[k] for k in sorted(outcomes)]
    report["overall"], curves = combine(ordered)
    report["status"] = "complete"
    _write_equity(folder / EQUITY_FILE, curves)
    write_group(folder, "walkforward", report)
    say(f"walk-forward written to {folder / WALKFORWARD_FILE}")
    return report


def _run_jobs(jobs: list[FoldJob], parallel: int):
    """Folds one after the other in this process, or ``parallel`` at a time in fresh processes."""
    if parallel == 1:
        for job in jobs:
            yield run_fold(job)
        return
    with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_fold, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def run_fold(job: FoldJob) -> dict:
    """Train the fold's run, then test it on the fold's test span (engine for the agent)."""
    from .span_backtest import SpanRows, agent_in_env, backtest_agent, benchmarks
    from .trainer import train

    fold = job.fold
    request = replace(
        job.training, start=iso_ms(fold.train_start), end=iso_ms(fold.test_end), test_start=iso_ms(fold.test_start),
        group={"kind": "walkforward", "id": job.walkforward_id, "fold": fold.index, "folds": job.folds},
    )
    started = time.perf_counter()
    run = train(request, say=lambda _line: None)
    trained = time.perf_counter()
    candles = load_candles(request.data, None, fold.test_end)
    funding = load_funding(request.funding) if request.funding else None
    rows = SpanRows.of(candles, fold.test_start, fold.test_end, interval_ms(infer_interval(candles)))
    agent = backtest_agent(run, candles, rows, funding, job.settings)
    results = {"agent": agent, **benchmarks(run, candles, rows, funding)}
    checkpoint = run.metadata["training"].get("checkpoint") or {}
    split = run.metadata["split"]
    return {
        **fold.describe(),
        "train_id": run.train_id,
        "validation_start": split["validation_start"],
        "checkpoint_step": checkpoint.get("selected_step"),
        "validation_return": checkpoint.get("validation_return"),
        **{name: result.metrics for name, result in results.items()},
        "agent_in_training_env": agent_in_env(run, candles, rows, funding),
        "journal": str(agent.journal.relative_to(run.path.parent)) if agent.journal else None,
        "wall_seconds": {"train": round(trained - started, 1), "test": round(time.perf_counter() - trained, 1)},
        "_times": candles["open_time"].to_numpy()[rows.times] + interval_ms(infer_interval(candles)),
        "_curves": {name: result.equity for name, result in results.items()},
    }


def combine(folds: list[dict]) -> tuple[dict, pd.DataFrame]:
    """The folds' test spans chained into one out-of-sample curve per strategy, and its figures.

    Each fold starts from the run's initial balance; chaining rescales fold k to start
    where fold k-1 ended, so the chained curve compounds the folds' returns."""
    interval = interval_from_ms(int(folds[0]["_times"][1] - folds[0]["_times"][0]))
    times, fold_index, chained = [], [], {name: [] for name in STRATEGIES}
    turnover = {name: 0.0 for name in STRATEGIES}
    for fold in folds:
        first_point = 0 if not times else 1  # a fold's first point is the previous fold's last close
        times.extend(fold["_times"][first_point:])
        fold_index.extend([fold["fold"]] * (len(fold["_times"]) - first_point))
        for name in STRATEGIES:
            curve = fold["_curves"][name]
            level = chained[name][-1] if chained[name] else curve[0]
            chained[name].extend((curve / curve[0] * level)[first_point:])
            turnover[name] += fold[name]["turnover"]
    overall = {}
    for name in STRATEGIES:
        curve = np.array(chained[name])
        total, sharpe, max_dd = equity_metrics(curve, interval)
        overall[name] = {
            "total_return": round(total, 6), "sharpe": round(sharpe, 6), "max_drawdown": round(max_dd, 6),
            "turnover": round(turnover[name], 6),
            "trades": int(sum(f[name]["trades"] for f in folds)),
            "fees": round(sum(f[name]["fees"] for f in folds), 6),
            "funding": round(sum(f[name].get("funding", 0.0) for f in folds), 6),
        }
    overall["folds_agent_beat_buy_and_hold"] = sum(
        f["agent"]["total_return"] > f["buy_and_hold"]["total_return"] for f in folds)
    overall["folds_agent_beat_flat"] = sum(f["agent"]["total_return"] > f["flat"]["total_return"] for f in folds)
    overall["folds"] = len(folds)
    frame = pd.DataFrame({"close_time": [iso_ms(int(t)) for t in times], "fold": fold_index,
                          **{name: np.round(chained[name], 4) for name in STRATEGIES}})
    return overall, frame


def _write_equity(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, index=False)


def _public(outcome: dict) -> dict:
    return {k: v for k, v in outcome.items() if not k.startswith("_")}


def _training_settings(request: TrainingRequest) -> dict:
    return {
        "timesteps": request.timesteps, "learning_rate": request.learning_rate, "batch_size": request.batch_size,
        "window_size": request.window_size, "seed": request.seed, "deadband": request.deadband,
        "max_leverage": request.max_leverage, "validation_fraction": request.validation_fraction,
        "eval_every": request.eval_every, "episode_length": request.episode_length,
    }


def _fold_line(outcome: dict, folds: int) -> str:
    agent, hold = outcome["agent"], outcome["buy_and_hold"]
    validation = outcome["validation_return"]
    validation_text = "-" if validation is None else f"{validation:+.2%}"
    return (
        f"fold {outcome['fold']}/{folds}  test {outcome['test_start'][:10]} -> {outcome['test_end'][:10]}  "
        f"checkpoint {outcome['checkpoint_step']} (validation {validation_text})  agent {agent['total_return']:+.2%} "
        f"vs buy-and-hold {hold['total_return']:+.2%}  [{outcome['train_id']}; train "
        f"{outcome['wall_seconds']['train']:.0f} s, test {outcome['wall_seconds']['test']:.0f} s]"
    )


def read_equity(folder: Path) -> pd.DataFrame | None:
    """The chained out-of-sample equity of a finished walk-forward (for plots)."""
    path = Path(folder) / EQUITY_FILE
    return pd.read_csv(path) if path.is_file() else None
