"""One order's record and the shapes Binance reports it in (REST answers, user-stream events).

Why: the same order is described four ways on the wire (POST answer as ACK or RESULT,
GET / cancel answer, ORDER_TRADE_UPDATE), and a client reconciles by comparing them.
Keeping the record and all its renderings together guarantees they never disagree.

``ORDER_TRADE_UPDATE`` follows Binance's rules field by field: ``l``/``L`` are the
last fill's quantity and price ("0" quantities and price for NEW, CANCELED and
EXPIRED), ``z`` the cumulative quantity, ``t`` the trade id (0 without a trade),
``rp`` the realised profit of that fill, ``T`` the time of the execution; the
commission ``n`` and its asset ``N`` are sent only when a commission was charged
("will not push if no commission"), so NEW / CANCELED / EXPIRED carry neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .formatting import exact, fixed

ZERO = Decimal("0")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass
class SimOrder:
    """A mutable order record; ``price`` is 0 for MARKET orders."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    order_type: str  # MARKET / LIMIT
    quantity: Decimal
    price: Decimal
    time_in_force: str
    reduce_only: bool
    created_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    avg_price: Decimal = ZERO
    update_ms: int = 0
    resp_type: str = "ACK"  # newOrderRespType the POST asked for
    fees: list[Decimal] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "BUY" else -self.quantity


class OrderRenderer:
    """Renders orders with the symbol's price and quantity precision."""

    def __init__(self, price_places: int, qty_places: int) -> None:
        self.price_places = price_places
        self.qty_places = qty_places

    def price_text(self, value: Decimal) -> str:
        return fixed(value, self.price_places)

    def qty_text(self, value: Decimal) -> str:
        return fixed(value, self.qty_places)

    def quote_text(self, value: Decimal) -> str:
        return fixed(value, self.price_places + self.qty_places)

    _p, _q, _quote = price_text, qty_text, quote_text

    def _common(self, o: SimOrder) -> dict:
        return {
            "orderId": o.order_id,
            "symbol": o.symbol,
            "status": o.status,
            "clientOrderId": o.client_order_id,
            "price": self._p(o.price) if o.order_type == "LIMIT" else "0",
            "avgPrice": self._p(o.avg_price),
            "origQty": self._q(o.quantity),
            "executedQty": self._q(o.executed_qty),
        }

    def _tail(self, o: SimOrder) -> dict:
        return {
            "timeInForce": o.time_in_force,
            "type": o.order_type,
            "origType": o.order_type,
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
        }

    def result(self, o: SimOrder) -> dict:
        """POST answer with ``newOrderRespType=RESULT`` and the cancel answer: the state now."""
        body = self._common(o)
        body["cumQty"] = self._q(o.executed_qty)
        body["cumQuote"] = self._quote(o.cum_quote)
        body.update(self._tail(o))
        body["updateTime"] = o.update_ms
        return body

    def ack(self, o: SimOrder) -> dict:
        """POST answer with ``newOrderRespType=ACK``: the order as accepted, nothing executed yet."""
        body = self._common(o)
        body.update({"status": "NEW", "avgPrice": self._p(ZERO), "executedQty": self._q(ZERO),
                     "cumQty": self._q(ZERO), "cumQuote": self._quote(ZERO)})
        body.update(self._tail(o))
        body["updateTime"] = o.created_ms
        return body

    def query(self, o: SimOrder) -> dict:
        """GET order / openOrders: no ``cumQty``, adds ``time``."""
        body = self._common(o)
        body["cumQuote"] = self._quote(o.cum_quote)
        body.update(self._tail(o))
        body["time"] = o.created_ms
        body["updateTime"] = o.update_ms
        return body

    def trade_update(
        self,
        o: SimOrder,
        execution: str,
        event_ms: int,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        fee: Decimal = ZERO,
        realized: Decimal = ZERO,
        trade_id: int = 0,
        maker: bool = False,
    ) -> dict:
        """ORDER_TRADE_UPDATE for one execution (NEW, TRADE, CANCELED, EXPIRED)."""
        body = {
            "s": o.symbol, "c": o.client_order_id, "S": o.side, "o": o.order_type,
            "f": o.time_in_force, "q": self._q(o.quantity),
            "p": self._p(o.price) if o.order_type == "LIMIT" else "0",
            "ap": self._p(o.avg_price), "sp": "0", "x": execution, "X": o.status,
            "i": o.order_id, "l": self._q(last_qty), "z": self._q(o.executed_qty),
            "L": self._p(last_price),
        }
        if fee != 0:  # Binance: "will not push if no commission"
            body.update({"N": "USDT", "n": exact(fee)})
        body.update({
            "T": event_ms, "t": trade_id, "b": "0", "a": "0",
            "m": maker,
            "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": o.order_type, "ps": "BOTH",
            "cp": False, "rp": exact(realized), "pP": False, "si": 0, "ss": 0,
            "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0",
        })
        return {"e": "ORDER_TRADE_UPDATE", "E": event_ms, "T": event_ms, "o": body}
