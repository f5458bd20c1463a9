"""Shared fixtures: the real candle files and one tiny, really trained run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "btcusdt"
BUNDLED_DATA = REPO / "data" / "btcusdt"
CANDLES_1H = "binance_usdm_BTCUSDT_1h_20240101_20250119.csv"
FUNDING_8H = "binance_usdm_BTCUSDT_funding_8h_20240221_20250118.csv"
REAL_CANDLE_FILES = (
    CANDLES_1H,
    "binance_usdm_BTCUSDT_5m_20231101_20241230.csv",
    "binance_usdm_BTCUSDT_1m_20230718_20230817.csv",
)


def real_candle_file(name: str) -> Path:
    """A real candle file: the shared data set, or the repo's bundled copy of it."""
    for folder in (SHARED_DATA, BUNDLED_DATA):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"real candle file {name} is not on this machine")


@pytest.fixture(scope="session")
def candles_1h_path() -> Path:
    return real_candle_file(CANDLES_1H)


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, candles_1h_path):
    """A real SAC run, trained for a few hundred steps on ~3 months of real 1h candles."""
    from trader_core.training.trainer import TrainingRequest, train

    runs_dir = tmp_path_factory.mktemp("runs")
    run = train(
        TrainingRequest(
            data=candles_1h_path, start="2024-03-01", end="2024-06-01", timesteps=300,
            batch_size=64, window_size=8, learning_starts=100, episode_length=200,
            runs_dir=runs_dir, train_id="tiny", progress_bar=False,
            funding=real_candle_file(FUNDING_8H),
        ),
        say=lambda _: None,
    )
    return runs_dir, run.train_id


@pytest.fixture()
def tiny_run(tiny_run_dir):
    from trader_core.runs import TrainingRun

    runs_dir, train_id = tiny_run_dir
    return TrainingRun.load(train_id, runs_dir)


@pytest.fixture()
def tiny_run_copy(tiny_run_dir, tmp_path):
    """A private copy of the tiny run that a test may damage."""
    import shutil

    runs_dir, train_id = tiny_run_dir
    target = tmp_path / "runs"
    shutil.copytree(runs_dir / train_id, target / train_id)
    return target, train_id
