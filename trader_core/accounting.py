"""Futures accounting for one USDT-margined linear contract in one-way mode.

Why this module exists: the training environment, the backtest, the paper exchange,
the loopback Binance simulator and the live engine's own bookkeeping must agree to
the last cent on fees, entry price, realised/unrealised PnL, funding and margin.
If any of them re-implemented these rules, an agent could learn on one set of
economics and trade on another. So this is the one definition; everything imports
it and nothing copies it.

Conventions (Binance USD-M, one-way mode, positionSide BOTH):

* Quantities are signed: positive = long / buy, negative = short / sell.
* Every fill is a taker market fill; its fee is ``|qty| * price * fee_rate``.
* ``wallet_balance`` moves only on realised PnL, fees and funding; unrealised
  PnL lives in ``equity`` (Binance's "margin balance").
* All money and quantities are ``decimal.Decimal``; a float is refused, because
  a float silently breaks the exactness the exchange's filters rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal("0")

#: Maintenance margin rate used by the liquidation estimate (Binance's first
#: BTCUSDT notional bracket).
MAINTENANCE_MARGIN_RATE = Decimal("0.004")


def _dec(value: object, name: str) -> Decimal:
    """``value`` as a Decimal; ints and strings are converted, floats refused."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")


def price_to_decimal(value: float) -> Decimal:
    """A float price from market data as the Decimal it was printed as (``65000.1``).

    The one sanctioned crossing from the float world (features, candles) into the
    Decimal world (orders, accounting): the shortest repr, never the binary expansion.
    """
    return Decimal(repr(float(value)))


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


# --------------------------------------------------------------------------- the rules
# Defined once, beside the accounting they belong to; the engine, the risk checks, the
# paper exchange, the simulator, the training environment, the journal and the console
# all call these instead of writing the formula again.


def drawdown(equity, peak) -> float:
    """The fraction of the peak equity lost: 0 at or above the peak, 1 when nothing is left.

    The peak is at least the equity it is compared with (a peak not yet raised to the
    current equity counts as that equity); when even that is not positive, the account
    has nothing left: 1.0, the fail-safe answer for a risk check.
    """
    top = peak if peak > equity else equity
    if top <= 0:
        return 1.0
    return max(0.0, float(1 - equity / top))


def drawdown_stop_equity(peak, limit: float):
    """The equity at which a drawdown of ``limit`` from ``peak`` is reached (Decimal in, Decimal out)."""
    if isinstance(peak, Decimal):
        return peak * (1 - Decimal(str(limit)))
    return peak * (1 - limit)


def drawdown_reached(equity, peak, limit: float) -> bool:
    """True when ``equity`` is at or below the peak less ``limit`` of it (exact for Decimals:
    a drawdown of exactly the limit trips; one unit of the last place above it does not)."""
    top = peak if peak > equity else equity
    if top <= 0:
        return True
    return equity <= drawdown_stop_equity(top, limit)


def opposes(position: Decimal, quantity: Decimal) -> bool:
    """The order is on the other side of an open position (it reduces it, or flips it)."""
    return position != 0 and quantity != 0 and (position > 0) != (quantity > 0)


def reduces(position: Decimal, quantity: Decimal) -> bool:
    """The order only reduces the position: the other side, and no larger than it (no flip)."""
    return opposes(position, quantity) and abs(quantity) <= abs(position)


def opening_quantity(position: Decimal, quantity: Decimal) -> Decimal:
    """The part of an order that opens exposure (all of it, or a flip's remainder)."""
    if opposes(position, quantity):
        return max(ZERO, abs(quantity) - abs(position))
    return abs(quantity)


def margin_required(position: Decimal, quantity: Decimal, price: Decimal, leverage: int,
                    fee_rate: Decimal) -> Decimal:
    """Initial margin for the opening part plus the fee of the whole order."""
    return opening_quantity(position, quantity) * price / leverage + abs(quantity) * price * fee_rate


def affordable(position: Decimal, quantity: Decimal, price: Decimal, leverage: int, fee_rate: Decimal,
               available: Decimal) -> bool:
    """Whether an order fits the available balance (False: Binance's -2019).

    An order that only reduces is always accepted, as on Binance: a losing position
    must stay closable even with nothing available. A flip is judged after its closing
    part, which frees the position's initial margin.
    """
    if reduces(position, quantity):
        return True
    freed = abs(position) * price / leverage if opposes(position, quantity) else ZERO
    return margin_required(position, quantity, price, leverage, fee_rate) <= available + freed


@dataclass(frozen=True)
class Fill:
    """What one market fill did to the account."""

    quantity: Decimal  # signed: + buy, - sell
    price: Decimal
    fee: Decimal  # >= 0, paid
    realized_pnl: Decimal  # realised by the reducing part, before the fee
    position_after: Decimal
    entry_price_after: Decimal

    @property
    def side(self) -> str:
        return "BUY" if self.quantity > 0 else "SELL"

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * self.price


@dataclass(frozen=True)
class AccountSnapshot:
    """An immutable picture of the account at one mark price (for the UI and journal)."""

    wallet_balance: Decimal
    equity: Decimal
    unrealized_pnl: Decimal
    available_balance: Decimal
    position_qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    funding_paid: Decimal
    trade_count: int


class FuturesAccount:
    """Wallet plus one position; the mutable state every execution venue shares."""

    def __init__(
        self,
        wallet_balance: Decimal,
        fee_rate: Decimal = Decimal("0.0005"),
        leverage: int = 1,
    ) -> None:
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise ValueError(f"leverage must be an integer >= 1, got {leverage!r}")
        fee_rate = _dec(fee_rate, "fee_rate")
        if fee_rate < 0:
            raise ValueError(f"fee_rate must be >= 0, got {fee_rate}")
        self.wallet_balance: Decimal = _dec(wallet_balance, "wallet_balance")
        self.fee_rate: Decimal = fee_rate
        self.leverage: int = leverage
        self.position_qty: Decimal = ZERO
        self.entry_price: Decimal = ZERO
        self.realized_pnl: Decimal = ZERO
        self.fees_paid: Decimal = ZERO
        self.funding_paid: Decimal = ZERO
        self.trade_count: int = 0

    # ------------------------------------------------------------------ fills

    def fill(self, quantity: Decimal, price: Decimal) -> Fill:
        """Apply a taker market fill of signed ``quantity`` at ``price``.

        Adding (same side or from flat) averages the entry price by volume;
        reducing realises PnL on the closed part and keeps the entry; a fill
        larger than the position closes it and opens the remainder at ``price``.
        """
        quantity = _dec(quantity, "quantity")
        price = _dec(price, "price")
        if quantity == 0:
            raise ValueError("fill quantity must not be zero")
        if price <= 0:
            raise ValueError(f"fill price must be > 0, got {price}")

        pos, entry = self.position_qty, self.entry_price
        fee = abs(quantity) * price * self.fee_rate
        realized = ZERO

        if pos == 0 or _sign(pos) == _sign(quantity):
            new_pos = pos + quantity
            new_entry = (abs(pos) * entry + abs(quantity) * price) / abs(new_pos)
        else:
            closed = min(abs(quantity), abs(pos))
            realized = (price - entry) * closed * _sign(pos)
            new_pos = pos + quantity
            if new_pos == 0:
                new_entry = ZERO
            elif _sign(new_pos) == _sign(pos):
                new_entry = entry  # partial close: entry unchanged
            else:
                new_entry = price  # flip: remainder opened at the fill price

        self.position_qty = new_pos
        self.entry_price = new_entry
        self.wallet_balance += realized - fee
        self.realized_pnl += realized
        self.fees_paid += fee
        self.trade_count += 1
        return Fill(
            quantity=quantity,
            price=price,
            fee=fee,
            realized_pnl=realized,
            position_after=new_pos,
            entry_price_after=new_entry,
        )

    def try_fill(self, quantity: Decimal, price: Decimal) -> tuple[Fill | None, str]:
        """Fill if the margin allows: ``(fill, "FILLED")`` or ``(None, "REJECTED:-2019")``."""
        if not self.can_afford(quantity, price):
            return None, "REJECTED:-2019"
        return self.fill(quantity, price), "FILLED"

    def apply_funding(self, rate: Decimal, mark_price: Decimal) -> Decimal:
        """Settle one funding payment; positive result = paid out by this account.

        payment = position_qty * mark_price * rate, so with a positive rate longs
        pay and shorts receive. Flat accounts pay nothing.
        """
        rate = _dec(rate, "rate")
        mark_price = _dec(mark_price, "mark_price")
        if self.position_qty == 0:
            return ZERO
        payment = self.position_qty * mark_price * rate
        self.wallet_balance -= payment
        self.funding_paid += payment
        return payment

    # --------------------------------------------------------- valuations

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (_dec(mark, "mark") - self.entry_price) * self.position_qty

    def equity(self, mark: Decimal) -> Decimal:
        """Wallet plus unrealised PnL (Binance's "margin balance")."""
        return self.wallet_balance + self.unrealized_pnl(mark)

    def position_notional(self, mark: Decimal) -> Decimal:
        """Signed notional value of the position at ``mark``."""
        return self.position_qty * _dec(mark, "mark")

    def initial_margin(self, mark: Decimal) -> Decimal:
        return abs(self.position_qty) * _dec(mark, "mark") / self.leverage

    def available_balance(self, mark: Decimal) -> Decimal:
        """Margin balance minus initial margin, never below zero (cross margin)."""
        return max(ZERO, self.equity(mark) - self.initial_margin(mark))

    # --------------------------------------------------------- pre-trade

    def margin_required(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Extra initial margin plus fee that an order of signed ``quantity`` needs (``margin_required``)."""
        return margin_required(self.position_qty, _dec(quantity, "quantity"), _dec(price, "price"), self.leverage,
                               self.fee_rate)

    def can_afford(self, quantity: Decimal, price: Decimal) -> bool:
        """Whether the order fits the available balance now (``affordable``; False -> Binance -2019)."""
        price = _dec(price, "price")
        return affordable(self.position_qty, _dec(quantity, "quantity"), price, self.leverage, self.fee_rate,
                          self.available_balance(price))

    def liquidation_price(self) -> Decimal | None:
        """Rough liquidation price of the position, or None when flat / unreachable.

        Solves wallet + (p - entry) * qty = mmr * |qty| * p for p, i.e. the wallet
        alone backs this one position (isolated-style estimate in cross mode).
        """
        qty = self.position_qty
        if qty == 0:
            return None
        mmr = MAINTENANCE_MARGIN_RATE
        price = (self.wallet_balance - self.entry_price * qty) / (mmr * abs(qty) - qty)
        return price if price > 0 else None

    def snapshot(self, mark: Decimal) -> AccountSnapshot:
        mark = _dec(mark, "mark")
        return AccountSnapshot(
            wallet_balance=self.wallet_balance,
            equity=self.equity(mark),
            unrealized_pnl=self.unrealized_pnl(mark),
            available_balance=self.available_balance(mark),
            position_qty=self.position_qty,
            entry_price=self.entry_price,
            mark_price=mark,
            realized_pnl=self.realized_pnl,
            fees_paid=self.fees_paid,
            funding_paid=self.funding_paid,
            trade_count=self.trade_count,
        )
