"""Books as the exchange reports them: each order's fee and realised PnL, and the session's totals.

Why: the journal is the operator's audit record, so its fee is what the exchange
charged and its realised PnL and funding what the exchange booked - not figures
recomputed from the training fee rate. Each order's fills come, in order of
preference, from the user-data stream (already in memory), from ``userTrades`` by
REST, or - only when the exchange cannot be asked - from the local accounting (said
in the events). The local expectation is kept beside the exchange's figure; a
difference beyond ``[streams] tolerance`` is an event. At the end of a session the
journal's totals are checked against ``/fapi/v1/income``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from .emergency import fill_fee
from .errors import ExchangeError
from .exchanges.base import Exchange, OrderFills, OrderResult

ZERO = Decimal(0)


@dataclass(frozen=True)
class BookedFill:
    """An order's fill as journaled: the exchange's figures and the local expectation."""

    quantity: Decimal  # signed
    price: Decimal
    fee: Decimal  # charged by the exchange
    realized_pnl: Decimal  # booked by the exchange (before the fee)
    expected_fee: Decimal  # the run's fee rate applied to the fill
    source: str  # "stream", "rest", "exchange" (in-process) or "computed"


class FillBooks:
    """Fetches the exchange's figures for filled orders and reports where they differ from the expectation."""

    def __init__(self, exchange: Exchange, fee_rate: Decimal, tolerance: Decimal,
                 report: Callable[[str, str, str], object], streams=None, wait_s: float = 2.0) -> None:
        self.exchange = exchange
        self.fee_rate = fee_rate
        self.tolerance = tolerance
        self._report = report
        self.streams = streams  # AccountStreams or None
        self.wait_s = wait_s

    async def book(self, order: OrderResult, position_after: Decimal | None) -> BookedFill:
        """The exchange's figures for ``order`` (executed > 0). With streams, waits (bounded) until its
        fills and the position after it have arrived, so the step reads a settled account."""
        fills = await self._fills(order, position_after)
        expected = fill_fee(order.executed_qty, order.avg_price, self.fee_rate)
        if fills is None:
            self._report("warning", "books", f"order {order.client_order_id}: the exchange's fills could not be read; "
                         "journaling the fee computed at the run's rate")
            return BookedFill(order.signed_executed_qty, order.avg_price, expected, ZERO, expected, "computed")
        summed, source = fills
        if abs(summed.quantity) != order.executed_qty:
            self._report("warning", "books", f"order {order.client_order_id}: fills report {summed.quantity}, the "
                         f"order {order.signed_executed_qty}")
        if abs(summed.commission - expected) > self.tolerance:
            self._report("warning", "books", f"order {order.client_order_id}: the exchange charged {summed.commission}, "
                         f"the run's fee rate expects {expected}")
        price = summed.average_price or order.avg_price
        return BookedFill(order.signed_executed_qty, price, summed.commission, summed.realized_pnl, expected, source)

    async def _fills(self, order: OrderResult, position_after: Decimal | None) -> tuple[OrderFills, str] | None:
        streams = self.streams
        if streams is not None and streams.live:
            book = streams.book

            def settled() -> bool:
                reported = book.fills_of(order.client_order_id)
                position_ok = position_after is None or book.position_qty == position_after
                return abs(reported.quantity) >= order.executed_qty and position_ok

            if await book.wait_until(settled, self.wait_s):
                return book.fills_of(order.client_order_id), "stream"
            self._report("warning", "books", f"order {order.client_order_id}: its fills did not arrive on the user "
                         f"stream within {self.wait_s:g} s; asking REST")
        try:
            return await self.exchange.order_fills(order), "exchange" if self.exchange.in_process else "rest"
        except ExchangeError as exc:
            self._report("warning", "books", f"order {order.client_order_id}: userTrades failed: {exc}")
            return None


def journal_totals(step_rows: Iterable[dict], emergency_rows: Iterable[dict]) -> dict[str, Decimal]:
    """Fees, realised PnL and funding the journal recorded (steps and emergencies)."""
    steps, emergencies = list(step_rows), list(emergency_rows)
    return {
        "COMMISSION": sum((Decimal(r["order_fee"] or "0") for r in steps), ZERO)
        + sum((Decimal(r.get("fees") or "0") for r in emergencies), ZERO),
        "REALIZED_PNL": sum((Decimal(r.get("fill_realized_pnl") or "0") for r in steps), ZERO)
        + sum((Decimal(r.get("realized_pnl") or "0") for r in emergencies), ZERO),
        "FUNDING_FEE": sum((Decimal(str(r.get("funding") or "0")) for r in steps), ZERO),
    }


def income_totals(rows: Iterable[tuple[str, Decimal, int]]) -> dict[str, Decimal]:
    """The exchange's income by type; commissions as paid (positive), like the journal."""
    totals = {"COMMISSION": ZERO, "REALIZED_PNL": ZERO, "FUNDING_FEE": ZERO}
    for kind, amount, _time in rows:
        if kind in totals:
            totals[kind] += amount
    totals["COMMISSION"] = -totals["COMMISSION"]
    return totals


def compare_totals(journal: dict[str, Decimal], exchange: dict[str, Decimal], tolerance: Decimal) -> list[str]:
    """Where the journal and the exchange's income disagree beyond the tolerance."""
    names = {"COMMISSION": "fees", "REALIZED_PNL": "realised PnL", "FUNDING_FEE": "funding"}
    return [
        f"{names[kind]}: journal {journal[kind]}, exchange {exchange[kind]}"
        for kind in names if abs(journal[kind] - exchange[kind]) > tolerance
    ]
