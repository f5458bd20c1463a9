"""What the engine may ask of an exchange, and the immutable answers it gets.

Two implementations sit behind this interface: the python-binance connector (real
Binance, or the loopback simulator through the very same code) and the in-process
paper exchange for fast backtests. The engine never sees python-binance types:
prices and quantities are ``Decimal``, states are frozen dataclasses.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from ..frozen import quick_init
from .filters import SymbolFilters

ZERO = Decimal(0)
_CLIENT_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,36}$")


@quick_init
@dataclass(frozen=True)
class AccountState:
    wallet_balance: Decimal
    equity: Decimal  # margin balance: wallet + unrealised PnL
    available_balance: Decimal
    unrealized_pnl: Decimal
    #: the exchange's time of the last change this state includes (``updateTime``; 0 when not told)
    update_time_ms: int = 0


@quick_init
@dataclass(frozen=True)
class PositionState:
    symbol: str
    quantity: Decimal  # signed; 0 = flat
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None = None
    leverage: int | None = None
    #: the exchange's time of the last change of this position (``updateTime``; 0 when not told)
    update_time_ms: int = 0

    @property
    def flat(self) -> bool:
        return self.quantity == 0


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    client_order_id: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal
    status: str
    reduce_only: bool


#: The status of an order whose outcome was unknown (a timeout, a 5xx) and that the exchange
#: still did not know by client id after the grace window: it was not placed, and it is
#: never sent again - the next candle re-plans from the position the exchange reports.
NOT_FOUND = "NOT_FOUND"


@dataclass(frozen=True)
class OrderResult:
    client_order_id: str
    order_id: int | None
    status: str  # FILLED, PARTIALLY_FILLED, NEW, CANCELED, EXPIRED, NOT_FOUND
    side: str
    requested_qty: Decimal
    executed_qty: Decimal
    avg_price: Decimal
    attempts: int = 1  # POSTs actually sent
    resolved_by_query: bool = False  # the outcome came from GET order after an unknown result
    update_ms: int = 0  # the exchange's last update of the order (0 when not reported)
    reduce_only: bool = False

    @property
    def filled(self) -> bool:
        return self.status == "FILLED"

    @property
    def signed_executed_qty(self) -> Decimal:
        return self.executed_qty if self.side == "BUY" else -self.executed_qty


@dataclass(frozen=True)
class CloseAllResult:
    """What one close-all did. ``flat`` comes only from a position read *after* the last
    close order; ``final_position`` is None when that read failed (then never flat)."""

    cancelled_orders: int
    orders: tuple[OrderResult, ...]  # every close order the exchange answered, fills or not
    flat: bool
    polls: int
    final_position: Decimal | None
    error: str = ""  # the failure that ended the attempt early, if any

    @property
    def filled(self) -> tuple[OrderResult, ...]:
        return tuple(o for o in self.orders if o.executed_qty > 0)


@dataclass(frozen=True)
class TradeReport:
    """One fill as the exchange reported it (a stream's ``ORDER_TRADE_UPDATE`` or a ``userTrades`` row)."""

    client_order_id: str
    order_id: int | None
    trade_id: int | None
    side: str  # BUY / SELL
    quantity: Decimal  # executed in this fill, unsigned
    price: Decimal
    commission: Decimal  # paid, >= 0 (a rebate is negative)
    commission_asset: str
    realized_pnl: Decimal  # of this fill, before the commission
    time_ms: int

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True)
class OrderFills:
    """What the exchange reported for one order's fills, summed."""

    quantity: Decimal  # signed
    average_price: Decimal
    commission: Decimal
    realized_pnl: Decimal
    reports: tuple[TradeReport, ...]


def sum_fills(reports: tuple[TradeReport, ...] | list[TradeReport]) -> OrderFills:
    reports = tuple(reports)
    executed = sum((r.quantity for r in reports), ZERO)
    notional = sum((r.quantity * r.price for r in reports), ZERO)
    return OrderFills(
        quantity=sum((r.signed_quantity for r in reports), ZERO),
        average_price=notional / executed if executed else ZERO,
        commission=sum((r.commission for r in reports), ZERO),
        realized_pnl=sum((r.realized_pnl for r in reports), ZERO),
        reports=reports,
    )


def validate_client_order_id(client_order_id: str) -> str:
    """Binance signs the raw parameters: ids outside ``[A-Za-z0-9._-]{1,36}`` break signing."""
    if not _CLIENT_ID_OK.match(client_order_id):
        raise ValueError(f"client order id {client_order_id!r} must match [A-Za-z0-9._-] and be <= 36 chars")
    return client_order_id


class Exchange(ABC):
    """The operations the trading engine uses; every implementation is async.

    ``in_process`` says the implementation does no I/O (the paper exchange): the
    engine then calls it without scheduling tasks.
    """

    symbol: str
    filters: SymbolFilters
    in_process: bool = False

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection (no symbol set-up); a no-op when already connected."""

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    async def start(self, leverage: int, margin_type: str = "CROSSED") -> None:
        """Connect, sync the clock, load the symbol's filters, set leverage and margin type."""

    @abstractmethod
    async def account(self) -> AccountState: ...

    @abstractmethod
    async def position(self) -> PositionState: ...

    @abstractmethod
    async def open_orders(self) -> list[OpenOrder]: ...

    @abstractmethod
    async def get_order(self, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None only when the exchange says it does not exist."""

    @abstractmethod
    async def order_fills(self, order: OrderResult) -> OrderFills:
        """What the exchange booked for an order's fills: quantity, price, commission, realised PnL."""

    @abstractmethod
    async def income(self, start_ms: int) -> list[tuple[str, Decimal, int]]:
        """(income type, amount, time ms) since ``start_ms``: REALIZED_PNL, COMMISSION (negative), FUNDING_FEE."""

    @abstractmethod
    async def orders_since(self, start_ms: int) -> list[OrderResult]:
        """Every order of the symbol the exchange reports from ``start_ms`` on (crash recovery)."""

    @abstractmethod
    async def market_order(self, quantity: Decimal, reduce_only: bool, client_order_id: str) -> OrderResult:
        """Send a MARKET order of signed ``quantity``, never twice (see implementations)."""

    @abstractmethod
    async def cancel_all_orders(self) -> int: ...

    @abstractmethod
    async def close_all(self, order_ids: Iterator[str]) -> CloseAllResult:
        """Cancel open orders, close the position reduce-only, re-read until flat (bounded).

        Each close order takes the next id from ``order_ids`` (an id once taken is never
        used again, whatever happened to its order). Exchange failures do not raise: they
        end the attempt and are reported in ``error``, with the orders already answered.
        """

    @abstractmethod
    async def close(self) -> None: ...
