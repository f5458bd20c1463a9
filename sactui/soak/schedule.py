"""The chaos schedule: which fault, at which candle of the span, with which parameters.

Why a pure function of a seed: a soak that failed must be run again with exactly the
same faults at exactly the same candles, and two runs with one seed must be comparable.
``build_schedule(seed, profile)`` draws everything here (positions, durations, sizes,
kill delays, downtime, the operator's review time) from one ``random.Random(seed)``;
nothing at run time adds randomness to *what* is injected or *when*.

A fault "at candle k" is armed (or done) just before candle k of the span closes.
Faults that act on the next order (5xx, ack lost, 429, 418, refusal, partial fill)
fire on the first order the trader sends from then on; the report says when.
"""

from __future__ import annotations

import enum
import json
import random
from dataclasses import dataclass, field


class FaultKind(str, enum.Enum):
    MARKET_DROP = "market_drop"  # every market websocket closed (1001): reconnect + backfill
    MARKET_STALL = "market_stall"  # market websockets open but silent for n candles
    CANDLE_GAP = "candle_gap"  # n candle closes never broadcast (REST still has them)
    ORDER_5XX = "order_5xx"  # the next order POST answered 503 -1001, not processed
    ORDER_ACK_LOST = "order_ack_lost"  # the next order is accepted, its answer never arrives in time
    RATE_LIMIT_429 = "rate_limit_429"  # the next order POST: 429 -1003 with Retry-After
    BAN_418 = "ban_418"  # the next order POST: 418, IP banned for a few candles
    ORDER_REFUSED = "order_refused"  # the next order refused (-2019 margin is insufficient)
    PARTIAL_FILL = "partial_fill"  # the next MARKET order executes only a fraction, then EXPIRED
    CLOCK_SKEW = "clock_skew"  # the exchange's clock runs some seconds further ahead from now on (-1021)
    LISTEN_KEY_EXPIRY = "listen_key_expiry"  # listenKeyExpired, the user stream closes
    USER_STREAM_DROP = "user_stream_drop"  # the user-data websocket closes (1001)
    USER_EVENT_LOST = "user_event_lost"  # one user-data event never sent (only REST can find it)
    PRICE_SPIKE = "price_spike"  # last price and mark jump a little inside the candle
    CONNECTION_CUT = "connection_cut"  # Binance's 24-hour cut: every websocket closes
    KILL_RANDOM = "kill_random"  # SIGKILL a few ms after the close: before, during or after the order
    KILL_HELD_ORDER = "kill_held_order"  # SIGKILL while an accepted order's answer is held
    DRAWDOWN_BREACH = "drawdown_breach"  # a mark crash against the position, past the drawdown limit

    def __str__(self) -> str:
        return self.value


#: Faults that end the trader process (the harness restarts it).
PROCESS_FAULTS = frozenset({FaultKind.KILL_RANDOM, FaultKind.KILL_HELD_ORDER, FaultKind.DRAWDOWN_BREACH})
#: Faults after which the closes of the next ``candles`` candles never reach the trader live.
SILENCING_FAULTS = frozenset({FaultKind.MARKET_STALL, FaultKind.CANDLE_GAP})
#: Faults that fire on the trader's next order, not at once.
ON_NEXT_ORDER = frozenset({FaultKind.ORDER_5XX, FaultKind.ORDER_ACK_LOST, FaultKind.RATE_LIMIT_429,
                           FaultKind.BAN_418, FaultKind.ORDER_REFUSED, FaultKind.PARTIAL_FILL})


@dataclass(frozen=True)
class ScheduledFault:
    """One fault of the schedule. ``candle``: its position in the span (0 = the first candle)."""

    candle: int
    kind: FaultKind
    params: tuple[tuple[str, float | int], ...] = ()

    def get(self, name: str, default: float = 0) -> float | int:
        return dict(self.params).get(name, default)

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.kind.value}({extra})" if extra else self.kind.value

    def as_dict(self) -> dict:
        return {"candle": self.candle, "kind": self.kind.value, "params": dict(self.params)}


@dataclass(frozen=True)
class Profile:
    """How long, and how many of each fault. ``windows`` place the process faults at fixed
    fractions of the span, so that one process lives long enough to judge its memory."""

    name: str
    steps: int  # candles of the span (1m candles: 2,880 = 48 h)
    counts: dict[FaultKind, int] = field(default_factory=dict)
    windows: tuple[tuple[FaultKind, float, float], ...] = ()  # (kind, from, to) as fractions of the span
    connection_cuts: tuple[float, ...] = ()  # fractions of the span where Binance's 24 h cut falls
    warmup: int = 20  # no fault in the first candles: the session reaches its first orders first
    judge_resources: bool = True  # False: no process lives long enough to show a trend (the short soak)


FULL = Profile(
    "full", 2880,
    counts={
        FaultKind.MARKET_DROP: 4, FaultKind.MARKET_STALL: 2, FaultKind.CANDLE_GAP: 3, FaultKind.ORDER_5XX: 3,
        FaultKind.ORDER_ACK_LOST: 2, FaultKind.RATE_LIMIT_429: 3, FaultKind.BAN_418: 1, FaultKind.ORDER_REFUSED: 2,
        FaultKind.PARTIAL_FILL: 2, FaultKind.CLOCK_SKEW: 2, FaultKind.LISTEN_KEY_EXPIRY: 2,
        FaultKind.USER_STREAM_DROP: 3, FaultKind.USER_EVENT_LOST: 1, FaultKind.PRICE_SPIKE: 4,
    },
    windows=((FaultKind.KILL_HELD_ORDER, 0.08, 0.15), (FaultKind.KILL_RANDOM, 0.25, 0.32),
             (FaultKind.DRAWDOWN_BREACH, 0.40, 0.45), (FaultKind.KILL_RANDOM, 0.85, 0.92)),
    connection_cuts=(0.5,),
)

SHORT = Profile(
    "short", 240,
    counts={
        FaultKind.MARKET_DROP: 1, FaultKind.CANDLE_GAP: 1, FaultKind.ORDER_5XX: 1, FaultKind.ORDER_ACK_LOST: 1,
        FaultKind.RATE_LIMIT_429: 1, FaultKind.PARTIAL_FILL: 1, FaultKind.USER_STREAM_DROP: 1,
        FaultKind.CLOCK_SKEW: 1,
    },
    windows=((FaultKind.KILL_HELD_ORDER, 0.25, 0.35), (FaultKind.DRAWDOWN_BREACH, 0.55, 0.62),
             (FaultKind.KILL_RANDOM, 0.85, 0.92)),
    judge_resources=False,
)

PROFILES = {p.name: p for p in (FULL, SHORT)}

#: No other fault within this many candles of a process fault (each is judged on its own).
PROCESS_SPACING = 12
#: Two ordinary faults are at least this many candles apart.
SPACING = 5


def _params(kind: FaultKind, rng: random.Random) -> tuple[tuple[str, float | int], ...]:
    """The drawn parameters of one fault (the order of draws is part of the seed's meaning)."""
    if kind in SILENCING_FAULTS:
        return (("candles", rng.randint(2, 4) if kind is FaultKind.MARKET_STALL else rng.randint(1, 3)),)
    if kind is FaultKind.RATE_LIMIT_429:
        return (("retry_after_s", 1),)
    if kind is FaultKind.BAN_418:
        return (("candles", rng.randint(2, 5)),)  # the ban lasts this many candles (paced: see the harness)
    if kind is FaultKind.PARTIAL_FILL:
        return (("fraction", rng.choice((0.25, 0.5, 0.75))),)
    if kind is FaultKind.ORDER_ACK_LOST:
        return (("hold_s", 15),)  # longer than the connector's 10 s request timeout
    if kind is FaultKind.CLOCK_SKEW:
        # Forward only: the exchange's clock never runs backwards (our own clock stepping forward is
        # the same thing seen from here, and a resync dated by the exchange's updateTime covers it).
        return (("skew_ms", rng.randint(6_000, 9_000)),)
    if kind is FaultKind.PRICE_SPIKE:
        return (("fraction", round(rng.choice((-1, 1)) * rng.uniform(0.002, 0.01), 4)),)
    if kind is FaultKind.KILL_RANDOM:
        return (("delay_ms", rng.randint(0, 40)), ("down_candles", rng.randint(0, 3)))
    if kind is FaultKind.KILL_HELD_ORDER:
        return (("down_candles", rng.randint(0, 3)),)
    if kind is FaultKind.DRAWDOWN_BREACH:
        return (("review_candles", rng.randint(3, 8)),)
    return ()


def build_schedule(seed: int, profile: Profile) -> tuple[ScheduledFault, ...]:
    """The faults of one soak, in candle order: the same ``seed`` and ``profile`` always give the same."""
    rng = random.Random(seed)
    steps = profile.steps
    faults: list[ScheduledFault] = []
    taken: set[int] = set()
    last = steps - 10  # the last candles stay calm: the end state is read from a settled session

    def block(candle: int, spacing: int) -> None:
        taken.update(range(candle - spacing, candle + spacing + 1))

    for kind, low, high in profile.windows:
        candle = rng.randint(int(steps * low), int(steps * high))
        faults.append(ScheduledFault(candle, kind, _params(kind, rng)))
        block(candle, PROCESS_SPACING)
    for fraction in profile.connection_cuts:
        candle = int(steps * fraction)
        faults.append(ScheduledFault(candle, FaultKind.CONNECTION_CUT))
        block(candle, SPACING)
    for kind in FaultKind:  # enum order: the draws do not depend on dict ordering
        for _ in range(profile.counts.get(kind, 0)):
            free = [c for c in range(profile.warmup, last) if c not in taken]
            if not free:
                raise ValueError(f"profile {profile.name}: no room left for {kind.value} ({steps} candles)")
            candle = rng.choice(free)
            params = _params(kind, rng)
            faults.append(ScheduledFault(candle, kind, params))
            span = int(dict(params).get("candles", 0)) if kind in SILENCING_FAULTS else 0
            block(candle, SPACING + span)
    faults.sort(key=lambda f: (f.candle, f.kind.value))
    return tuple(faults)


def schedule_json(faults: tuple[ScheduledFault, ...]) -> str:
    """The schedule as canonical JSON (what "the same schedule" means, byte for byte)."""
    return json.dumps([f.as_dict() for f in faults], sort_keys=True)
