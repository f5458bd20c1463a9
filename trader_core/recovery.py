"""After a crash: find every order the dead process sent, and journal what happened while it was down.

Why: a process can die between an order's POST and its journal row, or in the
middle of an emergency close, and candles keep closing while nobody runs. The
restarted session must end up with a journal that has every candle exactly once
and every order the exchange received exactly once - from the exchange's own
records, never from a guess - before it trades again.

The reasoning is pure functions over the journal rows and the exchange's order list
(``plan_recovery``): the session's ids are deterministic (``client_ids``), so an
order of this session that no row names is an order the crash cut off. The engine
then writes, in order: the recovered emergency rows, one row per candle that closed
after the last journaled one (the recovered fill, or ``SKIPPED:down``), and trades
on from the position the exchange reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .books import journal_totals
from .candles import Candle
from .client_ids import parse_client_id, session_prefix
from .emergency import recovered_emergency_record
from .exchanges.base import AccountState, Exchange, OrderResult, PositionState
from .journal import EmergencyRecord, read_emergencies, read_steps
from .states import EngineState

ZERO = Decimal(0)
#: How far before the last journaled candle the exchange's order list is read.
RECOVERY_MARGIN_MS = 3_600_000


def journaled_client_ids(step_rows: Iterable[dict], emergency_rows: Iterable[dict]) -> set[str]:
    """Every client order id a journal row names (steps, and the close orders of emergencies)."""
    ids = {row["client_order_id"] for row in step_rows if row.get("client_order_id")}
    for row in emergency_rows:
        ids.update(i for i in (row.get("close_orders") or "").split(";") if i)
    return ids


def journal_position(step_rows: Sequence[dict], emergency_rows: Sequence[dict],
                     start_position: Decimal = ZERO) -> Decimal:
    """The position after the journal's last event (a step row, or an emergency that read its
    position); ``start_position`` (adopted at the session's start) when there is none."""
    events = [(row["time"], 0, row.get("position_qty", "0")) for row in step_rows[-1:]]
    known = [row for row in emergency_rows if row.get("position_after") not in (None, "", "unknown", "?")]
    events += [(row["time"], 1, row["position_after"]) for row in known[-1:]]
    if not events:
        return start_position
    return Decimal(max(events)[2] or "0")


def last_emergency_seq(emergency_rows: Iterable[dict]) -> int:
    """The highest emergency number the journal used (0 when none)."""
    return max((int(row.get("seq") or 0) for row in emergency_rows), default=0)


@dataclass(frozen=True)
class RecoveryPlan:
    """What the exchange knows and the journal does not, and the position that makes them agree."""

    candle_orders: dict[int, OrderResult] = field(default_factory=dict)  # candle open time -> order
    emergency_orders: dict[int, tuple[str, tuple[OrderResult, ...]]] = field(default_factory=dict)
    journal_position: Decimal = ZERO

    @property
    def recovered(self) -> tuple[OrderResult, ...]:
        orders = list(self.candle_orders.values())
        for _trigger, found in self.emergency_orders.values():
            orders.extend(found)
        return tuple(orders)

    @property
    def expected_position(self) -> Decimal:
        """The journal's position plus every recovered fill: what the exchange must hold."""
        return self.journal_position + sum((o.signed_executed_qty for o in self.recovered), ZERO)


def plan_recovery(
    tag: str, step_rows: Sequence[dict], emergency_rows: Sequence[dict], exchange_orders: Iterable[OrderResult],
    start_position: Decimal = ZERO,
) -> RecoveryPlan:
    """Which of the session's orders on the exchange no journal row names."""
    journaled = journaled_client_ids(step_rows, emergency_rows)
    prefix = session_prefix(tag)
    candle_orders: dict[int, OrderResult] = {}
    emergencies: dict[int, tuple[str, list[OrderResult]]] = {}
    for order in exchange_orders:
        cid = order.client_order_id
        if not cid.startswith(prefix) or cid in journaled:
            continue
        parsed = parse_client_id(cid)
        if parsed is None or parsed.tag != tag:
            continue
        if parsed.is_candle_order:
            candle_orders[parsed.candle_open_time] = order
        else:
            emergencies.setdefault(parsed.emergency_seq, (parsed.trigger, []))[1].append(order)
    return RecoveryPlan(
        candle_orders=dict(sorted(candle_orders.items())),
        emergency_orders={seq: (trigger, tuple(found)) for seq, (trigger, found) in sorted(emergencies.items())},
        journal_position=journal_position(step_rows, emergency_rows, start_position),
    )


@dataclass(frozen=True)
class Recovery:
    """What a resumed session must journal before it trades, read from the journal and the exchange."""

    plan: RecoveryPlan
    missed: tuple[tuple[Candle, OrderResult | None], ...]  # each candle after the last row, with its order
    emergencies: tuple[tuple[EmergencyRecord, tuple[OrderResult, ...]], ...]  # cut-off emergencies, their closes
    last_seq: int  # the highest emergency number used so far
    fees_paid: Decimal  # fees of every journaled fill (steps and emergencies)
    realized_pnl: Decimal  # realised PnL the journal booked (fills of steps and emergencies)
    funding: Decimal  # funding the journal booked
    origin: str  # how reconciliation names what it expects


async def read_recovery(
    *, tag: str, steps_path: Path, emergencies_path: Path, last_candle: int | None, start_position: Decimal,
    exchange: Exchange, feed, history: Sequence[Candle], step_ms: int, position: PositionState,
    account: AccountState, peak: Decimal | None, mode: str, fee_rate: Decimal, now_ms: int,
) -> Recovery:
    """Read the journal once, ask the exchange for the session's orders since its last row, and
    work out every row the crash left unwritten (rows are written by the engine)."""
    rows, emergencies = read_steps(steps_path), read_emergencies(emergencies_path)
    totals = journal_totals(rows, emergencies)  # the session's running figures continue from its rows
    since = (last_candle if last_candle is not None else history[0].open_time) - RECOVERY_MARGIN_MS
    plan = plan_recovery(tag, rows, emergencies, await exchange.orders_since(since), start_position)
    candles = [c for c in history if last_candle is None or c.open_time > last_candle]
    if last_candle is not None and candles and candles[0].open_time > last_candle + step_ms:
        # down longer than the history reaches back: fetch the candles in between too
        candles = list(await feed.closed_between(last_candle + step_ms, candles[0].open_time - step_ms)) + candles
    seq = last_emergency_seq(emergencies)
    records = []
    for number, (trigger, found) in plan.emergency_orders.items():
        seq = max(seq, number)
        records.append((recovered_emergency_record(
            seq=number, trigger=trigger, orders=found, position=position, account=account, peak=peak,
            state_after=EngineState.STARTING.value, mode=mode, fee_rate=fee_rate, now_ms=now_ms,
        ), found))
    recovered = len(plan.recovered)
    origin = f"the journal of session {tag}" + (f" with {recovered} recovered order(s)" if recovered else "")
    return Recovery(
        plan=plan, missed=tuple((c, plan.candle_orders.get(c.open_time)) for c in candles),
        emergencies=tuple(records), last_seq=seq, fees_paid=totals["COMMISSION"],
        realized_pnl=totals["REALIZED_PNL"], funding=totals["FUNDING_FEE"], origin=origin,
    )
