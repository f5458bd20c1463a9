"""The in-process paper exchange: the ``Exchange`` interface over ``FuturesAccount``.

Why: a backtest must drive the very engine that trades live, at thousands of candles
per second, with no network and no simulator process. MARKET orders fill at the price
the driver last set (the candle close) through the shared accounting, and are refused
with Binance's own codes by the same ``SymbolFilters`` checks, in Binance's order:
filters, then reduce-only, then margin. A repeated client order id returns the first
result, as the live connector's duplicate-safe retry does, so the engine's
"never place an order twice" logic is exercised here too. The hot path does no I/O,
no logging and no sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from ..accounting import Fill, FuturesAccount, opposes, price_to_decimal
from ..errors import ExchangeError, OrderRejected
from .base import (
    AccountState,
    CloseAllResult,
    Exchange,
    OpenOrder,
    OrderFills,
    OrderResult,
    PositionState,
    TradeReport,
    sum_fills,
    validate_client_order_id,
)
from .error_codes import BinanceError, message_for
from .filters import SymbolFilters

ZERO = Decimal(0)


class PaperExchange(Exchange):
    """One symbol, one-way mode, cross margin, taker fills at the current price."""

    in_process = True  # no I/O: the engine calls it without scheduling tasks

    def __init__(
        self, symbol: str, filters: SymbolFilters, initial_balance: Decimal, fee_rate: Decimal, leverage: int,
    ) -> None:
        self.symbol = symbol
        self.filters = filters
        self.account_book = FuturesAccount(initial_balance, fee_rate, leverage)
        self.price: Decimal | None = None
        self.margin_type = "CROSSED"
        self._orders: dict[str, tuple[OrderResult, Fill]] = {}
        self._next_order_id = 1

    # ------------------------------------------------------------- driver side
    def set_price(self, price: Decimal | float) -> None:
        """The price MARKET orders fill at and positions are marked at (a candle close)."""
        if not isinstance(price, Decimal):
            price = price_to_decimal(price)
        if price <= 0:
            raise ValueError(f"price must be > 0, got {price}")
        self.price = price

    def fill_for(self, client_order_id: str) -> Fill | None:
        """The accounting fill of a filled order (fee, realised PnL) for the journal."""
        entry = self._orders.get(client_order_id)
        return entry[1] if entry else None

    def _mark(self) -> Decimal:
        # Before the first price the account is flat, so any mark values it the same.
        return self.price if self.price is not None else ZERO

    # ------------------------------------------------------------- Exchange
    async def connect(self) -> None:
        return None

    @property
    def connected(self) -> bool:
        return True  # in-process: nothing to lose

    async def start(self, leverage: int, margin_type: str = "CROSSED") -> None:
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise ValueError(f"leverage must be an integer >= 1, got {leverage!r}")
        if margin_type not in ("CROSSED", "ISOLATED"):
            raise ValueError(f"margin type must be CROSSED or ISOLATED, got {margin_type!r}")
        self.account_book.leverage = leverage
        self.margin_type = margin_type

    async def account(self) -> AccountState:
        book, mark = self.account_book, self._mark()
        unrealized = book.unrealized_pnl(mark)
        return AccountState(
            wallet_balance=book.wallet_balance, equity=book.wallet_balance + unrealized,
            available_balance=book.available_balance(mark), unrealized_pnl=unrealized,
        )

    async def position(self) -> PositionState:
        book, mark = self.account_book, self._mark()
        return PositionState(
            symbol=self.symbol, quantity=book.position_qty, entry_price=book.entry_price, mark_price=mark,
            unrealized_pnl=book.unrealized_pnl(mark), liquidation_price=book.liquidation_price(),
            leverage=book.leverage,
        )

    async def open_orders(self) -> list[OpenOrder]:
        return []  # MARKET orders only: nothing ever rests

    async def get_order(self, client_order_id: str) -> OrderResult | None:
        entry = self._orders.get(client_order_id)
        return entry[0] if entry else None

    async def order_fills(self, order: OrderResult) -> OrderFills:
        """The accounting's own fill: its fee and realised PnL are this venue's truth."""
        entry = self._orders.get(order.client_order_id)
        if entry is None or entry[0].executed_qty == 0:
            return sum_fills([])
        result, fill = entry
        return sum_fills([TradeReport(
            client_order_id=result.client_order_id, order_id=result.order_id, trade_id=result.order_id,
            side=result.side, quantity=result.executed_qty, price=result.avg_price, commission=fill.fee,
            commission_asset="USDT", realized_pnl=fill.realized_pnl, time_ms=0,
        )])

    async def income(self, start_ms: int) -> list[tuple[str, Decimal, int]]:
        rows: list[tuple[str, Decimal, int]] = []
        for _result, fill in self._orders.values():
            rows.append(("COMMISSION", -fill.fee, 0))
            if fill.realized_pnl:
                rows.append(("REALIZED_PNL", fill.realized_pnl, 0))
        return rows

    async def orders_since(self, start_ms: int) -> list[OrderResult]:
        return [result for result, _fill in self._orders.values()]

    async def market_order(self, quantity: Decimal, reduce_only: bool, client_order_id: str) -> OrderResult:
        earlier = self._orders.get(client_order_id)
        if earlier is not None:
            return earlier[0]  # the same order again: answer it, fill nothing
        validate_client_order_id(client_order_id)
        price = self.price
        if price is None:
            raise ExchangeError("the paper exchange has no price yet: set_price() before the first order")
        size = abs(quantity)
        code = self.filters.check_market_order(size, price, reduce_only)
        if code is not None:
            raise self._rejected(code, client_order_id)
        book = self.account_book
        position = book.position_qty
        buying = quantity > 0
        if reduce_only:
            if not opposes(position, quantity):
                raise self._rejected(BinanceError.REDUCE_ONLY_REJECT, client_order_id)
            if size > abs(position):
                size = abs(position)  # reduce-only never opens the other side
        signed = size if buying else -size
        fill, _status = book.try_fill(signed, price)
        if fill is None:
            raise self._rejected(BinanceError.MARGIN_NOT_SUFFICIENT, client_order_id)
        result = OrderResult(
            client_order_id=client_order_id, order_id=self._next_order_id, status="FILLED",
            side="BUY" if buying else "SELL", requested_qty=abs(quantity), executed_qty=size, avg_price=price,
        )
        self._next_order_id += 1
        self._orders[client_order_id] = (result, fill)
        return result

    def _rejected(self, code: int, client_order_id: str) -> OrderRejected:
        text = message_for(code, format(self.filters.min_notional, "f")) if code == BinanceError.MIN_NOTIONAL \
            else message_for(code)
        return OrderRejected(int(code), text, client_order_id)

    async def cancel_all_orders(self) -> int:
        return 0

    async def close_all(self, order_ids: Iterator[str]) -> CloseAllResult:
        """Close the whole position with one reduce-only MARKET order under the next id."""
        position = self.account_book.position_qty
        orders: tuple[OrderResult, ...] = ()
        if position != 0:
            orders = (await self.market_order(-position, True, next(order_ids)),)
        final = self.account_book.position_qty
        return CloseAllResult(
            cancelled_orders=0, orders=orders, flat=final == 0, polls=1 if orders else 0, final_position=final,
        )

    async def close(self) -> None:
        return None
