"""The mark price stream (``<symbol>@markPrice@1s`` / ``@markPrice``) over real websockets.

Manual mode drives the market: each ``sim.step()`` is four updates of a 1h candle,
and every update must push exactly one mark whose price is the forming candle's
close at that moment, on every URL form the klines are served on, and on one
combined connection with the kline. Timed mode is checked for its rate cap on the
server's own timestamps (``E``), not by counting what arrived in a wall-clock window.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
import websockets

from trader_core.candles import load_funding
from trader_core.simulator import LoopbackExchange
from trader_core.simulator.mark import MAX_MESSAGES_PER_S, wall_period_s

from sim_client import KEY, SECRET, START, connect, nothing_arrives, quick, recv, recv_json, socket_manager
from support import FUNDING_8H, real_candle_file

MARK_FIELDS = {"e", "E", "s", "p", "i", "P", "r", "T"}


@pytest.fixture(scope="module")
def funding() -> pd.DataFrame:
    return load_funding(real_candle_file(FUNDING_8H))


def check_mark(message: dict) -> Decimal:
    """The §7 shape, field by field; returns the mark."""
    assert set(message) == MARK_FIELDS
    assert message["e"] == "markPriceUpdate" and message["s"] == "BTCUSDT"
    assert isinstance(message["E"], int) and isinstance(message["T"], int)
    for key in "piPr":
        assert isinstance(message[key], str) and len(message[key].split(".")[1]) == 8, (key, message[key])
    assert message["p"] == message["i"] == message["P"]  # one price: mark = index = settle estimate
    return Decimal(message["p"])


async def test_every_update_pushes_one_mark_at_the_forming_price(sim):
    async with websockets.connect(sim.ws_base + "market/stream?streams=btcusdt@markPrice@1s") as fast, \
            websockets.connect(sim.ws_base + "market/ws/btcusdt@markPrice") as slow:
        prices = []
        for _ in range(4):  # one candle: three partial updates and the close, one at a time
            await sim.step_update()
            prices.append(sim.price)
        combined = [await recv_json(fast) for _ in range(4)]
        raw = [await recv_json(slow) for _ in range(4)]
        assert await nothing_arrives(fast) and await nothing_arrives(slow)
    assert [m["stream"] for m in combined] == ["btcusdt@markPrice@1s"] * 4
    assert [check_mark(m["data"]) for m in combined] == prices
    assert [check_mark(m) for m in raw] == prices  # the 3 s stream gets every update too
    # The close of candle 500 is its real close; the partial marks walk toward it.
    assert prices[-1] == Decimal("41644.9") and len(set(prices)) > 1
    times = [m["data"]["E"] for m in combined]
    assert times == sorted(times) and abs(times[-1] - sim.server_time_ms()) < 5_000  # server clock


async def test_kline_and_mark_on_one_combined_connection_with_python_binance(sim):
    async with connect(sim) as client:
        bsm = socket_manager(client, sim)
        async with quick(bsm.futures_multiplex_socket(["btcusdt@kline_1h", "btcusdt@markPrice@1s"])) as socket:
            await sim.step()
            messages = [await recv(socket) for _ in range(8)]
        async with quick(bsm.symbol_mark_price_socket("BTCUSDT")) as marks:  # python-binance's own helper
            await sim.step()
            own = [await recv(marks) for _ in range(4)]
    streams = [m["stream"] for m in messages]
    assert streams == ["btcusdt@kline_1h", "btcusdt@markPrice@1s"] * 4  # each update: kline, then mark
    for kline, mark in zip(messages[::2], messages[1::2]):
        assert Decimal(kline["data"]["k"]["c"]) == check_mark(mark["data"])  # the mark follows the candle
    assert messages[-2]["data"]["k"]["x"] is True
    assert [m["stream"] for m in own] == ["btcusdt@markPrice@1s"] * 4
    assert check_mark(own[-1]["data"]) == sim.price


async def test_every_url_form_and_a_subscribe_message_serve_the_mark(sim):
    urls = ["market/stream?streams=btcusdt@markPrice@1s", "market/ws/btcusdt@markPrice@1s",
            "stream?streams=btcusdt@markPrice", "ws/btcusdt@markPrice@1s"]
    sockets = [await websockets.connect(sim.ws_base + url) for url in urls]
    try:
        bare = await websockets.connect(sim.ws_base + "market/ws")
        await bare.send('{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":7}')
        assert await recv_json(bare) == {"result": None, "id": 7}
        await sim.step_update()
        got = [await recv_json(ws) for ws in sockets] + [await recv_json(bare)]
        await bare.close()
    finally:
        for ws in sockets:
            await ws.close()
    bodies = [m.get("data", m) for m in got]
    assert {check_mark(b) for b in bodies} == {sim.price}
    assert ["stream" in m for m in got] == [True, False, True, False, False]
    async with websockets.connect(sim.ws_base + "public/ws/btcusdt@markPrice@1s") as public:
        assert "/market" in (await recv_json(public))["m"]  # mark prices live on /market, as klines do
    async with websockets.connect(sim.ws_base + "market/ws/ethusdt@markPrice@1s") as other:
        error = await recv_json(other)
        assert error["e"] == "error" and "btcusdt@markPrice@1s" in error["m"]


async def test_funding_rate_and_next_funding_time_come_from_the_funding_frame(candles, funding):
    # Candle 1216 of the bundled file opens at 2024-02-21 16:00, an 8 h mark, whose
    # funding row (1708531200000, 0.0001) comes after the frame's first (08:00, 0.00011242).
    start = int(candles.index[candles.open_time == 1708531200000 - 3_600_000][0])
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=start,
                                funding=funding) as sim:
        async with websockets.connect(sim.ws_base + "market/ws/btcusdt@markPrice@1s") as ws:
            await sim.step()  # candle 15:00 closes; 16:00 is current, its funding not yet settled
            before = [await recv_json(ws) for _ in range(4)]
            await sim.step()  # candle 16:00: its first update settles the 16:00 funding
            after = [await recv_json(ws) for _ in range(4)]
        async with connect(sim) as client:
            premium = await client.futures_mark_price(symbol="BTCUSDT")
    assert {(m["T"], m["r"]) for m in before} == {(1708531200000, "0.00010000")}
    assert {(m["T"], m["r"]) for m in after} == {(1708560000001, "0.00010000")}  # the next row (00:00 +1 ms)
    # REST says what the stream says.
    assert (premium["nextFundingTime"], premium["lastFundingRate"]) == (after[-1]["T"], after[-1]["r"])
    assert Decimal(premium["markPrice"]) == Decimal(after[-1]["p"])


async def test_without_funding_data_the_stream_announces_no_funding(sim):
    async with websockets.connect(sim.ws_base + "market/ws/btcusdt@markPrice@1s") as ws:
        await sim.step_update()
        message = await recv_json(ws)
    market_ms = sim.market.market_time_ms()
    assert message["r"] == "0.00000000"
    assert message["T"] % (8 * 3_600_000) == 0 and 0 < message["T"] - market_ms <= 8 * 3_600_000


async def test_stalled_streams_send_no_mark_either(sim):
    async with websockets.connect(sim.ws_base + "market/ws/btcusdt@markPrice@1s") as ws:
        sim.faults.stall_market_streams()
        await sim.step()
        assert await nothing_arrives(ws)
        sim.faults.resume_market_streams()
        await sim.step_update()
        assert check_mark(await recv_json(ws)) == sim.price


def test_timed_cadence_is_one_market_second_capped_at_four_per_wall_second():
    assert MAX_MESSAGES_PER_S == 4
    assert wall_period_s(1.0, speed=1.0) == 1.0  # real time: one a second
    assert wall_period_s(3.0, speed=1.0) == 3.0
    assert wall_period_s(1.0, speed=2.0) == 0.5
    assert wall_period_s(1.0, speed=3600.0) == 0.25  # a fast replay: capped
    assert wall_period_s(3.0, speed=7200.0) == 0.25


async def test_timed_mode_never_floods_a_client(candles):
    # One 1h candle every 10 ms of wall time: 360,000 market seconds a wall second.
    async with LoopbackExchange(candles, api_key=KEY, api_secret=SECRET, start_index=START, speed=360_000) as sim:
        async with websockets.connect(sim.ws_base + "market/stream?streams=btcusdt@markPrice@1s/btcusdt@markPrice") as ws:
            messages = [await recv_json(ws, timeout=3.0) for _ in range(6)]
    by_stream: dict[str, list[int]] = {}
    for m in messages:
        check_mark(m["data"])
        by_stream.setdefault(m["stream"], []).append(m["data"]["E"])
    for stream, times in by_stream.items():
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(gap >= 240 for gap in gaps), (stream, gaps)  # <= 4 a wall second, by the server's clock
    assert sim.current_index > START + 10  # the market itself raced ahead meanwhile
