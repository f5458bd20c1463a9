"""The websocket side: market-data connections (kline, continuousKline, markPrice) and user-data connections.

Why: a bot's view of the market and of its own fills arrives here, so this hub must
look like Binance's fstream to a real client (both the routed ``/market`` and
``/private`` paths of python-binance >= 1.0.36 and the legacy unrouted ones), and it
is where the stream faults act: drop (close now), stall (stay open, say nothing).

Each connection is registered before its handshake completes and gets its own
outgoing queue and writer task, so a message published right after a client
connects is never lost and a slow client never blocks the candle clock.

A connection may combine streams (``/market/stream?streams=btcusdt@kline_1h/
btcusdt@markPrice@1s``); each message goes only to the connections subscribed to
its stream. Every connection remembers when it opened (server clock), so Binance's
24-hour cut can close the old ones (``close_older_than``), and the user connections
can be dropped on their own, their key staying valid (``drop_user``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from . import mark
from .listen_keys import ListenKeys
from .market import KlineState, MarketReplay

log = logging.getLogger(__name__)

#: Binance pings every 3 minutes.
PING_INTERVAL_S = 180.0
#: A client this many messages behind is disconnected, as Binance drops slow consumers.
MAX_BACKLOG = 10_000
#: Close code for a request the server will not serve (unknown stream, bad key).
POLICY_VIOLATION = 1008


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


class StreamError(ValueError):
    """A stream name or listen key the simulator does not serve (sent to the client as text)."""


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    kind: str  # "market" or "user"
    combined: bool = False
    streams: list[str] = field(default_factory=list)
    listen_key: str = ""
    opened_ms: int = 0  # server clock
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closing: bool = False

    def push(self, text: str) -> None:
        if not self.closing:
            self.queue.put_nowait(text)


class StreamHub:
    """All websocket connections of one simulator."""

    def __init__(
        self,
        market: MarketReplay,
        symbol: str,
        listen_keys: ListenKeys,
        is_stalled: Callable[[], bool],
        marks_stalled: Callable[[], bool],
        lose_user_event: Callable[[dict], bool],
        server_ms: Callable[[], int],
    ) -> None:
        self._market = market
        self.symbol = symbol
        self._keys = listen_keys
        self._is_stalled = is_stalled
        self._marks_stalled = marks_stalled
        self._lose_user_event = lose_user_event
        self._server_ms = server_ms
        self._kline_name = f"{symbol.lower()}@kline_{market.interval}"
        self._continuous_name = f"{symbol.lower()}_perpetual@continuousKline_{market.interval}"
        #: mark stream name -> market seconds between its messages in timed mode
        self.mark_streams = mark.stream_names(symbol)
        self.market_connections: set[_Connection] = set()
        self.user_connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task] = set()
        #: Market messages actually queued for sending (for tests and diagnostics).
        self.sent_market_messages = 0

    # ------------------------------------------------------------------ names

    @property
    def served_streams(self) -> tuple[str, ...]:
        return (self._kline_name, self._continuous_name, *self.mark_streams)

    def check_stream(self, name: str, route: str) -> None:
        """Raise ``StreamError`` with a clear text unless ``name`` is served on ``route``."""
        if name in self.served_streams:
            if route == "public":
                raise StreamError(
                    f"stream '{name}' is a /market stream: Binance serves klines and mark prices on "
                    "/market, not /public (use BinanceSocketManager's default category)"
                )
            return
        if re.fullmatch(r"[a-z0-9_]+@(kline|continuousKline)_\w+", name):
            raise StreamError(
                f"unknown stream '{name}': this simulator replays {self.symbol} {self._market.interval} "
                f"candles only, as '{self._kline_name}' or '{self._continuous_name}'"
            )
        served = "', '".join(self.served_streams)
        raise StreamError(
            f"unknown stream '{name}': the simulator serves only '{served}' "
            "(stream names are case-sensitive, symbol in lower case)"
        )

    # ------------------------------------------------------------------ serving

    async def serve_market(self, request: web.Request, streams: list[str], combined: bool, route: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_S)
        error = None
        for name in streams:
            try:
                self.check_stream(name, route)
            except StreamError as exc:
                error = str(exc)
                break
        conn = _Connection(ws, "market", combined=combined, streams=[] if error else list(dict.fromkeys(streams)),
                           opened_ms=self._server_ms())
        if error is None:
            self.market_connections.add(conn)  # before the handshake: nothing published is lost
        try:
            await ws.prepare(request)
            if error is not None:
                await self._refuse(ws, error)
                return ws
            await self._run(conn)
        finally:
            self.market_connections.discard(conn)
        return ws

    async def serve_user(self, request: web.Request, listen_key: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_S)
        conn = _Connection(ws, "user", listen_key=listen_key, opened_ms=self._server_ms())
        active = self._keys.is_active(listen_key)
        if active:
            self.user_connections.add(conn)
        try:
            await ws.prepare(request)
            if not active:
                await self._refuse(ws, f"listenKey '{listen_key}' does not exist or has expired: "
                                       "POST /fapi/v1/listenKey for a new one")
                return ws
            await self._run(conn)
        finally:
            self.user_connections.discard(conn)
        return ws

    async def refuse(self, request: web.Request, message: str) -> web.StreamResponse:
        """Accept the handshake only to say why the path is not served, then close."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._refuse(ws, message)
        return ws

    @staticmethod
    async def _refuse(ws: web.WebSocketResponse, message: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send_str(_dumps({"e": "error", "m": message}))
            await ws.close(code=POLICY_VIOLATION, message=message[:120].encode())

    async def _run(self, conn: _Connection) -> None:
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._on_client_message(conn, msg.data)
                    if reply is not None:
                        conn.push(reply)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _writer(self, conn: _Connection) -> None:
        try:
            while True:
                text = await conn.queue.get()
                if text is None:
                    break
                await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("websocket writer stopped: %s", exc)

    def _on_client_message(self, conn: _Connection, text: str) -> str | None:
        """Live subscription requests: SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS."""
        try:
            request = json.loads(text)
        except ValueError:
            return _dumps({"code": 3, "msg": "Invalid JSON: expected value"})
        if not isinstance(request, dict):
            return _dumps({"code": 3, "msg": "Invalid JSON: expected an object"})
        method, rid = request.get("method"), request.get("id")
        params = request.get("params") or []
        if method == "LIST_SUBSCRIPTIONS":
            return _dumps({"result": list(conn.streams), "id": rid})
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return _dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": rid})
        if conn.kind == "market" and method == "SUBSCRIBE":
            for name in params:
                try:
                    self.check_stream(str(name), "market")
                except StreamError as exc:
                    self._close_soon(conn, str(exc))
                    return None
            conn.streams.extend(n for n in params if n not in conn.streams)
            self.market_connections.add(conn)
        elif conn.kind == "market":
            conn.streams = [n for n in conn.streams if n not in params]
        return _dumps({"result": None, "id": rid})

    def _close_soon(self, conn: _Connection, message: str) -> None:
        conn.closing = True
        self.market_connections.discard(conn)
        self._spawn(self._refuse(conn.ws, message))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ publishing

    def publish_kline(self, state: KlineState, event_ms: int) -> int:
        """Queue a kline update for every subscriber (nothing while stalled); returns the count."""
        if self._is_stalled() or not self.market_connections:
            return 0
        symbol = self.symbol
        plain = _dumps({"e": "kline", "E": event_ms, "s": symbol, "k": self._market.ws_body(state, symbol)})
        continuous = _dumps({"e": "continuous_kline", "E": event_ms, "ps": symbol, "ct": "PERPETUAL",
                             "k": self._market.ws_body(state, None)})
        return self._publish({self._kline_name: plain, self._continuous_name: continuous})

    def publish_mark(self, payload: dict, names: set[str] | None = None) -> int:
        """Queue a ``markPriceUpdate`` for the subscribers of ``names`` (every mark stream
        when None; nothing while stalled); returns how many were queued."""
        if self._is_stalled() or self._marks_stalled() or not self.market_connections:
            return 0
        text = _dumps(payload)
        return self._publish({name: text for name in (names if names is not None else self.mark_streams)})

    def kline_connections(self) -> list[_Connection]:
        """The market connections subscribed to this symbol's klines (a trader's candle feed)."""
        names = (self._kline_name, self._continuous_name)
        return [c for c in self.market_connections if any(n in c.streams for n in names)]

    def mark_subscribers(self, name: str) -> bool:
        return any(name in conn.streams for conn in self.market_connections)

    def _publish(self, texts: dict[str, str]) -> int:
        """Queue ``texts[name]`` on every connection subscribed to ``name``."""
        sent = 0
        for conn in list(self.market_connections):
            for name in conn.streams:
                data = texts.get(name)
                if data is None:
                    continue
                conn.push(f'{{"stream":"{name}","data":{data}}}' if conn.combined else data)
                sent += 1
            if conn.queue.qsize() > MAX_BACKLOG:
                self._close_soon(conn, "connection dropped: the client is not reading fast enough")
        self.sent_market_messages += sent
        return sent

    def publish_raw_market(self, data: dict) -> int:
        """Send ``data`` as it is to every kline subscriber (a message Binance should never
        send: a kline from the future, a wrong shape); returns how many were queued."""
        text = _dumps(data)
        return self._publish({self._kline_name: text, self._continuous_name: text})

    def publish_user(self, event: dict) -> None:
        """Queue a user-data event for every connection whose listen key is still active."""
        if self._lose_user_event(event):
            return
        text = _dumps(event)
        for conn in list(self.user_connections):
            if self._keys.is_active(conn.listen_key):
                conn.push(text)
            else:
                self.expire(conn.listen_key)

    def expire(self, listen_key: str) -> None:
        """Tell the key's connections it expired and close them (DELETE or timeout)."""
        for conn in [c for c in self.user_connections if c.listen_key == listen_key]:
            self.user_connections.discard(conn)
            conn.push(_dumps({"e": "listenKeyExpired", "E": self._server_ms(), "listenKey": listen_key}))
            conn.closing = True
            self._spawn(self._close_after_flush(conn, 1000))

    async def _close_after_flush(self, conn: _Connection, code: int) -> None:
        for _ in range(100):
            if conn.queue.empty():
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)

    # ------------------------------------------------------------------ faults and shutdown

    def drop_market(self, code: int = 1001) -> asyncio.Task:
        """Close every market connection now with ``code`` (returns the closing task)."""
        return self._drop(list(self.market_connections), code, b"simulated drop")

    def drop_user(self, code: int = 1001) -> asyncio.Task:
        """Close every user-data connection now with ``code``; their listen keys stay valid."""
        return self._drop(list(self.user_connections), code, b"simulated drop")

    def close_older_than(self, cutoff_ms: int, code: int = 1001) -> tuple[int, asyncio.Task | None]:
        """Close every connection opened before ``cutoff_ms`` (server clock): Binance's
        24-hour cut. Returns how many, and the closing task (None when none was old)."""
        old = [c for c in self.market_connections | self.user_connections if c.opened_ms < cutoff_ms]
        if not old:
            return 0, None
        return len(old), self._drop(old, code, b"connection older than its maximum age")

    def _drop(self, conns: list[_Connection], code: int, message: bytes) -> asyncio.Task:
        for conn in conns:
            self.market_connections.discard(conn)
            self.user_connections.discard(conn)
            conn.closing = True

        async def close_all() -> None:
            await asyncio.gather(*(self._close(c, code, message) for c in conns))

        return self._spawn(close_all())

    @staticmethod
    async def _close(conn: _Connection, code: int, message: bytes) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.close(code=code, message=message), 2.0)

    async def close_all(self) -> None:
        conns = list(self.market_connections | self.user_connections)
        self.market_connections.clear()
        self.user_connections.clear()
        await asyncio.gather(*(self._close(c, 1001, b"simulator shutting down") for c in conns))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
