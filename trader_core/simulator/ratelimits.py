"""Request-weight and order-count accounting, with Binance's headers and limits.

Why: a bot must watch ``X-MBX-USED-WEIGHT-1M`` and the order counters and slow down
before Binance does it for it (reference §4: REQUEST_WEIGHT 2400/min, ORDERS
1200/min and 300/10 s). The simulator reports the same headers, counted in fixed
windows of the server clock as Binance does, and answers 429 -1003 / -1015 when a
limit is really exceeded, so a polling loop that would be throttled live is
throttled here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .api_errors import ApiError, BinanceError, message_for

WEIGHT_LIMIT_1M = 2400
ORDER_LIMIT_1M = 1200
ORDER_LIMIT_10S = 300


def klines_weight(limit: int) -> int:
    """Binance's kline weight: 1/2/5/10 for limit <100 / <500 / <=1000 / >1000."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


@dataclass
class _Window:
    length_ms: int
    start: int = -1
    used: int = 0

    def add(self, now_ms: int, amount: int) -> int:
        start = now_ms - now_ms % self.length_ms
        if start != self.start:
            self.start, self.used = start, 0
        self.used += amount
        return self.used

    def retry_after_s(self, now_ms: int) -> int:
        return max(1, -(-(self.start + self.length_ms - now_ms) // 1000))


class RateLimiter:
    """Counts weight per minute and orders per 10 s / minute."""

    def __init__(self, enforce: bool = True) -> None:
        self.enforce = enforce
        self._weight = _Window(60_000)
        self._orders_10s = _Window(10_000)
        self._orders_1m = _Window(60_000)

    def add_weight(self, now_ms: int, weight: int) -> int:
        """Count ``weight``; raise 429 -1003 when the minute's limit is passed."""
        used = self._weight.add(now_ms, weight)
        if self.enforce and used > WEIGHT_LIMIT_1M:
            raise ApiError(BinanceError.TOO_MANY_REQUESTS, message_for(BinanceError.TOO_MANY_REQUESTS, WEIGHT_LIMIT_1M), 429,
                           {"Retry-After": str(self._weight.retry_after_s(now_ms))})
        return used

    @property
    def used_weight(self) -> int:
        return self._weight.used

    def add_order(self, now_ms: int) -> None:
        """Count one new order; raise 429 -1015 when an order limit is passed."""
        in_10s = self._orders_10s.add(now_ms, 1)
        in_1m = self._orders_1m.add(now_ms, 1)
        if not self.enforce:
            return
        if in_10s > ORDER_LIMIT_10S:
            raise ApiError(BinanceError.TOO_MANY_ORDERS, message_for(BinanceError.TOO_MANY_ORDERS, ORDER_LIMIT_10S, "10 SECOND"), 429,
                           {"Retry-After": str(self._orders_10s.retry_after_s(now_ms))})
        if in_1m > ORDER_LIMIT_1M:
            raise ApiError(BinanceError.TOO_MANY_ORDERS, message_for(BinanceError.TOO_MANY_ORDERS, ORDER_LIMIT_1M, "MINUTE"), 429,
                           {"Retry-After": str(self._orders_1m.retry_after_s(now_ms))})

    def order_headers(self) -> dict[str, str]:
        return {"X-MBX-ORDER-COUNT-10S": str(self._orders_10s.used),
                "X-MBX-ORDER-COUNT-1M": str(self._orders_1m.used)}
