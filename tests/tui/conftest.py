"""Console fixtures: the loopback simulator, a real engine to host, a frozen one to photograph.

The real engine is ``tests/support.py``'s ``EngineHarness`` (the python-binance
connector and the kline feed against the simulator in manual mode); the console
runs its ``engine.run()`` as its own worker, exactly as it runs ``run_session``.
Helpers the tests call live in ``tui_support.py`` (conftest modules are not importable).
"""

from __future__ import annotations

import pytest

from support import SIM_KEY, SIM_SECRET, EngineHarness
from trader_core.candles import load_candles
from trader_core.settings import RetrySettings, RiskSettings, Settings, TradingSettings


@pytest.fixture(scope="session")
def candles_1h(candles_1h_path):
    return load_candles(candles_1h_path)


@pytest.fixture()
async def sim(candles_1h):
    from trader_core.simulator import LoopbackExchange

    async with LoopbackExchange(candles_1h, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=500) as exchange:
        yield exchange


def engine_settings(adopt: bool = False, max_drawdown: float = 0.5) -> Settings:
    return Settings(
        risk=RiskSettings(max_drawdown=max_drawdown, stale_grace_seconds=30.0),
        retries=RetrySettings(attempts=3, delay_seconds=0.05),
        trading=TradingSettings(adopt_unknown_position=adopt),
    )


@pytest.fixture()
def harness(sim, tiny_run, tmp_path):
    """Build (not start) a real engine against the simulator: ``harness(adopt=..., mode=...)``."""
    made = []

    def make(adopt: bool = False, mode: str = "sim", max_drawdown: float = 0.5) -> EngineHarness:
        h = EngineHarness(sim, tiny_run, tmp_path / "production", engine_settings(adopt, max_drawdown), mode=mode)
        made.append(h)
        return h

    yield make
    for h in made:
        h.session.journal.close()
