"""``LoopbackExchange``: the simulator's front door, lifecycle and candle clock.

Why: tests, the offline mode and benchmarks need one object that starts a real HTTP
and websocket server on 127.0.0.1, tells the client where to point, advances the
replayed market on command (``step()``) or on a timer (``speed``), and exposes the
state and the fault switches for assertions. Everything else in this package is a
part this class wires together; it owns the order of events within one update of
the forming candle: a price shock ends, resting limits the range reached fill,
funding due inside the candle settles (at its first update: see ``funding``), the
kline goes out (the close: ``x=true``, then the next candle becomes current), the
mark goes out (manual mode; timed mode has its own mark clock, see ``mark``), the
margin call is checked, and connections past Binance's 24-hour age are cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from aiohttp import web

from ..candles import Candle
from ..exchanges.filters import SymbolFilters
from . import mark
from .exchange import SimulatedExchange
from .faults import MAX_CONNECTION_AGE_S, FaultInjector
from .funding import FundingSchedule
from .listen_keys import ListenKeys
from .market import MarketReplay, ReplayExhausted
from .ratelimits import RateLimiter
from .rest import OrderReceipt, RestApi, reset_connection
from .streams import StreamHub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CloseRecord:
    """One candle close: which candle, whether it went out on the websockets, and when.

    ``sent_ns`` is ``time.monotonic_ns()`` right after the close was queued for the
    subscribers, so ``OrderReceipt.received_ns - sent_ns`` is close-to-order latency.
    """

    index: int
    open_time: int
    broadcast: bool
    sent_ns: int


class LoopbackExchange:
    """A Binance USD-M futures exchange on 127.0.0.1 replaying ``candles``.

    ``speed=None`` is manual mode (only ``step()`` advances). ``speed=S`` replays one
    candle every ``interval / S`` of wall time, its partial updates evenly spread
    inside that period. Use as ``async with LoopbackExchange(...) as sim:``.
    """

    def __init__(
        self,
        candles: pd.DataFrame,
        api_key: str = "k",
        api_secret: str = "s",
        symbol: str = "BTCUSDT",
        start_index: int = 500,
        speed: float | None = None,
        initial_balance: Decimal = Decimal("10000"),
        fee_rate: Decimal = Decimal("0.0005"),
        interim_updates: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        leverage: int = 1,
        filters: SymbolFilters | None = None,
        funding: pd.DataFrame | None = None,
        enforce_rate_limits: bool = True,
        max_connection_age_s: float = MAX_CONNECTION_AGE_S,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 (or None for manual mode), got {speed}")
        if filters is None:
            filters = SymbolFilters.btcusdt_default()
            if symbol != filters.symbol:
                filters = dataclasses.replace(filters, symbol=symbol)
        self.symbol = symbol
        self.candles = candles  # the replayed frame, for tests that compare with it
        self.start_index = start_index
        self.speed = speed
        self.host = host
        self._requested_port = port
        self.market = MarketReplay(candles, start_index, filters, interim_updates)
        self.interval = self.market.interval
        self.max_connection_age_s = max_connection_age_s
        self.faults = FaultInjector(self._drop_market, self.server_time_ms, targets=_FaultTargets(self))
        self.listen_keys = ListenKeys(self.server_time_ms)
        self.streams = StreamHub(self.market, symbol, self.listen_keys, lambda: self.faults.stalled,
                                 lambda: self.faults.marks_stalled, self.faults.take_lost_user_event,
                                 self.server_time_ms)
        self.exchange = SimulatedExchange(
            symbol, filters, initial_balance, fee_rate, leverage, self.server_time_ms,
            lambda: self.market.price, self.streams.publish_user, fill_fraction=self.faults.take_partial_fill,
        )
        self.funding = FundingSchedule.from_frame(funding, int(self.market.open_times[start_index]))
        self.rest = RestApi(
            api_key=api_key, api_secret=api_secret, market=self.market, exchange=self.exchange,
            listen_keys=self.listen_keys, faults=self.faults, limiter=RateLimiter(enforce_rate_limits),
            server_ms=self.server_time_ms, funding=self.funding, on_listen_key_deleted=self.streams.expire,
        )
        self.closes: list[CloseRecord] = []
        self.finished = asyncio.Event()  # set when timed mode ran out of data (or its clock failed)
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._timer: asyncio.Task | None = None
        self._mark_clocks: list[asyncio.Task] = []
        self.port: int | None = None

    # ------------------------------------------------------------------ control API

    @property
    def rest_base(self) -> str:
        return f"http://{self.host}:{self._port()}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self._port()}/"

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("the simulator is not running: use 'async with LoopbackExchange(...)'")
        return self.port

    @property
    def current_index(self) -> int:
        return self.market.current_index

    @property
    def price(self) -> Decimal:
        """Last traded price (also the mark price): the forming candle's close so far,
        or a price shock in force."""
        return self.market.price

    def mark_payload(self) -> dict:
        """The ``markPriceUpdate`` for this moment (see ``mark``)."""
        next_ms, rate = self.funding.upcoming(self.market.market_time_ms())
        return mark.payload(self.symbol, self.market.price, rate, next_ms, self.server_time_ms())

    @property
    def orders_received(self) -> list[OrderReceipt]:
        return self.rest.orders_received

    def server_time_ms(self) -> int:
        """The server clock: real time plus ``faults.clock_skew_ms``."""
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    async def step(self, n: int = 1) -> Candle:
        """Close ``n`` candles (partial updates, then the x=true close each); returns the last closed.

        Raises ``ReplayExhausted`` when no candle is left to become current.
        """
        if n < 1:
            raise ValueError(f"step count must be >= 1, got {n}")
        closed: Candle | None = None
        for _ in range(n):
            while True:
                state = await self._advance()
                if state is not None:
                    closed = state
                    break
        assert closed is not None
        return closed

    async def step_update(self) -> Candle | None:
        """Apply one update of the forming candle (a partial update, or its close);
        returns the closed Candle, or None for a partial update. Raises ``ReplayExhausted``
        like ``step``. For tests that look inside a candle (the mark on each update)."""
        return await self._advance()

    # ------------------------------------------------------------------ the candle clock

    async def _advance(self) -> Candle | None:
        """Apply one update of the forming candle; returns the Candle when it closed."""
        async with self._lock:
            market = self.market
            market.ensure_can_advance()
            index = market.current_index
            state = market.advance()  # ends a price shock
            self.exchange.match_resting(state.high, state.low)
            self._settle_funding(index)
            if not state.closed:
                self.streams.publish_kline(state, market.market_time_ms())
                self._after_update()
                return None
            skipped = self.faults.take_skip_close()
            sent = 0 if skipped else self.streams.publish_kline(state, state.close_time)
            self.closes.append(CloseRecord(index, state.open_time, not skipped and sent > 0,
                                           time.monotonic_ns()))
            # The next candle is current now, with no trade yet: the price stays at this
            # close until its first update (whose range may then cross a resting limit).
            self._after_update()
            await asyncio.sleep(0)  # let writers run before the caller continues
            return market.candle(index)

    def _after_update(self) -> None:
        """What follows every change of the market: the mark (manual mode), the margin
        call check, and Binance's 24-hour cut of old connections."""
        if self.speed is None:
            self.streams.publish_mark(self.mark_payload())
        self.exchange.check_margin()
        count, _task = self.streams.close_older_than(
            self.server_time_ms() - int(self.max_connection_age_s * 1000))
        if count:
            log.info("closed %d websocket connection(s) older than %g s", count, self.max_connection_age_s)

    def _settle_funding(self, index: int) -> None:
        """Funding due inside candle ``index`` settles now (its first update), at the
        candle's open as the mark, as training and the backtest charge it."""
        start = int(self.market.open_times[index])
        due = self.funding.take_due(start, start + self.market.interval_ms)
        if not due:
            return
        open_price = self.market.kline(index).open
        for _time, rate in due:
            self.exchange.apply_funding(rate, open_price)

    # ------------------------------------------------------------------ price shocks

    def _start_price_shock(self, price: Decimal | None, fraction: Decimal | None) -> Decimal:
        """See ``FaultInjector.price_shock``: set the price, push the mark, fill what it
        crosses, check the margin call."""
        base = self.market.price
        target = price if price is not None else base * (1 + fraction)
        tick = self.market.filters.tick_size
        target = ((target / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick).quantize(tick)
        if target <= 0:
            raise ValueError(f"a price shock must leave a positive price, got {target}")
        self.market.shock_price = target
        self.exchange.match_resting(target, target)
        self.streams.publish_mark(self.mark_payload())
        self.exchange.check_margin()
        return target

    def _end_price_shock(self) -> bool:
        if self.market.shock_price is None:
            return False
        self.market.shock_price = None
        self.streams.publish_mark(self.mark_payload())
        self.exchange.check_margin()
        return True

    async def _run_timed(self) -> None:
        assert self.speed is not None
        pause = self.market.interval_ms / self.speed / 1000 / self.market.updates_per_candle
        try:
            while True:
                await asyncio.sleep(pause)
                await self._advance()
        except ReplayExhausted as exc:
            log.info("replay finished: %s", exc)
            self.finished.set()
        except Exception:  # a bug must not silently freeze the market
            log.exception("the simulator's candle clock stopped")
            self.finished.set()
            raise

    async def _run_mark_clock(self, name: str, market_period_s: float) -> None:
        """Timed mode: one mark on stream ``name`` per ``market_period_s`` of market time,
        at most ``mark.MAX_MESSAGES_PER_S`` per wall second."""
        assert self.speed is not None
        pause = mark.wall_period_s(market_period_s, self.speed)
        while not self.finished.is_set():
            await asyncio.sleep(pause)
            if self.streams.mark_subscribers(name):
                self.streams.publish_mark(self.mark_payload(), {name})

    # ------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
        app = web.Application()
        r = app.router
        up = self._unless_down
        for prefix, route in (("/market", "market"), ("/public", "public"), ("", "legacy")):
            r.add_get(f"{prefix}/stream", up(self._ws_combined(route)))
            r.add_get(f"{prefix}/ws", up(self._ws_raw(route)))
            r.add_get(f"{prefix}/ws/{{name}}", up(self._ws_raw(route)))
        r.add_get("/private/ws", up(self._ws_private))
        r.add_get("/private/ws/{name}", up(self._ws_private))
        r.add_route("*", "/{tail:.*}", self.rest.handle)
        return app

    def _unless_down(self, handler):
        """A websocket handler that refuses new connections during an outage that asks it."""
        async def guarded(request: web.Request) -> web.StreamResponse:
            hit = self.faults.take_websocket_outage(request.path)
            if hit is None:
                return await handler(request)
            if hit.reset:
                return reset_connection(request)
            return web.json_response(hit.error.body(), status=hit.error.status)
        return guarded

    def _ws_combined(self, route: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            names = [n for n in request.query.get("streams", "").split("/") if n]
            if not names:
                return await self.streams.refuse(request, "no streams requested: use /stream?streams=<name>/<name>")
            return await self.streams.serve_market(request, names, True, route)
        return handler

    def _ws_raw(self, route: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            name = request.match_info.get("name", "")
            if route == "legacy" and name and ("@" not in name or self.listen_keys.is_active(name)):
                return await self.streams.serve_user(request, name)  # legacy /ws/<listenKey>
            names = [n for n in name.split("/") if n]
            return await self.streams.serve_market(request, names, False, route)
        return handler

    async def _ws_private(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("name") or request.query.get("listenKey", "")
        return await self.streams.serve_user(request, key)

    def _drop_market(self, code: int) -> asyncio.Task:
        return self.streams.drop_market(code)

    async def start(self) -> LoopbackExchange:
        if self._runner is not None:
            return self
        runner = web.AppRunner(self._build_app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self.port = sock.getsockname()[1]
        if self.speed is not None:
            self._timer = asyncio.create_task(self._run_timed())
            self._mark_clocks = [asyncio.create_task(self._run_mark_clock(name, period))
                                 for name, period in self.streams.mark_streams.items()]
        return self

    async def close(self) -> None:
        for task in self._mark_clocks:
            task.cancel()
        await asyncio.gather(*self._mark_clocks, return_exceptions=True)
        self._mark_clocks = []
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        self.faults.close()
        await self.streams.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackExchange:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


class _FaultTargets:
    """What ``FaultInjector``'s stream and market faults act on: this simulator."""

    def __init__(self, sim: LoopbackExchange) -> None:
        self._sim = sim

    def drop_user_streams(self, code: int) -> asyncio.Task:
        return self._sim.streams.drop_user(code)

    def cut_connections(self, opened_before_ms: int, code: int) -> tuple[int, asyncio.Task]:
        count, task = self._sim.streams.close_older_than(opened_before_ms, code)
        return count, task if task is not None else asyncio.ensure_future(asyncio.sleep(0))

    def expire_listen_key(self, key: str | None) -> str:
        keys = self._sim.listen_keys
        key = key or keys.active_key()
        if not key or not keys.is_active(key):
            raise ValueError(f"no active listen key to expire ({key or 'none issued'})")
        keys.expire_now(key)
        self._sim.streams.expire(key)
        return key

    def start_price_shock(self, price: Decimal | None, fraction: Decimal | None) -> Decimal:
        return self._sim._start_price_shock(price, fraction)

    def end_price_shock(self) -> bool:
        return self._sim._end_price_shock()
