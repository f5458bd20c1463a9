"""Binance USDⓈ-M Futures through python-binance's ``AsyncClient``: one-way mode, MARKET orders.

Safety rules this connector owns:

* **Never an order twice.** Every order carries a client order id chosen by the
  caller (deterministic per session and candle) and handed to ``on_intent`` *before*
  the POST. An unknown outcome (timeout, 5xx, -1001/-1007, a broken response) is
  resolved by querying that id; only an explicit "does not exist" (-2013) allows a
  resend, with the same id. A network error while querying is *not* "not found": it
  is retried, and if it stays unknown the order is reported as ``OrderOutcomeUnknown``.
* Retries follow ``retry.classify``: -1021 resyncs the clock, 429 waits
  ``Retry-After`` (or backs off), 418 holds trading until the ban lifts, -2015/-2014/
  -1022 stop with a clear message.
* **Close all**: cancel open orders, close reduce-only, poll until flat (bounded).

Pointing at the loopback simulator only swaps base URLs (``Endpoints``); the code
path is the one used against Binance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Awaitable, Callable

from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from ..candles import Candle
from ..clock import Clock, SystemClock
from ..credentials import Credentials
from ..errors import ConfigError, ExchangeError, OrderOutcomeUnknown, OrderRejected
from .base import (
    ZERO, AccountState, CloseAllResult, Exchange, OpenOrder, OrderResult, PositionState,
    validate_client_order_id,
)
from .filters import SymbolFilters
from .retry import Kind, Retrier, classify, fatal_error

FINAL_STATUSES = {"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"}


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of a Binance-compatible server (the loopback simulator, say)."""

    rest_base: str  # e.g. http://127.0.0.1:8080 (no trailing slash)
    ws_base: str  # e.g. ws://127.0.0.1:8080/ (trailing slash)


def _client_class(endpoints: Endpoints | None, timeout_s: float) -> type[AsyncClient]:
    attrs: dict[str, Any] = {"REQUEST_TIMEOUT": timeout_s}
    if endpoints is not None:
        rest = endpoints.rest_base.rstrip("/")
        attrs.update(
            API_URL=f"{rest}/api", API_TESTNET_URL=f"{rest}/api",
            FUTURES_URL=f"{rest}/fapi", FUTURES_TESTNET_URL=f"{rest}/fapi",
        )
    return type("SactuiAsyncClient", (AsyncClient,), attrs)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def order_result(payload: dict, attempts: int = 1, resolved_by_query: bool = False) -> OrderResult:
    return OrderResult(
        client_order_id=payload.get("clientOrderId", ""),
        order_id=payload.get("orderId"),
        status=payload.get("status", ""),
        side=payload.get("side", ""),
        requested_qty=_dec(payload.get("origQty")),
        executed_qty=_dec(payload.get("executedQty")),
        avg_price=_dec(payload.get("avgPrice")),
        attempts=attempts,
        resolved_by_query=resolved_by_query,
    )


def candle_from_kline_row(row: list) -> Candle:
    return Candle(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]))


class BinanceFutures(Exchange):
    def __init__(
        self, symbol: str, credentials: Credentials, *, testnet: bool = True,
        endpoints: Endpoints | None = None, clock: Clock | None = None, attempts: int = 3,
        delay_s: float = 1.0, request_timeout_s: float = 10.0, close_poll_attempts: int = 5,
        on_event: Callable[[str, str], None] | None = None,
        on_intent: Callable[[str, Decimal, bool], Awaitable[None] | None] | None = None,
    ) -> None:
        self.symbol = symbol
        self.testnet = testnet
        self.endpoints = endpoints
        self.clock = clock or SystemClock()
        self._credentials = credentials
        self._timeout_s = request_timeout_s
        self._close_polls = close_poll_attempts
        #: Called with (client order id, signed quantity, reduce_only) before every order is
        #: sent; the journal records the intent there. If it raises, nothing is sent.
        self.on_intent = on_intent
        self.retrier = Retrier(self.clock, attempts, delay_s, resync=self.resync_clock, on_event=on_event)
        self.client: AsyncClient | None = None
        self.filters: SymbolFilters | None = None
        self.leverage: int | None = None

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Open the HTTP session and sync the clock (no symbol set-up)."""
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
        await self.resync_clock()

    async def start(self, leverage: int, margin_type: str = "CROSSED") -> None:
        if self.client is None:
            await self.connect()
        info = await self._safe("exchange info", self.client.futures_exchange_info)
        rows = [s for s in info.get("symbols", []) if s.get("symbol") == self.symbol]
        if not rows:
            raise ConfigError(f"symbol {self.symbol} is not listed on this exchange")
        if rows[0].get("status", "TRADING") != "TRADING":
            raise ExchangeError(f"{self.symbol} is not trading (status {rows[0]['status']})")
        self.filters = SymbolFilters.from_exchange_info(rows[0])
        mode = await self._safe("position mode", self.client.futures_get_position_mode)
        if mode.get("dualSidePosition"):
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
            if "-4046" not in str(exc):  # "No need to change margin type." is success
                raise

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close_connection()
            self.client = None

    async def resync_clock(self) -> None:
        """Align request timestamps with the server's clock (after connect and on -1021).

        python-binance stamps requests with ``time.time()``, so the offset is measured
        against the real wall clock, not the injected one (which only paces waiting).
        """
        server = await self.client.futures_time()
        self.client.timestamp_offset = int(server["serverTime"]) - int(time.time() * 1000)

    async def _safe(self, what: str, operation: Callable[[], Awaitable[Any]]) -> Any:
        return await self.retrier.call(what, operation)

    # ------------------------------------------------------------------ reads
    async def account(self) -> AccountState:
        data = await self._safe("account", self.client.futures_account)
        return AccountState(
            wallet_balance=_dec(data["totalWalletBalance"]),
            equity=_dec(data["totalMarginBalance"]),
            available_balance=_dec(data["availableBalance"]),
            unrealized_pnl=_dec(data["totalUnrealizedProfit"]),
        )

    async def position(self) -> PositionState:
        rows = await self._safe(
            "position", lambda: self.client.futures_position_information(symbol=self.symbol)
        )
        rows = [r for r in rows if r.get("symbol") == self.symbol and r.get("positionSide", "BOTH") == "BOTH"]
        if not rows:
            return PositionState(self.symbol, ZERO, ZERO, ZERO, ZERO, None, self.leverage)
        r = rows[0]
        liquidation = _dec(r.get("liquidationPrice"))
        return PositionState(
            symbol=self.symbol, quantity=_dec(r["positionAmt"]), entry_price=_dec(r["entryPrice"]),
            mark_price=_dec(r.get("markPrice")), unrealized_pnl=_dec(r.get("unRealizedProfit")),
            liquidation_price=liquidation if liquidation > 0 else None, leverage=self.leverage,
        )

    async def open_orders(self) -> list[OpenOrder]:
        rows = await self._safe("open orders", lambda: self.client.futures_get_open_orders(symbol=self.symbol))
        return [
            OpenOrder(
                order_id=int(r["orderId"]), client_order_id=r.get("clientOrderId", ""), side=r["side"],
                order_type=r.get("type", ""), quantity=_dec(r.get("origQty")), price=_dec(r.get("price")),
                status=r.get("status", ""), reduce_only=bool(r.get("reduceOnly", False)),
            )
            for r in rows
        ]

    async def klines(self, interval: str, start_ms: int | None = None, end_ms: int | None = None,
                     limit: int = 500) -> list[list]:
        """Raw kline rows, ascending; without ``end_ms`` the last row is the forming candle."""
        params: dict[str, Any] = {"symbol": self.symbol, "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return await self._safe("klines", lambda: self.client.futures_klines(**params))

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None only when the exchange says it does not exist."""
        try:
            payload = await self._safe(
                "query order",
                lambda: self.client.futures_get_order(symbol=self.symbol, origClientOrderId=client_order_id),
            )
        except ExchangeError as exc:
            if "-2013" in str(exc):
                return None
            raise
        return order_result(payload, resolved_by_query=True)

    # ------------------------------------------------------------------ orders
    async def market_order(self, quantity: Decimal, reduce_only: bool, client_order_id: str) -> OrderResult:
        validate_client_order_id(client_order_id)
        if quantity == 0:
            raise ValueError("order quantity must not be zero")
        side = "BUY" if quantity > 0 else "SELL"
        qty_text = format(abs(quantity).normalize(), "f")
        if self.on_intent is not None:
            pending = self.on_intent(client_order_id, quantity, reduce_only)
            if pending is not None:
                await pending
        attempts = 0
        last_message = ""
        for attempt in range(1, self.retrier.attempts + 1):
            self.retrier.check_not_banned()
            attempts += 1
            try:
                payload = await self.client.futures_create_order(
                    symbol=self.symbol, side=side, type="MARKET", quantity=qty_text,
                    reduceOnly="true" if reduce_only else "false",
                    newClientOrderId=client_order_id, newOrderRespType="RESULT",
                )
            except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
                failure = classify(exc)
                last_message = failure.message
                if failure.kind is Kind.REJECTED:
                    raise OrderRejected(failure.code or 0, failure.message, client_order_id) from None
                if failure.kind is Kind.TRANSIENT:
                    self.retrier.event(
                        "unknown", f"order {client_order_id}: outcome unknown ({failure.message}); querying it"
                    )
                    found = await self._resolve(client_order_id)
                    if found is not None:
                        return await self._until_final(found, attempts)
                    self.retrier.event("retry", f"order {client_order_id} was not placed; sending it again")
                    if attempt < self.retrier.attempts:
                        await self.clock.sleep(self.retrier.delay_s)
                    continue
                if attempt == self.retrier.attempts and failure.kind in (Kind.RATE_LIMIT, Kind.CLOCK):
                    break
                await self.retrier.handle(failure, attempt, f"order {client_order_id}")
                continue
            return await self._until_final(order_result(payload, attempts), attempts)
        raise ExchangeError(
            f"order {client_order_id} not placed after {attempts} attempts ({last_message}); "
            "no order is open for it"
        )

    async def _resolve(self, client_order_id: str) -> OrderResult | None:
        """After an unknown outcome: the order if it exists, None if it certainly does not."""
        await self.clock.sleep(self.retrier.delay_s)
        try:
            return await self.get_order(client_order_id)
        except ExchangeError as exc:  # includes a ban: the outcome is still unknown
            raise OrderOutcomeUnknown(
                f"order {client_order_id}: outcome unknown and the exchange could not be asked ({exc}); "
                "check the position before trading again"
            ) from None

    async def _until_final(self, result: OrderResult, attempts: int) -> OrderResult:
        polls = 0
        while result.status not in FINAL_STATUSES and polls < self._close_polls:
            polls += 1
            await self.clock.sleep(min(self.retrier.delay_s, 0.5))
            queried = await self.get_order(result.client_order_id)
            if queried is not None:
                result = queried
        return OrderResult(
            result.client_order_id, result.order_id, result.status, result.side, result.requested_qty,
            result.executed_qty, result.avg_price, attempts, result.resolved_by_query,
        )

    async def cancel_all_orders(self) -> int:
        open_now = await self.open_orders()
        if open_now:
            await self._safe(
                "cancel all orders", lambda: self.client.futures_cancel_all_open_orders(symbol=self.symbol)
            )
        return len(open_now)

    async def close_all(self, purpose_tag: str) -> CloseAllResult:
        """Cancel, close reduce-only, and poll until the position reads flat (bounded).

        Each close attempt has its own client id (``<tag>-c<n>``) so a retry after a
        partial fill sends only what is left, never the whole position again.
        """
        cancelled = await self.cancel_all_orders()
        orders: list[OrderResult] = []
        position = await self.position()
        for poll in range(1, self._close_polls + 1):
            if position.flat:
                return CloseAllResult(cancelled, tuple(orders), True, poll - 1, ZERO)
            try:
                result = await self.market_order(-position.quantity, True, f"{purpose_tag}-c{poll}")
                orders.append(result)
            except OrderRejected as exc:
                if exc.code != -2022:  # -2022: already flat or reduced elsewhere; re-read below
                    raise
                self.retrier.event("close", f"close-all: reduce-only rejected ({exc.code}); re-reading position")
            await self.clock.sleep(min(self.retrier.delay_s, 0.5))
            position = await self.position()
        return CloseAllResult(cancelled, tuple(orders), position.flat, self._close_polls, position.quantity)


def new_client_order_tag() -> str:
    """A short random session tag for client order ids."""
    import secrets

    return secrets.token_hex(4)


__all__ = [
    "BinanceFutures", "Endpoints", "candle_from_kline_row", "order_result", "new_client_order_tag",
    "BinanceAPIException",
]
