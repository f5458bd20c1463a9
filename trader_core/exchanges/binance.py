"""Binance USDⓈ-M Futures through python-binance's ``AsyncClient``: one-way mode, MARKET orders.

Safety rules this connector owns:

* **Never an order twice.** Every order carries a client order id chosen by the
  caller (deterministic per session and candle, see ``client_ids``). An unknown
  outcome (timeout, 5xx, -1001/-1007, a malformed answer) is resolved by querying
  that id for a grace window - an order may not be visible at once after a timeout.
  If the exchange still does not know it, the result is ``NOT_FOUND`` and the order
  is **never sent again**: the engine trades to a target and re-plans on the next
  candle from the position the exchange reports. If the exchange cannot be asked at
  all, the order is ``OrderOutcomeUnknown`` (the engine's emergency protocol).
  Only refusals that happen before processing (429, -1021) are sent again.
* Retries follow ``retry.classify``: -1021 resyncs the clock, 429 waits
  ``Retry-After`` (or backs off), 418 holds trading until the ban lifts, -2015/-2014/
  -1022 stop with a clear message.
* **Every answer is validated** (``payloads``): a wrong-shaped 200 is an exchange
  error under the retry rules, never an uncaught exception.
* **Close all**: cancel open orders, close reduce-only, and re-read the position
  before reporting flat.

Pointing at the loopback simulator only swaps base URLs (``Endpoints``); the code
path is the one used against Binance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Awaitable, Callable

from binance import AsyncClient

from ..clock import Clock, SystemClock
from ..credentials import Credentials
from ..errors import ConfigError, ExchangeError, OrderOutcomeUnknown, OrderRejected
from .base import (
    NOT_FOUND,
    ZERO,
    AccountState,
    CloseAllResult,
    Exchange,
    OpenOrder,
    OrderFills,
    OrderResult,
    PositionState,
    sum_fills,
    validate_client_order_id,
)
from .error_codes import BinanceError
from .filters import SymbolFilters
from .payloads import (
    parse_account,
    parse_income,
    parse_klines,
    parse_listen_key,
    parse_open_orders,
    parse_order,
    parse_orders,
    parse_position,
    parse_server_time,
    parse_user_trades,
)
from .retry import Kind, Retrier, classify, fatal_error

FINAL_STATUSES = {"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"}
#: Binance answers allOrders for at most 7 days per request.
ALL_ORDERS_SPAN_MS = 7 * 24 * 3_600_000 - 1
MAINNET_WS = "wss://fstream.binance.com/"
TESTNET_WS = "wss://fstream.binancefuture.com/"


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of a Binance-compatible server (the loopback simulator, say)."""

    rest_base: str  # e.g. http://127.0.0.1:8080 (no trailing slash)
    ws_base: str  # e.g. ws://127.0.0.1:8080/ (trailing slash)

    @classmethod
    def from_url(cls, url: str) -> "Endpoints":
        """A Binance-compatible server given by its http(s) base URL (``--endpoint``)."""
        rest = url.rstrip("/")
        if not rest.startswith(("http://", "https://")):
            raise ConfigError(f"--endpoint must be an http(s) URL, got {url!r}")
        return cls(rest, "ws" + rest[4:] + "/")


def ws_base_for(testnet: bool, endpoints: Endpoints | None) -> str:
    """The websocket base of the network (or of the server the endpoints name)."""
    if endpoints is not None:
        return endpoints.ws_base
    return TESTNET_WS if testnet else MAINNET_WS


def _client_class(endpoints: Endpoints | None, timeout_s: float) -> type[AsyncClient]:
    attrs: dict[str, Any] = {"REQUEST_TIMEOUT": timeout_s}
    if endpoints is not None:
        rest = endpoints.rest_base.rstrip("/")
        attrs.update(
            API_URL=f"{rest}/api", API_TESTNET_URL=f"{rest}/api",
            FUTURES_URL=f"{rest}/fapi", FUTURES_TESTNET_URL=f"{rest}/fapi",
        )
    return type("SactuiAsyncClient", (AsyncClient,), attrs)


class BinanceFutures(Exchange):
    def __init__(
        self, symbol: str, credentials: Credentials, *, testnet: bool = True,
        endpoints: Endpoints | None = None, clock: Clock | None = None, attempts: int = 3,
        delay_s: float = 1.0, request_timeout_s: float = 10.0, close_poll_attempts: int = 5,
        unknown_grace_s: float = 5.0, on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.symbol = symbol
        self.testnet = testnet
        self.endpoints = endpoints
        self.clock = clock or SystemClock()
        self._credentials = credentials
        self._timeout_s = request_timeout_s
        self._close_polls = close_poll_attempts
        #: How long an order whose answer was lost is looked for before it counts as not placed.
        self.unknown_grace_s = unknown_grace_s
        self.retrier = Retrier(self.clock, attempts, delay_s, resync=self.resync_clock, on_event=on_event)
        self.client: AsyncClient | None = None
        self.filters: SymbolFilters | None = None
        self.leverage: int | None = None

    @property
    def ws_base(self) -> str:
        return ws_base_for(self.testnet, self.endpoints)

    @property
    def connected(self) -> bool:
        return self.client is not None

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Open the HTTP session and sync the clock (no symbol set-up)."""
        if self.client is not None:
            return
        cls = _client_class(self.endpoints, self._timeout_s)
        try:
            self.client = await cls.create(
                self._credentials.api_key, self._credentials.api_secret, testnet=self.testnet
            )
        except Exception as exc:  # noqa: BLE001
            failure = classify(exc)
            if failure.kind is Kind.FATAL:
                raise fatal_error(failure) from None
            network = "testnet" if self.testnet else "mainnet"
            raise ExchangeError(f"cannot reach Binance {network}: {failure.message}") from None
        await self.retrier.call("server time", self.resync_clock)

    async def start(self, leverage: int, margin_type: str = "CROSSED") -> None:
        await self.connect()
        info = await self._safe("exchange info", self.client.futures_exchange_info)
        symbols = info.get("symbols", []) if isinstance(info, dict) else []
        rows = [s for s in symbols if isinstance(s, dict) and s.get("symbol") == self.symbol]
        if not rows:
            raise ConfigError(f"symbol {self.symbol} is not listed on this exchange")
        if rows[0].get("status", "TRADING") != "TRADING":
            raise ExchangeError(f"{self.symbol} is not trading (status {rows[0]['status']})")
        self.filters = SymbolFilters.from_exchange_info(rows[0])
        mode = await self._safe("position mode", self.client.futures_get_position_mode)
        if isinstance(mode, dict) and mode.get("dualSidePosition"):
            raise ExchangeError(
                "the account is in hedge mode; sactui trades one-way mode: switch Position Mode to One-way"
            )
        await self._safe(
            "set leverage", lambda: self.client.futures_change_leverage(symbol=self.symbol, leverage=leverage)
        )
        self.leverage = leverage
        try:
            await self._safe(
                "set margin type",
                lambda: self.client.futures_change_margin_type(symbol=self.symbol, marginType=margin_type),
            )
        except ExchangeError as exc:
            if exc.code != BinanceError.NO_NEED_TO_CHANGE_MARGIN_TYPE:  # "No need to change" is success
                raise

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.close_connection()

    async def resync_clock(self) -> None:
        """Align request timestamps with the server's clock (after connect and on -1021).

        python-binance stamps requests with ``time.time()``, so the offset is measured
        against the real wall clock, not the injected one (which only paces waiting).
        """
        server = parse_server_time(await self.client.futures_time())
        self.client.timestamp_offset = server - int(time.time() * 1000)

    async def _safe(self, what: str, operation: Callable[[], Awaitable[Any]]) -> Any:
        if self.client is None:
            raise ExchangeError(f"{what}: not connected to the exchange")
        return await self.retrier.call(what, operation)

    # ------------------------------------------------------------------ reads
    async def account(self) -> AccountState:
        return await self._safe("account", lambda: self._read(self.client.futures_account(), parse_account))

    async def position(self) -> PositionState:
        return await self._safe("position", lambda: self._read(
            self.client.futures_position_information(symbol=self.symbol),
            lambda payload: parse_position(payload, self.symbol, self.leverage),
        ))

    async def open_orders(self) -> list[OpenOrder]:
        return await self._safe("open orders", lambda: self._read(
            self.client.futures_get_open_orders(symbol=self.symbol), parse_open_orders))

    @staticmethod
    async def _read(request: Awaitable[Any], parse: Callable[[Any], Any]) -> Any:
        """One request and the validation of its answer: both inside the retry rules."""
        return parse(await request)

    async def klines(self, interval: str, start_ms: int | None = None, end_ms: int | None = None,
                     limit: int = 500) -> list[list]:
        """Raw kline rows, ascending; without ``end_ms`` the last row is the forming candle."""
        params: dict[str, Any] = {"symbol": self.symbol, "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return await self._safe("klines", lambda: self._read(self.client.futures_klines(**params), parse_klines))

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None only when the exchange says it does not exist."""
        try:
            return await self._safe("query order", lambda: self._read(
                self.client.futures_get_order(symbol=self.symbol, origClientOrderId=client_order_id),
                lambda payload: parse_order(payload, resolved_by_query=True),
            ))
        except ExchangeError as exc:
            if exc.code == BinanceError.NO_SUCH_ORDER:
                return None
            raise

    async def orders_since(self, start_ms: int) -> list[OrderResult]:
        """allOrders from ``start_ms`` to now, in spans of at most 7 days (Binance's limit)."""
        found: dict[int | None, OrderResult] = {}
        now = self.clock.now_ms()
        begin = max(0, int(start_ms))
        while True:
            end = min(now, begin + ALL_ORDERS_SPAN_MS)
            params = {"symbol": self.symbol, "startTime": begin, "endTime": end, "limit": 1000}
            rows = await self._safe("all orders", lambda: self._read(
                self.client.futures_get_all_orders(**params), parse_orders))
            for order in rows:
                found[order.order_id] = order
            if end >= now:
                break
            begin = end + 1
        return sorted(found.values(), key=lambda o: (o.update_ms, o.order_id or 0))

    # ------------------------------------------------------------------ account truth
    async def new_listen_key(self) -> str:
        """POST listenKey: a key for the user-data stream (the same one while it is alive)."""
        return await self._safe("listen key", lambda: self._read(
            self.client.futures_stream_get_listen_key(), parse_listen_key))

    async def keepalive_listen_key(self, key: str) -> None:
        """PUT listenKey: another 60 minutes; -1125 (the key is gone) is raised for the caller."""
        await self._safe("listen key keepalive", lambda: self.client.futures_stream_keepalive(listenKey=key))

    async def close_listen_key(self, key: str) -> None:
        await self._safe("listen key close", lambda: self.client.futures_stream_close(listenKey=key))

    async def user_trades(self, *, order_id: int | None = None, start_ms: int | None = None) -> list:
        """The account's fills of the symbol (``TradeReport``s): of one order, or since ``start_ms``."""
        params: dict[str, Any] = {"symbol": self.symbol, "limit": 1000}
        if order_id is not None:
            params["orderId"] = order_id
        if start_ms is not None:
            params["startTime"] = start_ms
        return await self._safe("user trades", lambda: self._read(
            self.client.futures_account_trades(**params), parse_user_trades))

    async def order_fills(self, order: OrderResult) -> OrderFills:
        """The order's fills from ``userTrades`` (by order id; found by client id when unknown)."""
        order_id = order.order_id
        if order_id is None:
            found = await self.get_order(order.client_order_id)
            order_id = found.order_id if found is not None else None
        if order_id is None:
            return sum_fills([])
        trades = await self.user_trades(order_id=order_id)
        return sum_fills([replace(t, client_order_id=order.client_order_id) for t in trades if t.order_id == order_id])

    async def income(self, start_ms: int) -> list[tuple[str, Decimal, int]]:
        """Income of the symbol since ``start_ms``: (type, amount, time) - REALIZED_PNL, COMMISSION, FUNDING_FEE…"""
        params = {"symbol": self.symbol, "startTime": start_ms, "limit": 1000}
        return await self._safe("income history", lambda: self._read(
            self.client.futures_income_history(**params), parse_income))

    # ------------------------------------------------------------------ orders
    async def market_order(self, quantity: Decimal, reduce_only: bool, client_order_id: str) -> OrderResult:
        validate_client_order_id(client_order_id)
        if quantity == 0:
            raise ValueError("order quantity must not be zero")
        if self.client is None:
            raise ExchangeError(f"order {client_order_id}: not connected to the exchange; nothing was sent")
        side = "BUY" if quantity > 0 else "SELL"
        qty_text = format(abs(quantity).normalize(), "f")
        last_message = ""
        for attempt in range(1, self.retrier.attempts + 1):
            self.retrier.check_not_banned()
            try:
                payload = await self.client.futures_create_order(
                    symbol=self.symbol, side=side, type="MARKET", quantity=qty_text,
                    reduceOnly="true" if reduce_only else "false",
                    newClientOrderId=client_order_id, newOrderRespType="RESULT",
                )
                result = parse_order(payload, attempt)
            except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
                failure = classify(exc)
                last_message = failure.message
                if failure.kind is Kind.REJECTED:
                    raise OrderRejected(failure.code or 0, failure.message, client_order_id) from None
                if failure.kind is Kind.TRANSIENT:
                    self.retrier.event(
                        "unknown", f"order {client_order_id}: outcome unknown ({failure.message}); asking the exchange"
                    )
                    return await self._resolve(client_order_id, side, abs(quantity), attempt)
                if attempt == self.retrier.attempts and failure.kind in (Kind.RATE_LIMIT, Kind.CLOCK):
                    break
                # Refused before processing (429, -1021): sending the same order again is safe.
                await self.retrier.handle(failure, attempt, f"order {client_order_id}")
                continue
            return await self._until_final(result)
        raise ExchangeError(
            f"order {client_order_id} not placed after {self.retrier.attempts} attempts ({last_message}); "
            "no order is open for it"
        )

    async def _resolve(self, client_order_id: str, side: str, quantity: Decimal, attempts: int) -> OrderResult:
        """After an unknown outcome: what the exchange says of the id within the grace window.

        The order as the exchange reports it; ``NOT_FOUND`` when every answer was "does
        not exist" until the window closed (never resent); ``OrderOutcomeUnknown`` when
        the exchange could not be asked at all.
        """
        interval = max(0.05, min(1.0, self.retrier.delay_s))
        deadline = self.clock.monotonic() + self.unknown_grace_s
        definite = 0
        last_error = ""
        while True:
            await self.clock.sleep(interval)
            try:
                found = await self._query_once(client_order_id)
            except ExchangeError as exc:  # includes a ban: the outcome is still unknown
                last_error = str(exc)
            else:
                if found is not None:
                    self.retrier.event("unknown", f"order {client_order_id}: found on the exchange ({found.status})")
                    return await self._until_final(found)
                definite += 1
            if self.clock.monotonic() >= deadline:
                break
        if not definite:
            raise OrderOutcomeUnknown(
                f"order {client_order_id}: outcome unknown and the exchange could not be asked ({last_error}); "
                "check the position before trading again"
            )
        self.retrier.event(
            "unknown", f"order {client_order_id}: not on the exchange after {self.unknown_grace_s:g} s; "
            "not sending it again (the next candle re-plans from the real position)"
        )
        return OrderResult(client_order_id, None, NOT_FOUND, side, quantity, ZERO, ZERO, attempts, True)

    async def _query_once(self, client_order_id: str) -> OrderResult | None:
        """One GET of the order, no retries (the grace window paces them)."""
        self.retrier.check_not_banned()
        try:
            payload = await self.client.futures_get_order(symbol=self.symbol, origClientOrderId=client_order_id)
            return parse_order(payload, resolved_by_query=True)
        except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
            failure = classify(exc)
            if failure.code == BinanceError.NO_SUCH_ORDER:
                return None
            if failure.kind is Kind.BANNED:
                await self.retrier.handle(failure, 1, f"query order {client_order_id}")  # raises TradingHeld
            raise ExchangeError(f"query order {client_order_id}: {failure.message}", code=failure.code) from None

    async def _until_final(self, result: OrderResult) -> OrderResult:
        polls = 0
        while result.status not in FINAL_STATUSES and polls < self._close_polls:
            polls += 1
            await self.clock.sleep(min(self.retrier.delay_s, 0.5))
            queried = await self.get_order(result.client_order_id)
            if queried is not None:
                result = queried
        return result

    async def cancel_all_orders(self) -> int:
        open_now = await self.open_orders()
        if open_now:
            await self._safe(
                "cancel all orders", lambda: self.client.futures_cancel_all_open_orders(symbol=self.symbol)
            )
        return len(open_now)

    async def close_all(self, order_ids: Iterator[str]) -> CloseAllResult:
        """Cancel, close reduce-only, and re-read the position after every close (bounded).

        A retry after a partial fill sends only what the re-read says is left, under the
        next id. Flat is reported only from a position read after the last close order.
        """
        orders: list[OrderResult] = []
        cancelled, polls = 0, 0
        try:
            cancelled = await self.cancel_all_orders()
            position = await self.position()
            while not position.flat and polls < self._close_polls:
                polls += 1
                try:
                    orders.append(await self.market_order(-position.quantity, True, next(order_ids)))
                except OrderRejected as exc:
                    if exc.code != BinanceError.REDUCE_ONLY_REJECT:  # -2022: flat or reduced elsewhere; re-read
                        raise
                    self.retrier.event("close", f"close-all: reduce-only rejected ({exc.code}); re-reading position")
                await self.clock.sleep(min(self.retrier.delay_s, 0.5))
                position = await self.position()
        except ExchangeError as exc:
            try:
                after = await self.position()
            except ExchangeError:
                after = None
            return CloseAllResult(cancelled, tuple(orders), bool(after and after.flat), polls,
                                  after.quantity if after else None, str(exc))
        return CloseAllResult(cancelled, tuple(orders), position.flat, polls, position.quantity)


__all__ = ["BinanceFutures", "Endpoints", "ws_base_for"]
