"""Every exchange answer is checked at the edge before anything trusts it.

Why: a 200 response of the wrong shape (``[]`` where the account object belongs, a
price that is not a number, a missing field) used to escape as a ``KeyError`` or
``TypeError`` and end the session with a traceback, position open, no emergency.
Here each payload the connector reads becomes the engine's immutable types or a
``MalformedResponse`` - an ``ExchangeError`` that the retry rules treat like a
network failure (retried as a read; an order's outcome becomes unknown and is
resolved by query) and that counts toward the consecutive-failure emergency.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import MalformedResponse
from .base import ZERO, AccountState, OpenOrder, OrderResult, PositionState, TradeReport


def _object(payload: Any, what: str) -> dict:
    if not isinstance(payload, dict):
        raise MalformedResponse(f"malformed {what} from the exchange: expected an object, got {_shape(payload)}")
    return payload


def _rows(payload: Any, what: str) -> list:
    if not isinstance(payload, list):
        raise MalformedResponse(f"malformed {what} from the exchange: expected a list, got {_shape(payload)}")
    return payload


def _shape(payload: Any) -> str:
    text = repr(payload)
    return text if len(text) <= 60 else text[:57] + "..."


def decimal_field(data: dict, key: str, what: str, *, required: bool = True) -> Decimal:
    """A finite decimal from a numeric string (or number); missing optional fields are 0."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is missing")
        return ZERO
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is {_shape(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is {_shape(value)}") from None
    if not number.is_finite():
        raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is not finite ({value})")
    return number


def _int_field(data: dict, key: str, what: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is {_shape(value)}")
    return value


def _text_field(data: dict, key: str, what: str, allowed: frozenset[str] | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        raise MalformedResponse(f"malformed {what} from the exchange: field {key!r} is {_shape(value)}")
    return value


_SIDES = frozenset({"BUY", "SELL"})


def _update_time(data: dict) -> int:
    """``updateTime`` when it is a plain integer, else 0 (unknown: nothing is judged older than it)."""
    value = data.get("updateTime")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_account(payload: Any) -> AccountState:
    """The account's totals; ``update_time_ms`` is the latest ``updateTime`` the exchange gives for the
    account, its assets and its positions - the exchange's own time of the newest change included."""
    what = "account"
    data = _object(payload, what)
    times = [_update_time(data)]
    for key in ("assets", "positions"):
        rows = data.get(key)
        if isinstance(rows, list):
            times += [_update_time(r) for r in rows if isinstance(r, dict)]
    return AccountState(
        wallet_balance=decimal_field(data, "totalWalletBalance", what),
        equity=decimal_field(data, "totalMarginBalance", what),
        available_balance=decimal_field(data, "availableBalance", what),
        unrealized_pnl=decimal_field(data, "totalUnrealizedProfit", what),
        update_time_ms=max(times),
    )


def parse_position(payload: Any, symbol: str, leverage: int | None) -> PositionState:
    """The one-way (BOTH) position of ``symbol``; flat when the exchange lists none."""
    what = "position"
    rows = [_object(r, what) for r in _rows(payload, what)]
    rows = [r for r in rows if r.get("symbol") == symbol and r.get("positionSide", "BOTH") == "BOTH"]
    if not rows:
        return PositionState(symbol, ZERO, ZERO, ZERO, ZERO, None, leverage)
    r = rows[0]
    liquidation = decimal_field(r, "liquidationPrice", what, required=False)
    return PositionState(
        symbol=symbol, quantity=decimal_field(r, "positionAmt", what),
        entry_price=decimal_field(r, "entryPrice", what),
        mark_price=decimal_field(r, "markPrice", what, required=False),
        unrealized_pnl=decimal_field(r, "unRealizedProfit", what, required=False),
        liquidation_price=liquidation if liquidation > 0 else None, leverage=leverage,
        update_time_ms=_update_time(r),
    )


def parse_open_orders(payload: Any) -> list[OpenOrder]:
    what = "open orders"
    orders = []
    for row in _rows(payload, what):
        r = _object(row, what)
        orders.append(OpenOrder(
            order_id=_int_field(r, "orderId", what), client_order_id=str(r.get("clientOrderId", "")),
            side=_text_field(r, "side", what, _SIDES), order_type=str(r.get("type", "")),
            quantity=decimal_field(r, "origQty", what), price=decimal_field(r, "price", what, required=False),
            status=str(r.get("status", "")), reduce_only=bool(r.get("reduceOnly", False)),
        ))
    return orders


def parse_order(payload: Any, attempts: int = 1, resolved_by_query: bool = False) -> OrderResult:
    """An order answer (POST with RESULT, GET, allOrders row) as an ``OrderResult``."""
    what = "order"
    r = _object(payload, what)
    executed = decimal_field(r, "executedQty", what)
    if executed < 0:
        raise MalformedResponse(f"malformed {what} from the exchange: negative executedQty {executed}")
    return OrderResult(
        client_order_id=_text_field(r, "clientOrderId", what),
        order_id=_int_field(r, "orderId", what),
        status=_text_field(r, "status", what),
        side=_text_field(r, "side", what, _SIDES),
        requested_qty=decimal_field(r, "origQty", what),
        executed_qty=executed,
        avg_price=decimal_field(r, "avgPrice", what, required=False),
        attempts=attempts,
        resolved_by_query=resolved_by_query,
        update_ms=_int_field(r, "updateTime", what, 0),
        reduce_only=bool(r.get("reduceOnly", False)),
    )


def parse_orders(payload: Any) -> list[OrderResult]:
    return [parse_order(row, resolved_by_query=True) for row in _rows(payload, "order list")]


def parse_klines(payload: Any) -> list[list]:
    """Kline rows (open time, O, H, L, C, V, ...), checked numeric and finite, ascending."""
    what = "klines"
    rows = _rows(payload, what)
    last = None
    for row in rows:
        if not isinstance(row, list) or len(row) < 6:
            raise MalformedResponse(f"malformed {what} from the exchange: row {_shape(row)}")
        if isinstance(row[0], bool) or not isinstance(row[0], int):
            raise MalformedResponse(f"malformed {what} from the exchange: open time {_shape(row[0])}")
        for key, value in zip("OHLCV", row[1:6]):
            number = decimal_field({key: value}, key, what)
            if number < 0:
                raise MalformedResponse(f"malformed {what} from the exchange: negative {key} {value}")
        if last is not None and row[0] <= last:
            raise MalformedResponse(f"malformed {what} from the exchange: rows out of order at {row[0]}")
        last = row[0]
    return rows


def parse_server_time(payload: Any) -> int:
    return _int_field(_object(payload, "server time"), "serverTime", "server time")


def parse_listen_key(payload: Any) -> str:
    if isinstance(payload, str) and payload:
        return payload
    key = _object(payload, "listen key").get("listenKey")
    if not isinstance(key, str) or not key:
        raise MalformedResponse(f"malformed listen key from the exchange: {_shape(payload)}")
    return key


def parse_user_trades(payload: Any, client_ids: dict[int, str] | None = None) -> list:
    """``userTrades`` rows as ``TradeReport``s (the client id from ``client_ids`` by order id when known)."""
    what = "user trades"
    reports = []
    for row in _rows(payload, what):
        r = _object(row, what)
        order_id = _int_field(r, "orderId", what)
        reports.append(TradeReport(
            client_order_id=(client_ids or {}).get(order_id, ""), order_id=order_id,
            trade_id=_int_field(r, "id", what), side=_text_field(r, "side", what, _SIDES),
            quantity=decimal_field(r, "qty", what), price=decimal_field(r, "price", what),
            commission=decimal_field(r, "commission", what), commission_asset=str(r.get("commissionAsset", "")),
            realized_pnl=decimal_field(r, "realizedPnl", what, required=False), time_ms=_int_field(r, "time", what),
        ))
    return reports


def parse_income(payload: Any) -> list[tuple[str, Decimal, int]]:
    """``income`` rows as (income type, amount, time ms)."""
    what = "income history"
    rows = []
    for row in _rows(payload, what):
        r = _object(row, what)
        rows.append((_text_field(r, "incomeType", what), decimal_field(r, "income", what), _int_field(r, "time", what)))
    return rows
