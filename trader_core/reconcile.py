"""Start-up reconciliation: never trade blind on top of what the exchange already holds.

Before the first decision the session reads the position and the open orders. A
position that differs from what this session expects (flat for a new session, the
journal's last position after a restart), or an open order it did not place, is
refused with a message saying what was found and what to do, unless the operator
chose to adopt it (``[trading] adopt_unknown_position = true``).
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


async def reconcile(
    exchange: Exchange, expected_position: Decimal = Decimal(0),
    known_client_ids: frozenset[str] = frozenset(), adopt: bool = False,
) -> Reconciliation:
    position = await exchange.position()
    orders = tuple(await exchange.open_orders())
    unknown_orders = [o for o in orders if o.client_order_id not in known_client_ids]
    position_differs = position.quantity != expected_position
    if (position_differs or unknown_orders) and not adopt:
        problems = []
        if position_differs:
            problems.append(
                f"a {position.symbol} position of {position.quantity} (entry {position.entry_price}) where "
                f"this session expects {expected_position}"
            )
        if unknown_orders:
            ids = ", ".join(o.client_order_id or str(o.order_id) for o in unknown_orders[:3])
            problems.append(f"{len(unknown_orders)} open order(s) this session did not place ({ids})")
        raise ReconciliationError(
            f"refusing to trade: the exchange holds {' and '.join(problems)}. Close them on the exchange, "
            "or set [trading] adopt_unknown_position = true in config.toml to trade from them"
        )
    return Reconciliation(position, orders, adopted=bool(position_differs or unknown_orders))
