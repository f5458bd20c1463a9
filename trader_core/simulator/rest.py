"""The REST side: Binance USD-M's routes, their security, weights and answers.

Why: python-binance's ``AsyncClient`` must work against the simulator unchanged, so
every route answers with Binance's path, JSON shape, content type, error body and
HTTP status, and authenticates the way Binance does. One dispatcher applies, in
Binance's order, an outage (nothing counted or processed), weight counting, armed
faults (which stop a request before it is processed), API-key / signature /
timestamp checks, order refusals, then the handler, then a held answer; it also
keeps the receipt of every order POST, accepted or not, for tests and benchmarks.

Account truth (reference §7) is served from the same state the user stream reports:
``userTrades`` and ``income`` from the exchange's ``ledger``, ``commissionRate`` from
the account's fee rate, ``leverageBracket`` from ``brackets``; the public
``ticker/price`` (v1 and v2) and ``ticker/bookTicker`` from the last price. The
simulator has no order book, and a MARKET order fills at the last price on either
side, so bookTicker shows that price as both bid and ask (zero spread) with the
market lot's maximum quantity on each side - a documented departure from Binance,
whose book has a spread and finite depth. Ticker times are the replay's clock, like
``premiumIndex``'s.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiohttp import web

from ..exchanges.filters import SymbolFilters
from .api_errors import ApiError, BinanceError
from .auth import check_api_key, check_signature, check_timestamp, parse_params
from .brackets import leverage_bracket
from .exchange import SimulatedExchange
from .faults import FaultInjector
from .formatting import fixed, money, shown_places
from .funding import FundingSchedule
from .listen_keys import ListenKeys
from .market import MarketReplay
from .ratelimits import RateLimiter, klines_weight

NONE, USER_STREAM, SIGNED = "NONE", "USER_STREAM", "SIGNED"
ORDER_PATH = "/fapi/v1/order"
DEFAULT_KLINES_LIMIT, MAX_KLINES_LIMIT = 500, 1500


@dataclass(frozen=True)
class OrderReceipt:
    """One POST /fapi/v1/order as the exchange received it, and what became of it.

    ``received_ns`` is ``time.monotonic_ns()`` when the request reached the server
    (on Linux the same clock as ``time.perf_counter_ns()``). ``code`` is the Binance
    error code of a refusal (including injected faults), None when accepted.
    """

    client_order_id: str
    side: str
    quantity: Decimal | None
    reduce_only: bool
    received_ns: int
    accepted: bool
    code: int | None
    order_id: int | None = None


@dataclass(frozen=True)
class _Route:
    handler: Callable[[dict[str, str]], object]
    security: str
    weight: Callable[[dict[str, str]], int]


def _const(weight: int) -> Callable[[dict[str, str]], int]:
    return lambda _params: weight


def _int_param(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise ApiError.of(BinanceError.ILLEGAL_CHARS, name, "^[0-9]{1,20}$")
    return int(raw)


def _by_symbol(with_symbol: int, without: int) -> Callable[[dict[str, str]], int]:
    """Binance's weight for a route that answers one symbol or all of them."""
    return lambda params: with_symbol if params.get("symbol") else without


def _klines_limit(params: dict[str, str]) -> int:
    try:
        return int(params.get("limit") or DEFAULT_KLINES_LIMIT)
    except ValueError:
        return DEFAULT_KLINES_LIMIT


def exchange_info_symbol(symbol: str, filters: SymbolFilters) -> dict:
    """One ``symbols`` entry of exchangeInfo (the reference's BTCUSDT row for BTCUSDT)."""
    reference = symbol == "BTCUSDT" and filters == SymbolFilters.btcusdt_default()
    tick, step = filters.tick_size, filters.step_size
    price_places, qty_places = shown_places(tick), shown_places(step)
    quote = "USDT" if symbol.endswith("USDT") else symbol[-4:]
    return {
        "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": symbol[: -len(quote)], "quoteAsset": quote,
        "marginAsset": quote, "pricePrecision": price_places, "quantityPrecision": qty_places,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "556.80" if reference else fixed(tick, price_places),
             "maxPrice": "4529764", "tickSize": fixed(tick, price_places)},
            {"filterType": "LOT_SIZE", "minQty": fixed(filters.min_qty, qty_places),
             "maxQty": "1000" if reference else fixed(filters.max_qty, qty_places), "stepSize": fixed(step, qty_places)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": fixed(filters.min_qty, qty_places),
             "maxQty": fixed(filters.max_qty, 0), "stepSize": fixed(step, qty_places)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": fixed(filters.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def _json_response(status: int, body: object, headers: dict[str, str]) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")), status=status,
        content_type="application/json", headers=headers,
    )


def reset_connection(request: web.Request) -> web.Response:
    """Reset the TCP connection (RST, no answer), as a failing load balancer does.

    SO_LINGER 0 makes the close an immediate reset, so the client sees "connection
    reset by peer" rather than a clean end of stream; the returned response is never sent.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=503)


class RestApi:
    """Routes requests to handlers over the simulator's state."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        market: MarketReplay,
        exchange: SimulatedExchange,
        listen_keys: ListenKeys,
        faults: FaultInjector,
        limiter: RateLimiter,
        server_ms: Callable[[], int],
        funding: FundingSchedule,
        on_listen_key_deleted: Callable[[str], None],
    ) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self.market = market
        self.exchange = exchange
        self.keys = listen_keys
        self.faults = faults
        self.limiter = limiter
        self.server_ms = server_ms
        self.funding = funding
        self._on_listen_key_deleted = on_listen_key_deleted
        self.orders_received: list[OrderReceipt] = []
        #: (received_ns, method, path) of every REST request, in arrival order: what a client asked, and when.
        self.requests: list[tuple[int, str, str]] = []
        #: the request weight each of ``requests`` counted (0 when refused before it was counted)
        self.request_weights: list[int] = []
        ex = exchange
        self.routes: dict[tuple[str, str], _Route] = {
            ("GET", "/api/v3/ping"): _Route(lambda p: {}, NONE, _const(1)),
            ("GET", "/api/v3/time"): _Route(self._time, NONE, _const(1)),
            ("GET", "/fapi/v1/ping"): _Route(lambda p: {}, NONE, _const(1)),
            ("GET", "/fapi/v1/time"): _Route(self._time, NONE, _const(1)),
            ("GET", "/fapi/v1/exchangeInfo"): _Route(self._exchange_info, NONE, _const(1)),
            ("GET", "/fapi/v1/klines"): _Route(self._klines, NONE, lambda p: klines_weight(_klines_limit(p))),
            ("GET", "/fapi/v1/premiumIndex"): _Route(self._premium_index, NONE, _const(1)),
            ("GET", "/fapi/v1/ticker/price"): _Route(self._ticker_price, NONE, _by_symbol(1, 2)),
            ("GET", "/fapi/v2/ticker/price"): _Route(self._ticker_price, NONE, _by_symbol(1, 2)),
            ("GET", "/fapi/v1/ticker/bookTicker"): _Route(self._book_ticker, NONE, _by_symbol(2, 5)),
            ("GET", "/fapi/v1/userTrades"): _Route(self._user_trades, SIGNED, _const(5)),
            ("GET", "/fapi/v1/income"): _Route(self._income, SIGNED, _const(30)),
            ("GET", "/fapi/v1/commissionRate"): _Route(ex.commission_rate, SIGNED, _const(20)),
            ("GET", "/fapi/v1/leverageBracket"): _Route(self._leverage_bracket, SIGNED, _const(1)),
            ("GET", "/fapi/v2/account"): _Route(lambda p: ex.account_v2(), SIGNED, _const(5)),
            ("GET", "/fapi/v3/account"): _Route(lambda p: ex.account_v3(), SIGNED, _const(5)),
            ("GET", "/fapi/v2/balance"): _Route(lambda p: ex.balance(), SIGNED, _const(5)),
            ("GET", "/fapi/v3/balance"): _Route(lambda p: ex.balance(), SIGNED, _const(5)),
            ("GET", "/fapi/v2/positionRisk"): _Route(ex.position_risk_v2, SIGNED, _const(5)),
            ("GET", "/fapi/v3/positionRisk"): _Route(ex.position_risk_v3, SIGNED, _const(5)),
            ("POST", ORDER_PATH): _Route(self._new_order, SIGNED, _const(0)),
            ("GET", ORDER_PATH): _Route(lambda p: ex.render.query(ex.find_order(p)), SIGNED, _const(1)),
            ("DELETE", ORDER_PATH): _Route(lambda p: ex.render.result(ex.cancel_order(p)), SIGNED, _const(1)),
            ("GET", "/fapi/v1/openOrders"): _Route(
                self._open_orders, SIGNED, lambda p: 1 if p.get("symbol") else 40),
            ("GET", "/fapi/v1/allOrders"): _Route(self._all_orders, SIGNED, _const(5)),
            ("DELETE", "/fapi/v1/allOpenOrders"): _Route(self._cancel_all, SIGNED, _const(1)),
            ("POST", "/fapi/v1/leverage"): _Route(ex.change_leverage, SIGNED, _const(1)),
            ("POST", "/fapi/v1/marginType"): _Route(ex.change_margin_type, SIGNED, _const(1)),
            ("GET", "/fapi/v1/symbolConfig"): _Route(ex.symbol_config, SIGNED, _const(5)),
            ("GET", "/fapi/v1/positionSide/dual"): _Route(
                lambda p: {"dualSidePosition": False}, SIGNED, _const(30)),
            ("POST", "/fapi/v1/listenKey"): _Route(lambda p: {"listenKey": self.keys.create()}, USER_STREAM, _const(1)),
            ("PUT", "/fapi/v1/listenKey"): _Route(
                lambda p: {"listenKey": self.keys.keepalive(p.get("listenKey", ""))}, USER_STREAM, _const(1)),
            ("DELETE", "/fapi/v1/listenKey"): _Route(self._delete_listen_key, USER_STREAM, _const(1)),
        }

    # ------------------------------------------------------------------ dispatch

    async def handle(self, request: web.Request) -> web.Response:
        received_ns = time.monotonic_ns()
        method, path = request.method.upper(), request.path
        slot = len(self.requests)
        self.requests.append((received_ns, method, path))
        self.request_weights.append(0)
        raw_query = request.rel_url.raw_query_string
        raw_body = (await request.read()).decode("utf-8", "replace")
        params = parse_params(raw_query, raw_body)
        is_order_post = (method, path) == ("POST", ORDER_PATH)
        outage = self.faults.take_outage(method, path)
        if outage is not None:  # the exchange is down: nothing is counted or processed
            if is_order_post:
                self._record(params, received_ns, 0 if outage.reset else outage.error.status,
                             None if outage.reset else outage.error.body())
            if outage.reset:
                return reset_connection(request)
            return _json_response(outage.error.status, outage.error.body(), {})
        now = self.server_ms()
        route = self.routes.get((method, path))
        headers: dict[str, str] = {}
        status, body = 200, None
        try:
            fault = self.faults.take_request_fault(method, path)
            weight = route.weight(params) if route else 1
            self.request_weights[slot] = weight
            self.limiter.add_weight(now, weight)
            if fault is not None:
                raise fault
            if route is None:
                raise ApiError(BinanceError.UNKNOWN, f"The loopback simulator does not serve {method} {path}.", 404)
            if route.security != NONE:
                check_api_key(request.headers.get("X-MBX-APIKEY"), self._api_key)
            if route.security == SIGNED:
                check_signature(raw_query, raw_body, params, self._api_secret)
                check_timestamp(params, now)
            if is_order_post:
                self.limiter.add_order(now)
                refusal = self.faults.take_order_refusal(params.get("newClientOrderId", ""))
                if refusal is not None:
                    raise refusal
            body = route.handler(params)
        except ApiError as error:
            status, body = error.status, error.body()
            headers.update(error.headers or {})
        headers["X-MBX-USED-WEIGHT-1M"] = str(self.limiter.used_weight)
        if status == 200:
            replace, replacement = self.faults.take_malformed(method, path)
            if replace:
                if is_order_post:
                    self._record(params, received_ns, status, body)
                return _json_response(200, replacement, headers)
        if is_order_post:
            headers.update(self.limiter.order_headers())
            self._record(params, received_ns, status, body)
            held = self.faults.take_hold(body["clientOrderId"]) if status == 200 else None
            if held is not None:
                await self.faults.hold(held)
        return _json_response(status, body, headers)

    def _record(self, params: dict[str, str], received_ns: int, status: int, body: object) -> None:
        """Keep the receipt of an order POST; ``status`` 0 = the connection was reset."""
        try:
            quantity: Decimal | None = Decimal(params["quantity"]) if params.get("quantity") else None
        except InvalidOperation:
            quantity = None
        accepted = status == 200
        order_id = body.get("orderId") if accepted and isinstance(body, dict) else None
        client_id = (body.get("clientOrderId") if accepted and isinstance(body, dict) else None) \
            or params.get("newClientOrderId", "")
        self.orders_received.append(OrderReceipt(
            client_order_id=client_id, side=params.get("side", ""), quantity=quantity,
            reduce_only=params.get("reduceOnly", "").lower() == "true", received_ns=received_ns,
            accepted=accepted, code=None if accepted else body.get("code") if isinstance(body, dict) else None,
            order_id=order_id,
        ))

    # ------------------------------------------------------------------ handlers

    def _time(self, params: dict[str, str]) -> dict:
        return {"serverTime": self.server_ms()}

    def _exchange_info(self, params: dict[str, str]) -> dict:
        ex = self.exchange
        return {
            "timezone": "UTC", "serverTime": self.server_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [exchange_info_symbol(ex.symbol, ex.filters)],
        }

    def _klines(self, params: dict[str, str]) -> list:
        symbol = params.get("symbol", "")
        if not symbol:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "symbol")
        if symbol != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)
        interval = params.get("interval", "")
        if not interval:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "interval")
        if interval != self.market.interval:
            raise ApiError(BinanceError.INVALID_INTERVAL)
        limit = _int_param(params, "limit", DEFAULT_KLINES_LIMIT)
        if limit is None or not 1 <= limit <= MAX_KLINES_LIMIT:
            raise ApiError.of(BinanceError.INVALID_PARAMETER, "limit")
        start = _int_param(params, "startTime")
        end = _int_param(params, "endTime")
        return self.market.visible_rows(start, end, limit)

    def _one_or_all(self, params: dict[str, str], body: dict) -> object:
        """A route answering one symbol (``symbol`` given: an object) or all (a list)."""
        symbol = params.get("symbol", "")
        if symbol and symbol != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)
        return body if symbol else [body]

    def _premium_index(self, params: dict[str, str]) -> object:
        """The mark stream's numbers by REST: same mark, same rate, same next funding time."""
        market_ms = self.market.market_time_ms()
        next_time, rate = self.funding.upcoming(market_ms)
        mark = money(self.market.price)
        return self._one_or_all(params, {
            "symbol": self.exchange.symbol, "markPrice": mark, "indexPrice": mark,
            "estimatedSettlePrice": mark, "lastFundingRate": fixed(rate, 8, 8),
            "interestRate": "0.00010000", "nextFundingTime": next_time, "time": market_ms,
        })

    def _ticker_price(self, params: dict[str, str]) -> object:
        return self._one_or_all(params, {
            "symbol": self.exchange.symbol, "price": self.market.price_str(self.market.price),
            "time": self.market.market_time_ms(),
        })

    def _book_ticker(self, params: dict[str, str]) -> object:
        price = self.market.price_str(self.market.price)
        depth = self.market.qty_str(self.exchange.filters.max_qty)
        return self._one_or_all(params, {
            "symbol": self.exchange.symbol, "bidPrice": price, "bidQty": depth, "askPrice": price,
            "askQty": depth, "time": self.market.market_time_ms(), "lastUpdateId": self.market.update_id,
        })

    def _user_trades(self, params: dict[str, str]) -> list:
        self._require_symbol(params)
        return self.exchange.ledger.user_trades(params, self.server_ms())

    def _income(self, params: dict[str, str]) -> list:
        if params.get("symbol") and params["symbol"] != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)
        return self.exchange.ledger.income_history(params, self.server_ms())

    def _leverage_bracket(self, params: dict[str, str]) -> object:
        """A list of every symbol's brackets, or with ``symbol`` that symbol's object."""
        return self._one_or_all(params, leverage_bracket(self.exchange.symbol))

    def _require_symbol(self, params: dict[str, str]) -> None:
        symbol = params.get("symbol", "")
        if not symbol:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "symbol")
        if symbol != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)

    def _new_order(self, params: dict[str, str]) -> dict:
        order = self.exchange.place_order(params)
        render = self.exchange.render
        return render.result(order) if order.resp_type == "RESULT" else render.ack(order)

    def _open_orders(self, params: dict[str, str]) -> list:
        if params.get("symbol") and params["symbol"] != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)
        return [self.exchange.render.query(o) for o in self.exchange.open_orders()]

    def _all_orders(self, params: dict[str, str]) -> list:
        if params.get("symbol", "") != self.exchange.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL) if params.get("symbol") else ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "symbol")
        limit = _int_param(params, "limit", 500) or 500
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        orders = sorted(self.exchange.orders.values(), key=lambda o: o.order_id)
        if start is not None:
            orders = [o for o in orders if o.created_ms >= start]
        if end is not None:
            orders = [o for o in orders if o.created_ms <= end]
        orders = orders[:limit] if start is not None else orders[-limit:]
        return [self.exchange.render.query(o) for o in orders]

    def _cancel_all(self, params: dict[str, str]) -> dict:
        self.exchange.cancel_all(params)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _delete_listen_key(self, params: dict[str, str]) -> dict:
        key = params.get("listenKey", "") or self.keys.active_key() or ""
        self.keys.delete(key)
        if key:
            self._on_listen_key_deleted(key)
        return {}
