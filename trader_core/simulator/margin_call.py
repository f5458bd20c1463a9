"""When the user stream says ``MARGIN_CALL``: the rule and the once-per-crossing memory.

Why: a client that hears a margin call must act before liquidation, and must not be
told the same thing on every tick while the account stays in danger. The rule:

    margin ratio = maintenance margin / margin balance   (Binance's definition)

A position is in margin call when its margin ratio is at or above
``MARGIN_CALL_RATIO`` (80 %) - or its margin balance is gone (<= 0). Binance
liquidates at 100 %; it warns before that (its notifications use a margin-ratio
level; 80 % is the level chosen here and is a documented choice, not a published
constant). One ``MARGIN_CALL`` is sent per crossing: when the account enters the
zone; it is sent again only after the ratio fell back below the level and crossed
it once more. It is checked after every change of the mark (each market update, a
price shock and its end), every fill and every funding settlement.

The maintenance margin is |notional at the mark| x ``MAINTENANCE_MARGIN_RATE`` (see
``brackets``) and the margin balance is ``FuturesAccount.equity(mark)`` (cross
margin: wallet plus unrealised PnL). The simulator has no liquidation engine: at
100 % and beyond the position stays open (documented departure).
"""

from __future__ import annotations

from decimal import Decimal

MARGIN_CALL_RATIO = Decimal("0.8")


def in_margin_call(position_qty: Decimal, maint_margin: Decimal, margin_balance: Decimal) -> bool:
    """Whether a position is in the margin-call zone (ratio >= ``MARGIN_CALL_RATIO``, or no balance)."""
    if position_qty == 0:
        return False
    if margin_balance <= 0:
        return True
    return maint_margin >= MARGIN_CALL_RATIO * margin_balance


class MarginCallWatch:
    """Remembers whether the account is in the zone, so a call goes out once per crossing."""

    def __init__(self) -> None:
        self.in_call = False
        self.calls = 0

    def crossed(self, position_qty: Decimal, maint_margin: Decimal, margin_balance: Decimal) -> bool:
        """Update with the account now; True exactly when it has just entered the zone."""
        now = in_margin_call(position_qty, maint_margin, margin_balance)
        entered = now and not self.in_call
        self.in_call = now
        if entered:
            self.calls += 1
        return entered
