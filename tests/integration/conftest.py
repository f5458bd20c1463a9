"""Integration fixtures: the loopback simulator replaying real 1h candles, in manual mode."""

from __future__ import annotations

import pytest

from trader_core.candles import load_candles

from support import SIM_KEY, SIM_SECRET


@pytest.fixture(scope="session")
def candles_1h(candles_1h_path):
    return load_candles(candles_1h_path)


@pytest.fixture()
async def sim(candles_1h):
    from trader_core.simulator import LoopbackExchange

    async with LoopbackExchange(candles_1h, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=500) as exchange:
        yield exchange
