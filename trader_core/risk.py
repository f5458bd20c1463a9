"""Risk rules the engine applies on every step, before anything is sent.

* ``DrawdownGuard`` measures drawdown on *account equity including unrealised PnL*
  against the session's peak - not on closed-trade profits (the mistake that let
  freqtrade users fall 40 % under a 10 % limit) - and says when the limit is hit.
* ``pre_trade_block`` answers "may this order go out now?": engine state (paused,
  reducing-only, halted), staleness of the candle, and margin (available balance
  must cover the new exposure's initial margin plus fee).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .exchanges.base import AccountState
from .policy import OrderPlan


@dataclass
class DrawdownGuard:
    limit: float  # fraction of peak equity, 0 < limit < 1
    peak: Decimal | None = None

    def observe(self, equity: Decimal) -> float:
        """Update the peak with ``equity`` and return the drawdown from it."""
        if self.peak is None or equity > self.peak:
            self.peak = equity
        if self.peak <= 0:
            return 1.0
        return max(0.0, float(1 - equity / self.peak))

    def breached(self, equity: Decimal) -> bool:
        """True when ``equity`` is at or below the peak less the limit (exact, in Decimal:
        a drawdown of exactly the limit trips; one unit of the last place above does not)."""
        if self.peak is None:
            return False
        if self.peak <= 0:
            return True
        return equity <= self.peak * (1 - Decimal(str(self.limit)))


def is_stale(candle_close_ms: int, now_ms: int, grace_ms: int) -> bool:
    """A closed candle older than its close plus the grace is history, not a signal."""
    return now_ms - candle_close_ms > grace_ms


def pre_trade_block(
    plan: OrderPlan, state: str, account: AccountState, price: Decimal, leverage: int, fee_rate: Decimal,
    position_qty: Decimal,
) -> str | None:
    """The reason this order must not be sent, or None if it may go."""
    if plan.quantity == 0:
        return plan.reason
    if state in ("PAUSED", "HALTED", "STOPPED", "STARTING"):
        return state.lower()
    reduces = plan.reduce_only or (position_qty != 0 and abs(position_qty + plan.quantity) < abs(position_qty)
                                   and (position_qty + plan.quantity) * position_qty >= 0)
    if state == "REDUCING" and not reduces:
        return "reducing_only"
    if not reduces:
        opening = abs(plan.quantity) if position_qty * plan.quantity >= 0 else max(
            Decimal(0), abs(plan.quantity) - abs(position_qty)
        )
        required = opening * price / leverage + abs(plan.quantity) * price * fee_rate
        freed = abs(position_qty) * price / leverage if position_qty * plan.quantity < 0 else Decimal(0)
        if required > account.available_balance + freed:
            return "insufficient_margin"
    return None
