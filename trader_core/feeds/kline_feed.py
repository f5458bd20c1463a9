"""Closed candles of one symbol, exactly once each and in order, from Binance's websocket.

The engine must never miss a closed candle, see one twice, or act on stale data.
This feed guarantees that on top of an unreliable stream:

* history comes from REST (the last row of an open-ended klines request is the
  forming candle and is dropped);
* only ``x: true`` kline messages count as closes; closes at or before the last one
  delivered are dropped (dedupe by open time);
* a close that skips ahead triggers a REST backfill of the missing candles, which
  are delivered first, in order - so indicators equal a batch recompute afterwards;
  a close the backfill cannot confirm (a kline "far in the future") is refused and
  reported, and trading goes on;
* candles fetched from REST (backfill, catch-up) are marked ``backfilled``: by the
  time they arrive they are history, and the engine never trades on them;
* a REST failure while catching up (network, ban) is a reconnect with backoff,
  never the end of the feed;
* after every (re)connect, closes that happened while disconnected are fetched at
  once instead of waiting for the next close to reveal the gap;
* silence longer than ``stale_after_s`` (a stalled socket, which python-binance's
  client would never notice) forces a reconnect; reconnects back off exponentially
  with jitter; malformed JSON and ``{"e": "error"}`` messages are reported, not fatal.

It talks to the stream with ``websockets`` directly, on the routed
``/market/stream?streams=<symbol>@kline_<interval>`` path (python-binance's
``kline_futures_socket`` would give the *continuous* kline stream instead).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from typing import Awaitable, Callable

import websockets

from ..candles import Candle
from ..clock import Clock, SystemClock
from ..errors import DataError, ExchangeError
from ..tasks import cancel_and_wait
from ..time_utils import interval_ms

FetchKlines = Callable[[int | None, int | None, int], Awaitable[list[list]]]
MAX_KLINES_PER_REQUEST = 1500


def _row_to_candle(row: list, backfilled: bool = False) -> Candle:
    return Candle(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]),
                  backfilled)


def _kline_to_candle(k: dict) -> Candle:
    return Candle(int(k["t"]), float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"]), float(k["v"]))


class KlineFeed:
    in_process = False  # a network feed: waiting for the next candle must not block a stop

    def __init__(
        self, symbol: str, interval: str, ws_base: str, fetch_klines: FetchKlines, *,
        clock: Clock | None = None, stale_after_s: float = 60.0, reconnect_base_s: float = 1.0,
        reconnect_max_s: float = 30.0, on_event: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None, queue_size: int = 10_000,
    ) -> None:
        self.symbol = symbol
        self.interval = interval
        self.step_ms = interval_ms(interval)
        self.url = f"{ws_base.rstrip('/')}/market/stream?streams={symbol.lower()}@kline_{interval}"
        self._fetch = fetch_klines
        self.clock = clock or SystemClock()
        self.stale_after_s = stale_after_s
        self._reconnect_base = reconnect_base_s
        self._reconnect_max = reconnect_max_s
        self._on_event = on_event or (lambda kind, message: None)
        self._rng = rng or random.Random()
        self._queue: asyncio.Queue[Candle | BaseException] = asyncio.Queue(queue_size)
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()
        self.last_open_time: int | None = None  # of the last closed candle delivered
        self.forming: Candle | None = None  # latest interim update of the open candle
        self.last_message_at: float | None = None  # clock.monotonic() of the last message
        self.market_time_ms: int | None = None  # close time of the newest closed candle received
        self.connected = False
        self.reconnects = 0
        self.malformed_messages = 0
        self.backfilled = 0

    def _event(self, kind: str, message: str) -> None:
        self._on_event(kind, message)

    # ------------------------------------------------------------------ history
    async def history(self, count: int) -> list[Candle]:
        """The last ``count`` closed candles (REST); the feed continues after the last one."""
        if count + 1 > MAX_KLINES_PER_REQUEST:
            raise DataError(f"history of {count} candles exceeds one request ({MAX_KLINES_PER_REQUEST - 1})")
        rows = await self._fetch(None, None, count + 1)
        closed = [_row_to_candle(r) for r in rows[:-1]]  # the last row is the forming candle
        if len(closed) < count:
            raise DataError(
                f"the exchange returned {len(closed)} closed {self.interval} candles, {count} are needed "
                "to warm up the indicators"
            )
        closed = closed[-count:]
        self.last_open_time = closed[-1].open_time
        return closed

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.last_open_time is None:
            raise RuntimeError("call history() before start(): the feed continues from the last closed candle")
        self._task = asyncio.create_task(self._run(), name=f"kline-feed-{self.symbol}")

    async def stop(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task])
        self._task = None
        self.connected = False

    async def next_closed(self) -> Candle:
        """The next closed candle, in order; raises the feed's fatal error if it died."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def message_age_s(self) -> float | None:
        return None if self.last_message_at is None else self.clock.monotonic() - self.last_message_at

    async def closed_between(self, start_ms: int, end_ms: int) -> list[Candle]:
        """Closed candles with ``start_ms <= open time <= end_ms`` from REST (crash recovery)."""
        candles: list[Candle] = []
        begin = start_ms
        while begin <= end_ms:
            rows = [r for r in await self._fetch(begin, end_ms, MAX_KLINES_PER_REQUEST) if int(r[0]) <= end_ms]
            if not rows:
                break
            candles.extend(_row_to_candle(r, backfilled=True) for r in rows)
            begin = int(rows[-1][0]) + self.step_ms
        return candles

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    async with websockets.connect(self.url, ping_interval=20, ping_timeout=20,
                                                  open_timeout=10, close_timeout=2) as ws:
                        if failures or self.reconnects:
                            self._event("reconnect", f"market stream reconnected ({self.url})")
                        await self._catch_up()
                        self.connected = True  # subscribed and caught up: live closes come next
                        failures = 0
                        await self._read(ws)
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                    self._event("disconnect", f"market stream: {type(exc).__name__}: {exc}")
                except ExchangeError as exc:  # REST catch-up/backfill failed (network, ban): retry later
                    self._event("disconnect", f"market stream: catching up from REST failed ({exc}); reconnecting")
                self.connected = False
                if self._stop.is_set():
                    break
                failures += 1
                self.reconnects += 1
                delay = min(self._reconnect_max, self._reconnect_base * 2 ** (failures - 1))
                delay *= 0.5 + self._rng.random() / 2  # jitter: never a thundering herd
                self._event("backoff", f"market stream: reconnecting in {delay:.1f} s (attempt {failures})")
                await self.clock.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - hand the failure to the consumer, never die silently
            self._event("error", f"market feed stopped: {exc}")
            await self._queue.put(exc)

    async def _read(self, ws) -> None:
        while not self._stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=self.stale_after_s)
            except asyncio.TimeoutError:
                self._event("stale", f"no market message for {self.stale_after_s:g} s; reconnecting")
                return
            self.last_message_at = self.clock.monotonic()
            await self._handle(raw)

    async def _handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            if isinstance(message, dict) and "data" in message and "stream" in message:
                message = message["data"]
            if not isinstance(message, dict):
                raise ValueError("not an object")
            if message.get("e") == "error":
                self._event("stream-error", f"market stream error: {message.get('m', message)}")
                return
            if message.get("e") != "kline":
                return  # subscription acks and other events
            k = message["k"]
            candle = _kline_to_candle(k)
            closed = bool(k["x"])
            values = (candle.open, candle.high, candle.low, candle.close, candle.volume)
            if not all(math.isfinite(v) for v in values):
                raise ValueError("non-finite price or volume")

        except (ValueError, KeyError, TypeError) as exc:
            self.malformed_messages += 1
            self._event("malformed", f"ignored a malformed market message ({exc}): {str(raw)[:120]}")
            return
        if closed:
            await self._on_closed(candle)
        else:
            self.forming = candle

    async def _on_closed(self, candle: Candle) -> None:
        last = self.last_open_time
        if last is not None and candle.open_time <= last:
            return  # already delivered (a replayed close after reconnect, say)
        if last is not None and candle.open_time > last + self.step_ms:
            missing = (candle.open_time - last) // self.step_ms - 1
            self._event("gap", f"{missing} closed candle(s) missing before {candle.open_time}; backfilling from REST")
            await self._backfill(last + self.step_ms, candle.open_time - 1)
            if self.last_open_time != candle.open_time - self.step_ms:
                # REST does not know the candles before this close: the message is not a
                # real close (far in the future, say). Refuse it; the next real close
                # backfills whatever is still missing.
                self._event("future", f"refused a close for {candle.open_time} that the exchange's REST klines "
                            "do not confirm; trading goes on")
                return
            self._saw_close(candle.open_time)
        await self._deliver(candle)
    async def _catch_up(self) -> None:
        """Deliver every close since the last one delivered (missed while disconnected)."""
        if self.last_open_time is None:
            return
        rows = await self._fetch(self.last_open_time + self.step_ms, None, MAX_KLINES_PER_REQUEST)
        closed = rows[:-1]  # open-ended request: the last row is the forming candle
        if closed:
            self._saw_close(int(closed[-1][0]))
            self._event("catch-up", f"{len(closed)} candle(s) closed while disconnected; fetched from REST")
        for row in closed:
            await self._deliver(_row_to_candle(row, backfilled=True), backfilled=True)

    async def _backfill(self, start_ms: int, end_ms: int) -> None:
        rows = await self._fetch(start_ms, end_ms, MAX_KLINES_PER_REQUEST)
        for row in rows:
            if int(row[0]) <= end_ms:
                await self._deliver(_row_to_candle(row, backfilled=True), backfilled=True)

    def _saw_close(self, open_time: int) -> None:
        self.market_time_ms = max(self.market_time_ms or 0, open_time + self.step_ms - 1)

    async def _deliver(self, candle: Candle, backfilled: bool = False) -> None:
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            return
        self.last_open_time = candle.open_time
        self._saw_close(candle.open_time)
        if backfilled:
            self.backfilled += 1
        await self._queue.put(candle)
