"""Helpers shared by test modules (fixtures live in conftest.py files)."""

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
SIM_KEY, SIM_SECRET = "sactuiTestKey01", "sactui-test-secret"


def real_candle_file(name: str) -> Path:
    """A real candle file: the shared data set, or the repo's bundled copy of it."""
    for folder in (SHARED_DATA, BUNDLED_DATA):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"real candle file {name} is not on this machine")


def make_connector(sim, secret=SIM_SECRET, key=SIM_KEY, timeout_s=2.0, clock=None, events=None):
    """The real python-binance connector pointed at a loopback simulator."""
    from trader_core.clock import ManualClock
    from trader_core.credentials import Credentials
    from trader_core.exchanges.binance import BinanceFutures, Endpoints

    return BinanceFutures(
        "BTCUSDT", Credentials(key, secret), testnet=True,
        endpoints=Endpoints(sim.rest_base, sim.ws_base), clock=clock or ManualClock(),
        attempts=3, delay_s=0.05, request_timeout_s=timeout_s,
        on_event=(lambda kind, message: events.append((kind, message))) if events is not None else None,
    )
