"""Console fixtures: the loopback simulator, a real engine to host, a frozen one to photograph.

The real engine is ``tests/support.py``'s ``EngineHarness`` (the python-binance
connector and the kline feed against the simulator in manual mode); the console
runs its ``engine.run()`` as its own worker, exactly as it runs ``run_session``.
Helpers the tests call live in ``tui_support.py`` (conftest modules are not importable).
"""

from __future__ import annotations

import pytest

from support import EngineHarness, engine_settings


@pytest.fixture()
def harness(sim, tiny_run, tmp_path):
    """Build (not start) a real engine against the simulator: ``harness(adopt=..., mode=...)``."""
    made = []

    def make(adopt: bool = False, mode: str = "sim", max_drawdown: float = 0.5, streams: bool = False,
             agent=None, **settings) -> EngineHarness:
        h = EngineHarness(sim, tiny_run, tmp_path / "production", engine_settings(adopt, max_drawdown, **settings),
                          mode=mode, streams=streams, agent=agent)
        made.append(h)
        return h

    yield make
    for h in made:
        h.session.journal.close()
