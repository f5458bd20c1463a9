"""Shared fixtures: the real candle files and one tiny, really trained run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import CANDLES_1H, FUNDING_8H, SIM_KEY, SIM_SECRET, SIM_START, real_candle_file


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


@pytest.fixture(scope="session")
def candles_1h(candles_1h_path):
    from trader_core.candles import load_candles

    return load_candles(candles_1h_path)


@pytest.fixture(scope="session")
def candles(candles_1h):
    """The same real 1h candles, under the name the simulator's own tests use."""
    return candles_1h


@pytest.fixture()
async def sim(candles_1h):
    """The loopback simulator replaying real 1h candles, in manual mode (``await sim.step()``)."""
    from trader_core.simulator import LoopbackExchange

    async with LoopbackExchange(candles_1h, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=SIM_START) as exchange:
        yield exchange


@pytest.fixture()
def procs():
    """Processes a test starts (``procs.append(popen)``): any still running is killed at the end."""
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture()
async def client(sim):
    """python-binance, unchanged, connected to ``sim`` (the simulator's own tests)."""
    from sim_client import connect

    async with connect(sim) as c:
        yield c
