"""Start-up reconciliation: never trade blind on top of what the exchange already holds.

Before the first decision the session reads the position and the open orders and
compares them with what it expects: flat for a new session; for a resumed one, the
journal's last position plus every order recovered from the exchange. The decision
is a pure function (``judge``) so every branch is unit-tested:

* the exchange holds what is expected -> trade on;
* the exchange is **flat** but the journal expected a position -> trade on from flat,
  with a warning naming both figures (the position was closed outside the session;
  nothing is held, so nothing is traded blind);
* the exchange holds a **different, non-zero** position, or open orders this session
  did not place -> refuse, naming what differs, unless the operator chose to adopt it
  (``[trading] adopt_unknown_position = true``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .errors import ReconciliationError
from .exchanges.base import Exchange, OpenOrder, PositionState


@dataclass(frozen=True)
class Reconciliation:
    position: PositionState
    open_orders: tuple[OpenOrder, ...]
    adopted: bool  # True when an unknown position or orders were taken over by choice
    note: str = ""  # what differed and was accepted, for the operator's log


def _qty(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def judge(
    position: PositionState, orders: tuple[OpenOrder, ...], expected: Decimal, adopt: bool, origin: str,
) -> Reconciliation:
    """Accept, accept with a note, or raise ``ReconciliationError`` naming what differs."""
    unknown_orders = list(orders)
    held = position.quantity
    if held == expected and not unknown_orders:
        return Reconciliation(position, orders, adopted=False)
    if held == 0 and not unknown_orders:
        return Reconciliation(position, orders, adopted=False, note=(
            f"{origin} expects a position of {_qty(expected)} but the exchange is flat: it was closed outside "
            "this session; trading on from flat"
        ))
    problems = []
    if held != expected:
        problems.append(
            f"a {position.symbol} position of {_qty(held)} (entry {_qty(position.entry_price)}) where {origin} "
            f"expects {_qty(expected)}"
        )
    if unknown_orders:
        ids = ", ".join(o.client_order_id or str(o.order_id) for o in unknown_orders[:3])
        problems.append(f"{len(unknown_orders)} open order(s) this session did not place ({ids})")
    if adopt:
        return Reconciliation(position, orders, adopted=True, note=f"adopted {' and '.join(problems)}")
    raise ReconciliationError(
        f"refusing to trade: the exchange holds {' and '.join(problems)}. Close them on the exchange, "
        "or set [trading] adopt_unknown_position = true in config.toml to trade from them"
    )


async def reconcile(
    exchange: Exchange, expected_position: Decimal = Decimal(0), adopt: bool = False,
    origin: str = "this new session",
) -> Reconciliation:
    position = await exchange.position()
    orders = tuple(await exchange.open_orders())
    return judge(position, orders, expected_position, adopt, origin)
