"""What the engine may ask of an exchange, and the immutable answers it gets.

Two implementations sit behind this interface: the python-binance connector (real
Binance, or the loopback simulator through the very same code) and the in-process
paper exchange for fast backtests. The engine never sees python-binance types:
prices and quantities are ``Decimal``, states are frozen dataclasses.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal

from .filters import SymbolFilters

ZERO = Decimal(0)
_CLIENT_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,36}$")


@dataclass(frozen=True)
class AccountState:
    wallet_balance: Decimal
    equity: Decimal  # margin balance: wallet + unrealised PnL
    available_balance: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class PositionState:
    symbol: str
    quantity: Decimal  # signed; 0 = flat
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None = None
    leverage: int | None = None

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


@dataclass(frozen=True)
class OrderResult:
    client_order_id: str
    order_id: int | None
    status: str  # FILLED, PARTIALLY_FILLED, NEW, CANCELED, EXPIRED
    side: str
    requested_qty: Decimal
    executed_qty: Decimal
    avg_price: Decimal
    attempts: int = 1  # POSTs actually sent
    resolved_by_query: bool = False  # the outcome came from GET order after an unknown result

    @property
    def filled(self) -> bool:
        return self.status == "FILLED"

    @property
    def signed_executed_qty(self) -> Decimal:
        return self.executed_qty if self.side == "BUY" else -self.executed_qty


@dataclass(frozen=True)
class CloseAllResult:
    cancelled_orders: int
    orders: tuple[OrderResult, ...]
    flat: bool
    polls: int
    final_position: Decimal


def validate_client_order_id(client_order_id: str) -> str:
    """Binance signs the raw parameters: ids outside ``[A-Za-z0-9._-]{1,36}`` break signing."""
    if not _CLIENT_ID_OK.match(client_order_id):
        raise ValueError(f"client order id {client_order_id!r} must match [A-Za-z0-9._-] and be <= 36 chars")
    return client_order_id


def make_client_order_id(session_tag: str, candle_open_time_ms: int, purpose: str = "t") -> str:
    """Deterministic id for the order a session places on a candle, so a restarted
    session that decides on the same candle finds the first order instead of placing
    a second one. ``purpose`` separates e.g. a trade (t) from a flatten (f1, f2…)."""
    return validate_client_order_id(f"sac-{session_tag}-{candle_open_time_ms}-{purpose}")


class Exchange(ABC):
    """The operations the trading engine uses; every implementation is async."""

    symbol: str
    filters: SymbolFilters

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
    async def market_order(self, quantity: Decimal, reduce_only: bool, client_order_id: str) -> OrderResult:
        """Send a MARKET order of signed ``quantity``, never twice (see implementations)."""

    @abstractmethod
    async def cancel_all_orders(self) -> int: ...

    @abstractmethod
    async def close_all(self, purpose_tag: str) -> CloseAllResult:
        """Cancel open orders, close the position reduce-only, poll until flat (bounded)."""

    @abstractmethod
    async def close(self) -> None: ...
