"""Binance's push streams for one account: the user-data stream and the mark price every second.

Why: with these the engine knows the account the moment it changes - no REST round
trip between a candle's close and its order, a drawdown or liquidation guard that
watches every tick, fees and realised PnL as charged. Pushed state is trusted only
while it is complete:

* **User data** (``…/private/ws?listenKey=``): a listenKey is created at start and
  kept alive (PUT every ``keepalive_minutes``). After every (re)connect the account
  is **resynced by REST** before pushed state counts again; on ``listenKeyExpired``,
  a -1125 keepalive or a dropped socket the stream gets a new key and reconnects;
  it reconnects by itself before Binance's 24-hour cut.
* **Mark price** (``…/market/stream?streams=<symbol>@markPrice@1s``): a mark older
  than ``mark_stale_seconds`` is stale.

``AccountStreams.live`` says whether both are up and fresh; when it is False the
engine reads REST as before and says so. Reconnects back off with jitter; every
drop, resync and expiry is reported as an event.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import websockets

from ..clock import Clock
from ..errors import ExchangeError, MalformedResponse
from ..settings import StreamSettings
from ..tasks import cancel_and_wait
from .account_book import AccountBook
from .error_codes import BinanceError

Report = Callable[[str, str], None]


class _Backoff:
    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        self.base_s, self.cap_s, self.rng = base_s, cap_s, rng
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        delay = min(self.cap_s, self.base_s * 2 ** (self.failures - 1))
        return delay * (0.5 + self.rng.random() / 2)

    def reset(self) -> None:
        self.failures = 0


class UserDataStream:
    """The user-data websocket, its listenKey, and the REST resync after every (re)connect."""

    def __init__(self, exchange, book: AccountBook, clock: Clock, settings: StreamSettings, report: Report,
                 *, reconnect_base_s: float = 0.5, reconnect_max_s: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.exchange = exchange  # BinanceFutures: listen keys, account/position REST, ws_base
        self.book = book
        self.clock = clock
        self.settings = settings
        self._report = report
        self._backoff = _Backoff(reconnect_base_s, reconnect_max_s, rng or random.Random())
        self.connected = False
        self.reconnects = 0
        self.resyncs = 0
        self.expiries = 0
        self.key: str | None = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="user-data-stream")

    async def stop(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task])
        self.connected = False
        self.book.unsync()
        if self.key is not None:
            try:
                await self.exchange.close_listen_key(self.key)
            except Exception:  # noqa: BLE001 - closing: the key expires by itself
                pass

    async def resync(self) -> None:
        """Read the account and the position by REST and make them the book's truth."""
        account, position = await asyncio.gather(self.exchange.account(), self.exchange.position())
        self.book.resync(account, position)
        self.resyncs += 1

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.key = await self.exchange.new_listen_key()
                url = f"{self.exchange.ws_base}private/ws?listenKey={self.key}"
                async with websockets.connect(url, ping_interval=20, ping_timeout=20, open_timeout=10,
                                              close_timeout=2) as ws:
                    await self.resync()  # pushed state counts only from a REST snapshot on
                    self.connected = True
                    if self.reconnects:
                        self._report("stream", "user-data stream reconnected and resynced from REST")
                    self._backoff.reset()
                    await self._session(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException, ExchangeError) as exc:
                self._report("stream-down", f"user-data stream: {type(exc).__name__}: {exc}")
            finally:
                self.connected = False
                self.book.unsync()
            if self._stop.is_set():
                break
            self.reconnects += 1
            await self.clock.sleep(self._backoff.next())

    async def _session(self, ws) -> None:
        """Read until the socket drops, the key expires, or it is time to reconnect before the 24 h cut."""
        opened = self.clock.monotonic()
        keepalive_s = self.settings.keepalive_minutes * 60
        cut_s = self.settings.reconnect_hours * 3600
        next_keepalive = opened + keepalive_s
        while not self._stop.is_set():
            now = self.clock.monotonic()
            if now - opened >= cut_s:
                self._report("stream", "user-data stream: reconnecting before the 24-hour cut")
                return
            if now >= next_keepalive:
                if not await self._keepalive():
                    return
                next_keepalive = now + keepalive_s
            wait = max(0.05, min(next_keepalive, opened + cut_s) - now)
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=wait)
            except asyncio.TimeoutError:
                continue
            if not self._handle(raw):
                return

    async def _keepalive(self) -> bool:
        try:
            await self.exchange.keepalive_listen_key(self.key)
            return True
        except ExchangeError as exc:
            if exc.code == BinanceError.INVALID_LISTEN_KEY:
                self.expiries += 1
                self._report("stream-down", "user-data stream: the listenKey is gone (-1125); a new key, then resync")
                return False
            self._report("stream-down", f"user-data stream keepalive failed: {exc}")
            return True  # the key lives 60 minutes: the next keepalive may work

    def _handle(self, raw: str | bytes) -> bool:
        """Apply one message; False when the stream must reconnect (the key expired)."""
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                raise MalformedResponse("not an object")
            if message.get("e") == "listenKeyExpired":
                self.expiries += 1
                self._report("stream-down", "user-data stream: listenKey expired; a new key, then resync")
                return False
            kind = self.book.apply(message)
            if kind == "margin_call":
                self._report("margin-call", f"MARGIN_CALL from the exchange: {str(message)[:160]}")
        except (ValueError, MalformedResponse) as exc:
            self.book.malformed += 1
            self._report("malformed", f"ignored a malformed user-data message ({exc}): {str(raw)[:120]}")
        return True


class MarkPriceStream:
    """``<symbol>@markPrice@1s``: the mark every unrealised figure and every guard uses."""

    def __init__(self, ws_base: str, symbol: str, book: AccountBook, clock: Clock, report: Report,
                 *, reconnect_base_s: float = 0.5, reconnect_max_s: float = 30.0,
                 rng: random.Random | None = None) -> None:
        self.url = f"{ws_base.rstrip('/')}/market/stream?streams={symbol.lower()}@markPrice@1s"
        self.book = book
        self.clock = clock
        self._report = report
        self._backoff = _Backoff(reconnect_base_s, reconnect_max_s, rng or random.Random())
        self.connected = False
        self.last_message_at: float | None = None
        self.reconnects = 0
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mark-price-stream")

    async def stop(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task])
        self.connected = False

    def age_s(self) -> float | None:
        return None if self.last_message_at is None else self.clock.monotonic() - self.last_message_at

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, ping_interval=20, ping_timeout=20, open_timeout=10,
                                              close_timeout=2) as ws:
                    self.connected = True
                    if self.reconnects:
                        self._report("stream", "mark price stream reconnected")
                    self._backoff.reset()
                    async for raw in ws:
                        self._handle(raw)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                self._report("stream-down", f"mark price stream: {type(exc).__name__}: {exc}")
            finally:
                self.connected = False
            if self._stop.is_set():
                break
            self.reconnects += 1
            await self.clock.sleep(self._backoff.next())

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            if isinstance(message, dict) and "data" in message and "stream" in message:
                message = message["data"]
            if not isinstance(message, dict) or message.get("e") != "markPriceUpdate":
                return
            self.book.on_mark(message)
            self.last_message_at = self.clock.monotonic()
        except (ValueError, MalformedResponse) as exc:
            self.book.malformed += 1
            self._report("malformed", f"ignored a malformed mark price message ({exc}): {str(raw)[:120]}")


class AccountStreams:
    """The book and the two streams that keep it, started and stopped together."""

    def __init__(self, exchange, clock: Clock, settings: StreamSettings, report: Report, *, leverage: int,
                 reconnect_base_s: float = 0.5, reconnect_max_s: float = 30.0) -> None:
        self.settings = settings
        self.book = AccountBook(exchange.symbol, leverage)
        self.user = UserDataStream(exchange, self.book, clock, settings, report, reconnect_base_s=reconnect_base_s,
                                   reconnect_max_s=reconnect_max_s)
        self.mark = MarkPriceStream(exchange.ws_base, exchange.symbol, self.book, clock, report,
                                    reconnect_base_s=reconnect_base_s, reconnect_max_s=reconnect_max_s)

    def start(self) -> None:
        self.user.start()
        self.mark.start()

    async def stop(self) -> None:
        await self.mark.stop()
        await self.user.stop()

    @property
    def live(self) -> bool:
        """The pushed account is complete and the mark fresh: the decision may read the book."""
        age = self.mark.age_s()
        return (self.user.connected and self.book.synced and self.mark.connected and age is not None
                and age <= self.settings.mark_stale_seconds)

    async def wait_live(self, timeout_s: float) -> bool:
        """Until the streams are live (start-up), or the timeout."""
        return await self.book.wait_until(lambda: self.live, timeout_s)
