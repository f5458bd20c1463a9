"""Range checks for the numbers a run's metadata hands to live trading.

Why: ``config_metadata.yaml`` is a text file anyone can edit, and its trading block
(leverage, fee rate, starting balance, action mapping, symbol filters) is fed
straight into order sizing and the accounting. A typo such as ``leverage: "abc"``
or a negative fee rate must stop the load with one line naming the key, not
surface later as a crash in the middle of a session, or worse, as wrong orders.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from .errors import ConfigError, RunError
from .exchanges.filters import SymbolFilters
from .policy import ActionMapping

MAX_LEVERAGE = 125  # Binance USD-M's highest leverage bracket
MAX_FEE_RATE = Decimal("0.1")  # exclusive; real taker fees are ~0.0005
MAX_BALANCE = Decimal("1e12")  # USDT; beyond this float accounting loses cents
MAX_FILTER_VALUE = Decimal("1e12")


def _decimal(value: object, key: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RunError(f"{where}: {key} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RunError(f"{where}: {key} is not a number: {value!r}") from None
    if not number.is_finite():
        raise RunError(f"{where}: {key} must be a finite number, got {value!r}")
    return number


def _float(value: object, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RunError(f"{where}: {key} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise RunError(f"{where}: {key} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise RunError(f"{where}: {key} must be a finite number, got {value!r}")
    return number


def leverage(trading: dict, where: str) -> int:
    value = trading.get("leverage")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LEVERAGE:
        raise RunError(f"{where}: trading.leverage must be an integer from 1 to {MAX_LEVERAGE}, got {value!r}")
    return value


def fee_rate(trading: dict, where: str) -> Decimal:
    rate = _decimal(trading.get("fee_rate"), "trading.fee_rate", where)
    if not Decimal(0) <= rate < MAX_FEE_RATE:
        raise RunError(f"{where}: trading.fee_rate must be >= 0 and < {MAX_FEE_RATE}, got {trading['fee_rate']!r}")
    return rate


def initial_balance(trading: dict, where: str) -> Decimal:
    balance = _decimal(trading.get("initial_balance"), "trading.initial_balance", where)
    if not Decimal(0) < balance <= MAX_BALANCE:
        raise RunError(
            f"{where}: trading.initial_balance must be > 0 and <= {MAX_BALANCE:E} USDT, "
            f"got {trading['initial_balance']!r}"
        )
    return balance


def drawdown_limit(trading: dict, where: str) -> float | None:
    """Optional (the training environment's episode end); checked when present."""
    if "drawdown_limit" not in trading:
        return None
    limit = _float(trading["drawdown_limit"], "trading.drawdown_limit", where)
    if not 0 < limit <= 1:
        raise RunError(f"{where}: trading.drawdown_limit must be > 0 and <= 1, got {limit!r}")
    return limit


def action_mapping(info: object, account_leverage: int, where: str) -> ActionMapping:
    if not isinstance(info, dict):
        raise RunError(f"{where}: action_mapping must be a mapping with max_leverage and deadband")
    for key in ("max_leverage", "deadband"):
        if key not in info:
            raise RunError(f"{where}: missing required key 'action_mapping.{key}'")
    max_leverage = _float(info["max_leverage"], "action_mapping.max_leverage", where)
    deadband = _float(info["deadband"], "action_mapping.deadband", where)
    if not 0 < max_leverage <= account_leverage:
        raise RunError(
            f"{where}: action_mapping.max_leverage must be > 0 and <= trading.leverage ({account_leverage}), "
            f"got {max_leverage!r}"
        )
    if not 0 <= deadband < 1:
        raise RunError(f"{where}: action_mapping.deadband must be >= 0 and < 1, got {deadband!r}")
    return ActionMapping(max_leverage, deadband)


def filters(info: object, symbol: str, where: str) -> SymbolFilters:
    if not isinstance(info, dict):
        raise RunError(f"{where}: trading.filters must be a mapping")
    try:
        parsed = SymbolFilters.from_dict(info)
    except ConfigError as exc:
        raise RunError(f"{where}: trading.filters: {exc}") from None
    if parsed.symbol != symbol:
        raise RunError(f"{where}: trading.filters are for {parsed.symbol} but the run trades {symbol}")
    for name in ("tick_size", "step_size", "min_qty", "max_qty", "min_notional"):
        if getattr(parsed, name) > MAX_FILTER_VALUE:
            raise RunError(f"{where}: trading.filters.{name} {getattr(parsed, name)} is beyond {MAX_FILTER_VALUE:E}")
    return parsed
