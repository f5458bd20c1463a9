"""One scheduled fault, as the simulator's fault switches: the exchange-side half of the chaos.

Why a table of small functions: each fault is one call (or two) on ``FaultInjector``;
keeping them here, apart from the harness's lockstep and supervision, makes it plain
that the soak injects only what the simulator really does to a client. The faults that
need the harness (kills, the breach, a stall that must be resumed) are done there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from trader_core.simulator import LoopbackExchange

from .schedule import FaultKind, ScheduledFault

ORDER_PATH = "/fapi/v1/order"
#: Wall seconds per candle while a ban runs. A ban is wall time (Retry-After) and lockstep would
#: close hundreds of candles inside one second of it; so while it runs the harness closes one
#: candle per this many seconds, and a ban of N candles says Retry-After N x this.
BAN_PACE_S = 1.0


def _cut(sim: LoopbackExchange, _f: ScheduledFault):
    return sim.faults.cut_connections_older_than(0)  # Binance's 24-hour cut, for every connection now


def _skew(sim: LoopbackExchange, f: ScheduledFault) -> None:
    sim.faults.clock_skew_ms += int(f.get("skew_ms"))


ARM: dict[FaultKind, Callable[[LoopbackExchange, ScheduledFault], Awaitable | None]] = {
    FaultKind.MARKET_DROP: lambda sim, f: sim.faults.drop_market_streams(1001),
    FaultKind.MARKET_STALL: lambda sim, f: sim.faults.stall_market_streams(),
    FaultKind.CANDLE_GAP: lambda sim, f: sim.faults.skip_candle_closes(int(f.get("candles"))),
    FaultKind.ORDER_5XX: lambda sim, f: sim.faults.fail_next_requests(1, 503, ORDER_PATH, method="POST"),
    FaultKind.ORDER_ACK_LOST: lambda sim, f: sim.faults.timeout_after_accept(1, hold_seconds=float(f.get("hold_s"))),
    FaultKind.RATE_LIMIT_429: lambda sim, f: sim.faults.rate_limit(
        429, retry_after=int(f.get("retry_after_s")), count=1, path_prefix=ORDER_PATH),
    FaultKind.BAN_418: lambda sim, f: sim.faults.rate_limit(
        418, retry_after=int(f.get("candles") * BAN_PACE_S), count=1, path_prefix=ORDER_PATH),
    FaultKind.ORDER_REFUSED: lambda sim, f: sim.faults.reject_next_order(-2019),
    FaultKind.PARTIAL_FILL: lambda sim, f: sim.faults.partial_fill_next_orders(1, f.get("fraction")),
    FaultKind.CLOCK_SKEW: _skew,
    FaultKind.LISTEN_KEY_EXPIRY: lambda sim, f: sim.faults.expire_listen_key(),
    FaultKind.USER_STREAM_DROP: lambda sim, f: sim.faults.drop_user_streams(1001),
    FaultKind.USER_EVENT_LOST: lambda sim, f: sim.faults.lose_user_events(1),
    FaultKind.PRICE_SPIKE: lambda sim, f: sim.faults.price_shock(fraction=str(f.get("fraction"))),
    FaultKind.CONNECTION_CUT: _cut,
}

#: Faults after which the trader must open a new connection (the report times it): market, user.
RECONNECTS: dict[FaultKind, tuple[bool, bool]] = {
    FaultKind.MARKET_DROP: (True, False), FaultKind.CONNECTION_CUT: (True, True),
    FaultKind.USER_STREAM_DROP: (False, True), FaultKind.LISTEN_KEY_EXPIRY: (False, True),
}


async def arm(sim: LoopbackExchange, fault: ScheduledFault) -> None:
    """Switch ``fault`` on in the simulator (and wait for the connections it closes to be closed)."""
    outcome = ARM[fault.kind](sim, fault)
    if outcome is not None and hasattr(outcome, "__await__"):
        await outcome
