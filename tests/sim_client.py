"""python-binance, unchanged, pointed at a loopback simulator: helpers for simulator tests.

Why one module: the simulator's own tests (routes, faults, authentication) all talk
to it the way the live connector talks to Binance - an ``AsyncClient`` subclass with
the URLs swapped (reference §1) and a ``BinanceSocketManager`` with its stream URL
swapped - and every wait on the network is bounded, so a broken simulator fails a
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException

from support import SIM_KEY, SIM_SECRET, SIM_START

KEY, SECRET = SIM_KEY, SIM_SECRET  # the credentials of the shared ``sim`` fixture (tests/conftest.py)
START = SIM_START
RECV = 3.0  # bound on any single websocket wait


def client_class(sim) -> type[AsyncClient]:
    """AsyncClient pointed at the simulator, as reference §1 prescribes."""
    return type("LoopbackClient", (AsyncClient,), {
        "API_TESTNET_URL": sim.rest_base + "/api",
        "FUTURES_TESTNET_URL": sim.rest_base + "/fapi",
    })


@contextlib.asynccontextmanager
async def connect(sim, key: str = KEY, secret: str = SECRET, **kwargs):
    client = await client_class(sim).create(key, secret, testnet=True, **kwargs)
    try:
        yield client
    finally:
        await client.close_connection()


def socket_manager(client: AsyncClient, sim) -> BinanceSocketManager:
    bsm = BinanceSocketManager(client)
    bsm.FSTREAM_TESTNET_URL = sim.ws_base
    return bsm


def quick(socket):
    """Shorten python-binance's 10 s read slices so leaving the socket is fast."""
    socket.TIMEOUT = 0.2
    return socket


async def recv(socket, timeout: float = RECV):
    return await asyncio.wait_for(socket.recv(), timeout)


async def recv_json(ws, timeout: float = RECV):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_arrives(ws, within: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), within)
    except asyncio.TimeoutError:
        return True
    return False


async def api_error(coro) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as info:
        await coro
    return info.value


async def market(client, side: str, qty: str, **extra):
    return await client.futures_create_order(
        symbol="BTCUSDT", side=side, type="MARKET", quantity=qty, newOrderRespType="RESULT", **extra
    )


def resync(client: AsyncClient, server_ms: int) -> None:
    """Align the client's request timestamps with a (skewed) server clock, as the
    connector does after -1021; ``server_ms`` is the simulator's ``server_time_ms()``."""
    import time

    client.timestamp_offset = server_ms - int(time.time() * 1000)

