"""Walk-forward: real SAC folds on real candles, tested through the backtest engine.

What is pinned: a fold's selection (scaler, checkpoint, weights) is the same whatever
its test span contains; ``sactui walkforward`` writes one normal, loadable run per
fold, named by the convention and grouped; each fold's engine journal covers exactly
its test span; funding is charged; the overall figures chain the folds; ``sactui runs``
shows the group.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from support import CANDLES_1H, FUNDING_8H, real_candle_file
from trader_core.candles import load_candles
from trader_core.errors import ConfigError, DataError
from trader_core.journal import read_steps
from trader_core.runs import TrainingRun
from trader_core.time_utils import iso_ms, parse_date_ms
from trader_core.training.walkforward import plan_folds, parse_span

SACTUI = str(Path(sys.executable).parent / "sactui")
HOUR = 3_600_000
DAY = 24 * HOUR
CONVENTION = re.compile(r"^train_BTCUSDT_\d{8}_\d{8}_lr3e-4_bs64_ws8_\d{8}_\d{6}$")
TINY = ["--timesteps", "300", "--batch-size", "64", "--window", "8", "--eval-every", "100"]


def _sactui(*args):
    return subprocess.run([SACTUI, *args], capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------- fold planning
def test_folds_slide_by_the_step_and_test_spans_never_overlap():
    folds = plan_folds(0, 100 * DAY, 40 * DAY, 10 * DAY, 10 * DAY)
    assert [(f.train_start, f.test_start, f.test_end) for f in folds] == [
        (k * 10 * DAY, k * 10 * DAY + 40 * DAY, k * 10 * DAY + 50 * DAY) for k in range(6)]
    assert all(a.test_end <= b.test_start for a, b in zip(folds, folds[1:]))
    assert len(plan_folds(0, 100 * DAY, 40 * DAY, 10 * DAY, 20 * DAY, max_folds=2)) == 2
    with pytest.raises(ConfigError, match="--step must be at least --test-span"):
        plan_folds(0, 100 * DAY, 40 * DAY, 10 * DAY, 5 * DAY)
    with pytest.raises(DataError, match="shorter than one training span plus one test span"):
        plan_folds(0, 45 * DAY, 40 * DAY, 10 * DAY, 10 * DAY)


def test_spans_are_read_in_hours_days_or_weeks():
    assert parse_span("720h", "--x") == parse_span("30d", "--x") == 30 * DAY
    assert parse_span("2w", "--x") == 14 * DAY
    for bad in ("30", "0d", "1.5d", "30m", "d"):
        with pytest.raises(ConfigError, match="--x"):
            parse_span(bad, "--x")


# ---------------------------------------------------------------- selection never sees the test span
def _fold_request(data: Path, runs_dir: Path, train_id: str):
    from trader_core.training.trainer import TrainingRequest

    return TrainingRequest(
        data=data, start="2024-03-01", end="2024-05-01", test_start="2024-04-15", timesteps=400, batch_size=64,
        window_size=8, learning_starts=100, episode_length=200, eval_every=100, runs_dir=runs_dir,
        train_id=train_id, progress_bar=False, funding=real_candle_file(FUNDING_8H),
    )


def test_a_folds_selection_is_identical_whatever_its_test_span_contains(tmp_path, candles_1h_path):
    """Train the same fold twice: on the real candles, and on a copy whose test span is a
    different market (prices reflected and volumes scrambled after the boundary). Scaler,
    validation history, chosen checkpoint and weights must be identical; only the held-out
    figures may (and do) change."""
    from trader_core.training.trainer import train

    candles = load_candles(candles_1h_path)
    boundary = parse_date_ms("2024-04-15")
    altered = candles.copy()
    after = altered["open_time"] >= boundary
    pivot = float(altered.loc[after, "close"].iloc[0])
    for column in ("open", "high", "low", "close"):
        altered.loc[after, column] = 2 * pivot - altered.loc[after, column]
    altered.loc[after, ["high", "low"]] = altered.loc[after, ["low", "high"]].to_numpy()
    altered.loc[after, "volume"] = altered.loc[after, "volume"].to_numpy()[::-1]
    altered_path = tmp_path / "altered.csv"
    altered.to_csv(altered_path, index=False, header=["open_time_ms", "open", "high", "low", "close", "volume"])

    runs = tmp_path / "runs"
    real = train(_fold_request(candles_1h_path, runs, "real"), say=lambda _: None)
    other = train(_fold_request(altered_path, runs, "other"), say=lambda _: None)

    assert real.metadata["split"] == other.metadata["split"]
    assert real.metadata["split"]["test_start"] == iso_ms(boundary - HOUR)  # first test decision: the close at 04-15
    assert real.metadata["scaler"]["mean"] == other.metadata["scaler"]["mean"]
    assert real.metadata["scaler"]["scale"] == other.metadata["scaler"]["scale"]
    checkpoint = real.metadata["training"]["checkpoint"]
    assert checkpoint == other.metadata["training"]["checkpoint"]
    assert len(checkpoint["evaluations"]) == 4
    real_weights, other_weights = _policy_weights(real.model_path), _policy_weights(other.model_path)
    assert real_weights.keys() == other_weights.keys() and len(real_weights) > 10  # actor, critics, targets
    assert all(torch.equal(real_weights[k], other_weights[k]) for k in real_weights)
    # the test span really was different: the held-out figures moved
    assert real.metadata["evaluation"]["buy_and_hold"] != other.metadata["evaluation"]["buy_and_hold"]


def _policy_weights(model_zip: Path) -> dict:
    """Every tensor of the SB3 policy (actor, critics, target critics), read as weights only."""
    import io
    import zipfile

    with zipfile.ZipFile(model_zip) as archive:
        return torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)


# ---------------------------------------------------------------- the command end to end
@pytest.fixture(scope="module")
def walkforward(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("wf") / "runs"
    result = _sactui(
        "walkforward", "--data", str(real_candle_file(CANDLES_1H)), "--funding", str(real_candle_file(FUNDING_8H)),
        "--start", "2024-03-01", "--end", "2024-05-16", "--train-span", "45d", "--test-span", "15d",
        "--jobs", "2", *TINY, "--runs-dir", str(runs_dir),
    )
    assert result.returncode == 0, result.stderr
    wf_id = result.stdout.split("walk-forward id: ")[1].split()[0]
    report = yaml.safe_load((runs_dir / wf_id / "walkforward.yaml").read_text())
    return runs_dir, wf_id, report, result.stdout


def test_each_fold_is_a_normal_run_named_by_the_convention_and_grouped(walkforward):
    runs_dir, wf_id, report, _ = walkforward
    assert wf_id.startswith("walkforward_BTCUSDT_20240301_20240515_lr3e-4_bs64_ws8_")
    assert report["status"] == "complete" and len(report["folds"]) == 2
    assert [(f["test_start"], f["test_end"]) for f in report["folds"]] == [
        ("2024-04-15T00:00:00Z", "2024-04-30T00:00:00Z"), ("2024-04-30T00:00:00Z", "2024-05-15T00:00:00Z")]
    for fold in report["folds"]:
        run = TrainingRun.load(fold["train_id"], runs_dir)  # strict loading, no pickle
        assert CONVENTION.match(run.train_id)
        assert run.metadata["group"] == {"kind": "walkforward", "id": wf_id, "fold": fold["fold"], "folds": 2}
        split = run.metadata["split"]
        assert run.metadata["data"]["start"] == fold["train_start"]
        assert split["test_start"] == iso_ms(parse_date_ms(fold["test_start"].rstrip("Z")) - HOUR)
        assert split["validation_start"] < split["test_start"]  # validation inside the training span
        assert fold["checkpoint_step"] in [e["step"] for e in run.metadata["training"]["checkpoint"]["evaluations"]]


def test_each_fold_is_tested_through_the_engine_on_exactly_its_test_span(walkforward):
    runs_dir, _, report, _ = walkforward
    for fold in report["folds"]:
        rows = read_steps(runs_dir / fold["journal"])
        first_close = parse_date_ms(fold["test_start"].rstrip("Z"))
        span = (parse_date_ms(fold["test_end"].rstrip("Z")) - first_close) // HOUR
        assert {r["mode"] for r in rows} == {"backtest"}
        # a row per close from test_start to test_end; the last one belongs to the next span and is not counted
        assert int(rows[0]["candle_open_time"]) == first_close - HOUR
        assert int(rows[-1]["candle_open_time"]) == first_close + (span - 1) * HOUR
        assert len(rows) == span + 1 and fold["agent"]["steps"] == span
        agent, env = fold["agent"], fold["agent_in_training_env"]
        assert agent["trades"] > 10  # the tiny agents trade: fees and turnover are exercised
        assert agent["trades"] == env["trades"]
        assert agent["total_return"] == pytest.approx(env["total_return"], abs=5e-4)
        # funding is charged (the paper exchange settles none: it comes from the journal's positions)
        assert agent["funding"] != 0 and agent["funding"] == pytest.approx(env["funding"], rel=0.05, abs=0.05)
        assert agent["turnover"] == pytest.approx(env["turnover"], rel=0.01)
        assert fold["flat"]["total_return"] == 0 and fold["buy_and_hold"]["trades"] == 1


def test_overall_figures_chain_the_folds(walkforward):
    runs_dir, wf_id, report, _ = walkforward
    overall = report["overall"]
    for name in ("agent", "buy_and_hold", "flat"):
        chained = np.prod([1 + f[name]["total_return"] for f in report["folds"]]) - 1
        assert overall[name]["total_return"] == pytest.approx(chained, abs=2e-6)
        assert overall[name]["turnover"] == pytest.approx(sum(f[name]["turnover"] for f in report["folds"]), abs=1e-5)
    equity = (runs_dir / wf_id / "equity.csv").read_text().splitlines()
    assert equity[0] == "close_time,fold,agent,buy_and_hold,flat"
    assert len(equity) == 1 + 2 * 15 * 24 + 1  # every close of both spans, the shared edge once
    assert (runs_dir / wf_id / "walkforward.html").stat().st_size > 100_000


def test_the_command_prints_folds_overall_and_a_chart(walkforward):
    _, _, report, out = walkforward
    assert re.search(r"^fold 1/2 .*agent [+-]\d+\.\d\d% vs buy-and-hold [+-]\d+\.\d\d%", out, re.M)
    assert re.search(r"^all\s+chained out of sample\s+agent", out, re.M)
    assert "the agent beat buy-and-hold in" in out and "never sees a test span" in out
    assert "out-of-sample equity" in out and "** agent" in out and "++ buy-and-hold" in out


def test_runs_lists_the_walkforward_as_a_group(walkforward):
    runs_dir, wf_id, report, _ = walkforward
    result = _sactui("runs", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"walk-forward {wf_id}: 2 folds, train 45d / test 15d / step 15d, complete" in out
    assert "out of sample, folds chained: agent" in out
    header_at = out.index(f"walk-forward {wf_id}")
    for fold in report["folds"]:
        assert out.index(f"  {fold['train_id']}") > header_at
        assert f"(fold {fold['fold']} of 2)" in out


def test_a_test_span_that_does_not_fit_is_refused_in_one_line(tmp_path):
    result = _sactui("walkforward", "--data", str(real_candle_file(CANDLES_1H)), "--start", "2024-03-01",
                     "--end", "2024-03-20", "--train-span", "45d", "--test-span", "15d", "--runs-dir", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.strip().startswith("sactui: error: the data (2024-03-01")
    assert "Traceback" not in result.stderr
