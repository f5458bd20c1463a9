"""The kline feed over real websockets: no missed, no duplicated closed candle, whatever breaks."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from trader_core.candles import Candle
from trader_core.features import FeatureSet
from support import make_connector
from trader_core.feeds.kline_feed import KlineFeed

HISTORY = 100


@pytest.fixture()
async def rest(sim):
    ex = make_connector(sim)
    await ex.connect()
    yield ex
    await ex.close()


def make_feed(sim, rest, stale_after_s=30.0, events=None):
    async def fetch(start_ms, end_ms, limit):
        return await rest.klines(sim.interval, start_ms, end_ms, limit)

    return KlineFeed(
        "BTCUSDT", sim.interval, sim.ws_base, fetch, stale_after_s=stale_after_s,
        reconnect_base_s=0.05, reconnect_max_s=0.2,
        on_event=(lambda kind, message: events.append(kind)) if events is not None else None,
    )


async def wait_connected(feed, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        if feed.connected:
            await asyncio.sleep(0.05)  # let the subscription settle
            return
        await asyncio.sleep(0.01)
    raise AssertionError("feed never connected")


async def collect(feed, n, timeout=10.0):
    return [await asyncio.wait_for(feed.next_closed(), timeout) for _ in range(n)]


def expected(sim, start, stop):
    rows = sim.candles.iloc[start:stop]
    return [Candle(int(r.open_time), r.open, r.high, r.low, r.close, r.volume) for r in rows.itertuples(index=False)]


def assert_features_match_batch(history, delivered, sim):
    """Incremental features over what the feed delivered == a batch recompute over the data."""
    fs = FeatureSet.default()
    inc = fs.incremental()
    last = None
    for c in [*history, *delivered]:
        last = inc.update(c.open, c.high, c.low, c.close, c.volume)
    first_index = sim.start_index - HISTORY
    frame = sim.candles.iloc[first_index : first_index + len(history) + len(delivered)].reset_index(drop=True)
    raw, _ = fs.batch(frame)
    np.testing.assert_allclose(np.array(last.raw), raw.iloc[-1].to_numpy(), rtol=1e-9)


async def test_history_then_live_closes_in_order(sim, rest):
    feed = make_feed(sim, rest)
    history = await feed.history(HISTORY)
    assert history == expected(sim, sim.start_index - HISTORY, sim.start_index)
    feed.start()
    await wait_connected(feed)
    start = sim.current_index
    await sim.step(3)
    got = await collect(feed, 3)
    assert got == expected(sim, start, start + 3)
    assert feed.forming is not None and feed.message_age_s() is not None
    await feed.stop()


async def test_drop_loses_and_duplicates_nothing(sim, rest):
    events = []
    feed = make_feed(sim, rest, events=events)
    history = await feed.history(HISTORY)
    feed.start()
    await wait_connected(feed)
    start = sim.current_index
    await sim.step(2)
    sim.faults.drop_market_streams()
    await sim.step(3)  # these closes happen while the client is reconnecting
    await asyncio.sleep(0.3)
    await wait_connected(feed)
    await sim.step(2)
    got = await collect(feed, 7)
    assert got == expected(sim, start, start + 7)
    assert feed.reconnects >= 1 and "reconnect" in events
    await asyncio.sleep(0.1)
    assert feed._queue.empty()  # nothing delivered twice
    assert_features_match_batch(history, got, sim)
    await feed.stop()


async def test_gap_in_the_stream_is_backfilled_in_order(sim, rest):
    events = []
    feed = make_feed(sim, rest, events=events)
    history = await feed.history(HISTORY)
    feed.start()
    await wait_connected(feed)
    start = sim.current_index
    sim.faults.skip_candle_closes(3)
    await sim.step(5)
    got = await collect(feed, 5)
    assert got == expected(sim, start, start + 5)
    assert "gap" in events and feed.backfilled == 3
    assert_features_match_batch(history, got, sim)
    await feed.stop()


async def test_stalled_stream_trips_the_watchdog_and_recovers(sim, rest):
    events = []
    feed = make_feed(sim, rest, stale_after_s=0.3, events=events)
    await feed.history(HISTORY)
    feed.start()
    await wait_connected(feed)
    start = sim.current_index
    sim.faults.stall_market_streams()
    await sim.step(2)
    await asyncio.sleep(0.5)  # > stale_after_s: the watchdog must fire
    sim.faults.resume_market_streams()
    got = await collect(feed, 2)
    assert got == expected(sim, start, start + 2)
    assert "stale" in events
    await feed.stop()


async def test_malformed_and_error_messages_are_reported_not_fatal(sim, rest):
    events = []
    feed = make_feed(sim, rest, events=events)
    await feed.history(HISTORY)
    await feed._handle("{not json")
    await feed._handle(json.dumps({"e": "error", "m": "Invalid request"}))
    await feed._handle(json.dumps({"stream": "x", "data": {"e": "kline", "k": {"t": "nope"}}}))
    assert feed.malformed_messages == 2
    assert events.count("malformed") == 2 and "stream-error" in events
    assert feed._queue.empty()


async def test_duplicate_close_is_delivered_once(sim, rest):
    feed = make_feed(sim, rest)
    history = await feed.history(HISTORY)
    nxt = expected(sim, sim.start_index, sim.start_index + 1)[0]
    message = {"e": "kline", "k": {"t": nxt.open_time, "o": str(nxt.open), "h": str(nxt.high), "l": str(nxt.low),
                                   "c": str(nxt.close), "v": str(nxt.volume), "x": True}}
    await feed._handle(json.dumps(message))
    await feed._handle(json.dumps(message))
    assert await feed.next_closed() == nxt
    assert feed._queue.empty() and feed.last_open_time == nxt.open_time
    assert history[-1].open_time < nxt.open_time


async def test_nan_in_a_streamed_candle_is_reported_and_recovered_by_backfill(sim, rest):
    events = []
    feed = make_feed(sim, rest, events=events)
    await feed.history(HISTORY)
    nxt, after = expected(sim, sim.start_index, sim.start_index + 2)
    bad = {"e": "kline", "k": {"t": nxt.open_time, "o": str(nxt.open), "h": str(nxt.high), "l": str(nxt.low),
                               "c": "NaN", "v": str(nxt.volume), "x": True}}
    await feed._handle(json.dumps(bad))
    assert feed.malformed_messages == 1 and "malformed" in events and feed._queue.empty()
    await sim.step(2)  # the exchange has both candles; the next good close reveals the gap
    good = {"e": "kline", "k": {"t": after.open_time, "o": str(after.open), "h": str(after.high),
                                "l": str(after.low), "c": str(after.close), "v": str(after.volume), "x": True}}
    await feed._handle(json.dumps(good))
    assert [await feed.next_closed(), await feed.next_closed()] == [nxt, after]
