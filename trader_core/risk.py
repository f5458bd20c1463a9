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

from .accounting import affordable, drawdown, drawdown_reached, reduces
from .exchanges.base import AccountState
from .policy import OrderPlan
from .states import EngineState


@dataclass
class DrawdownGuard:
    limit: float  # fraction of peak equity, 0 < limit < 1
    peak: Decimal | None = None

    def observe(self, equity: Decimal) -> float:
        """Update the peak with ``equity`` and return the drawdown from it."""
        if self.peak is None or equity > self.peak:
            self.peak = equity
        return drawdown(equity, self.peak)

    def breached(self, equity: Decimal) -> bool:
        """True when ``equity`` has reached the limit below the peak (``drawdown_reached``)."""
        return self.peak is not None and drawdown_reached(equity, self.peak, self.limit)


def is_stale(candle_close_ms: int, now_ms: int, grace_ms: int) -> bool:
    """A closed candle older than its close plus the grace is history, not a signal."""
    return now_ms - candle_close_ms > grace_ms


#: States in which no new order may go out, whatever it is.
NO_ORDERS = (EngineState.PAUSED, EngineState.HALTED, EngineState.STOPPED, EngineState.STARTING)


def pre_trade_block(
    plan: OrderPlan, state: EngineState, account: AccountState, price: Decimal, leverage: int, fee_rate: Decimal,
    position_qty: Decimal,
) -> str | None:
    """The reason this order must not be sent, or None if it may go."""
    if state in NO_ORDERS:  # first: a paused candle says "paused", whatever the plan wanted
        return EngineState(state).value.lower()
    if plan.quantity == 0:
        return plan.reason
    reducing = plan.reduce_only or reduces(position_qty, plan.quantity)
    if state == EngineState.REDUCING and not reducing:
        return "reducing_only"
    if not affordable(position_qty, plan.quantity, price, leverage, fee_rate, account.available_balance):
        return "insufficient_margin"
    return None
