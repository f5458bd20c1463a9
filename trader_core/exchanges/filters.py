"""A symbol's trading rules (tick, step, min/max quantity, min notional) with Decimal rounding.

Why: an order that breaks a filter is rejected by Binance, so the engine rounds with
these rules before sending, the paper exchange and the loopback simulator reject with
the very same checks and error codes, and the run metadata records them. Market orders
are sized against MARKET_LOT_SIZE (falling back to LOT_SIZE), as the exchange does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import ConfigError
from .error_codes import BinanceError

ZERO = Decimal("0")

# Binance error codes answered for a MARKET order that breaks a filter.

_PRICE_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}


def _decimals(value: Decimal) -> int:
    """Digits after the decimal point once trailing zeros are dropped (0.0010 -> 3)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _parse_decimal(value: object, what: str) -> Decimal:
    """A filter value as Decimal; Binance and our metadata send decimal strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ConfigError(f"{what} must be a decimal string such as \"0.001\", got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{what} is not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return result


@dataclass(frozen=True)
class SymbolFilters:
    """The rules one symbol's MARKET orders must satisfy."""

    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    def __post_init__(self) -> None:
        for name in ("tick_size", "step_size", "min_qty", "max_qty", "min_notional"):
            if not isinstance(getattr(self, name), Decimal):
                raise ConfigError(f"{self.symbol} filter {name} must be a Decimal")
        if self.tick_size <= 0 or self.step_size <= 0:
            raise ConfigError(
                f"{self.symbol}: tick size and step size must be > 0 "
                f"(tick {self.tick_size}, step {self.step_size})"
            )
        if self.min_qty <= 0 or self.max_qty < self.min_qty:
            raise ConfigError(
                f"{self.symbol}: need 0 < minQty <= maxQty (minQty {self.min_qty}, maxQty {self.max_qty})"
            )
        if self.min_notional < 0:
            raise ConfigError(f"{self.symbol}: min notional must be >= 0, got {self.min_notional}")

    # ------------------------------------------------------------ builders

    @classmethod
    def from_exchange_info(cls, symbol_info: dict) -> SymbolFilters:
        """Build from one entry of exchangeInfo ``symbols`` (filters in any order)."""
        symbol = symbol_info.get("symbol") if isinstance(symbol_info, dict) else None
        if not symbol:
            raise ConfigError("exchangeInfo symbol entry has no 'symbol' field")
        by_type = {
            f.get("filterType"): f
            for f in symbol_info.get("filters") or []
            if isinstance(f, dict)
        }

        def need(filter_type: str, key: str) -> Decimal:
            entry = by_type.get(filter_type)
            if entry is None:
                raise ConfigError(
                    f"exchangeInfo for {symbol} has no {filter_type} filter; "
                    "cannot size orders for this symbol"
                )
            if key not in entry:
                raise ConfigError(f"exchangeInfo for {symbol}: {filter_type} filter has no {key!r}")
            return _parse_decimal(entry[key], f"{symbol} {filter_type}.{key}")

        lot = "MARKET_LOT_SIZE" if "MARKET_LOT_SIZE" in by_type else "LOT_SIZE"
        if lot not in by_type:
            raise ConfigError(
                f"exchangeInfo for {symbol} has neither MARKET_LOT_SIZE nor LOT_SIZE filter; "
                "cannot size orders for this symbol"
            )
        return cls(
            symbol=symbol,
            tick_size=need("PRICE_FILTER", "tickSize"),
            step_size=need(lot, "stepSize"),
            min_qty=need(lot, "minQty"),
            max_qty=need(lot, "maxQty"),
            min_notional=need("MIN_NOTIONAL", "notional"),
        )

    @classmethod
    def btcusdt_default(cls) -> SymbolFilters:
        """BTCUSDT's rules as in the reference exchangeInfo (MARKET_LOT_SIZE for qty)."""
        return cls(
            symbol="BTCUSDT",
            tick_size=Decimal("0.10"),
            step_size=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            max_qty=Decimal("120"),
            min_notional=Decimal("50"),
        )

    def to_dict(self) -> dict[str, str]:
        """Plain strings, so YAML keeps every digit."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> SymbolFilters:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(f"symbol filters are missing {', '.join(missing)}")
        symbol = data["symbol"]
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(f"symbol filters: symbol must be a non-empty string, got {symbol!r}")
        values = {n: _parse_decimal(data[n], f"{symbol} {n}") for n in names if n != "symbol"}
        return cls(symbol=symbol, **values)

    # ------------------------------------------------------------ rounding

    def _on_step(self, abs_qty: Decimal) -> bool:
        return (abs_qty - self.min_qty) % self.step_size == 0

    def round_qty_down(self, qty: Decimal) -> Decimal:
        """Round toward zero onto the grid minQty + k * stepSize, keeping the sign.

        A quantity below minQty has no tradable size and becomes 0.
        """
        size = abs(qty)
        if size < self.min_qty:
            return ZERO
        steps = (size - self.min_qty) // self.step_size
        rounded = self.min_qty + steps * self.step_size
        return rounded if qty > 0 else -rounded

    def clamp_qty(self, qty: Decimal) -> Decimal:
        """Cap abs(qty) at maxQty, then round down onto the step grid (sign kept)."""
        capped = min(abs(qty), self.max_qty)
        rounded = self.round_qty_down(capped)
        return rounded if qty >= 0 else -rounded

    def round_price(self, price: Decimal, direction: str = "nearest") -> Decimal:
        """Round ``price`` to a multiple of tick_size: "down", "up" or "nearest"."""
        try:
            rounding = _PRICE_ROUNDING[direction]
        except KeyError:
            raise ValueError(f"direction must be 'down', 'up' or 'nearest', got {direction!r}") from None
        ticks = (price / self.tick_size).to_integral_value(rounding=rounding)
        return ticks * self.tick_size

    # ------------------------------------------------------------ checks

    def is_valid_qty(self, qty: Decimal) -> bool:
        """abs(qty) lies on the step grid within [minQty, maxQty]."""
        size = abs(qty)
        return self.min_qty <= size <= self.max_qty and self._on_step(size)

    def meets_min_notional(self, qty: Decimal, price: Decimal) -> bool:
        return abs(qty) * price >= self.min_notional

    def check_market_order(
        self, qty: Decimal, mark_price: Decimal, reduce_only: bool
    ) -> int | None:
        """The Binance error code a MARKET order of absolute ``qty`` would get, or None.

        Checked in this order: -4003 qty <= 0, -1111 too many decimals, -4004 below
        minQty, -4005 above maxQty, -4023 off step, -4164 notional (at the mark
        price) below the minimum unless reduce-only.
        """
        if qty <= 0:
            return BinanceError.QTY_NOT_POSITIVE
        allowed = max(_decimals(self.step_size), _decimals(self.min_qty))
        if _decimals(qty) > allowed:
            return BinanceError.BAD_PRECISION
        if qty < self.min_qty:
            return BinanceError.QTY_LESS_THAN_MIN
        if qty > self.max_qty:
            return BinanceError.QTY_GREATER_THAN_MAX
        if not self._on_step(qty):
            return BinanceError.QTY_NOT_ON_STEP
        if not reduce_only and not self.meets_min_notional(qty, mark_price):
            return BinanceError.MIN_NOTIONAL
        return None
