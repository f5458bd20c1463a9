"""After the soak: what each fault did, and whether every error the trader showed has a cause.

Why apart from the harness: the harness drives; this reads. From the simulator's own
records (``faults.injected``, the request log) it proves each fault fired; from the
journals and the trader's logs it finds how long the session took to trade normally
again, and which ERROR lines or refused, unknown or skipped rows no scheduled fault
explains - those fail the soak. Log lines are placed on candles by the byte offsets
the harness noted at each close (``TraderProcess.log_marks``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import invariants as inv
from .schedule import ON_NEXT_ORDER, PROCESS_FAULTS, FaultKind, ScheduledFault
from .trader import TraderProcess

#: Row statuses of a session trading normally (the policy's own reasons to hold included).
NORMAL_STATUSES = frozenset({"FILLED", "EXPIRED", "PARTIALLY_FILLED"})
POLICY_SKIPS = frozenset({"deadband", "on_target", "below_min_qty", "below_min_notional", "no_equity"})
#: A log line of an event: "HH:MM:SS LEVEL kind: message" (``trader_core.headless.print_event``).
EVENT_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<level>[A-Z]+)\s+(?P<kind>[\w-]+): (?P<message>.*)$")
SERIOUS_LEVELS = frozenset({"ERROR", "EMERGENCY", "CRITICAL"})
#: The simulator's record (``faults.injected``) that proves a fault fired.
EVIDENCE: dict[FaultKind, str] = {
    FaultKind.MARKET_DROP: "drop_market_streams", FaultKind.MARKET_STALL: "stall_market_streams",
    FaultKind.CANDLE_GAP: "skip_candle_close", FaultKind.ORDER_5XX: "http_503_-1001",
    FaultKind.ORDER_ACK_LOST: "hold_order_response", FaultKind.RATE_LIMIT_429: "http_429_-1003",
    FaultKind.BAN_418: "http_418_-1003", FaultKind.ORDER_REFUSED: "refuse_order",
    FaultKind.PARTIAL_FILL: "partial_fill", FaultKind.LISTEN_KEY_EXPIRY: "expire_listen_key",
    FaultKind.USER_STREAM_DROP: "drop_user_streams", FaultKind.USER_EVENT_LOST: "lose_user_event",
    FaultKind.PRICE_SPIKE: "price_shock", FaultKind.CONNECTION_CUT: "cut_old_connections",
    FaultKind.KILL_HELD_ORDER: "hold_order_response", FaultKind.DRAWDOWN_BREACH: "price_shock",
}
#: What a fault may legitimately cause: event kinds logged at ERROR/EMERGENCY level, and row statuses.
EXPLAINS: dict[FaultKind, frozenset[str]] = {
    FaultKind.BAN_418: frozenset({"ban", "held", "SKIPPED:banned"}),
    FaultKind.ORDER_5XX: frozenset({"NOT_FOUND"}),
    FaultKind.ORDER_REFUSED: frozenset({"REJECTED:-2019"}),
    FaultKind.KILL_RANDOM: frozenset({"SKIPPED:down", ":recovered"}),
    FaultKind.KILL_HELD_ORDER: frozenset({"SKIPPED:down", ":recovered"}),
    FaultKind.DRAWDOWN_BREACH: frozenset({"max_drawdown", "latch"}),
}
#: Row statuses that need a fault to explain them (an ERROR, an unknown outcome, a refusal, a skip).
NEEDS_EXPLAINING = ("ERROR", "UNKNOWN", "REJECTED", "NOT_FOUND", "SKIPPED:down", "SKIPPED:banned",
                    "SKIPPED:emergency", "SKIPPED:stale")


def is_normal(status: str) -> bool:
    """A row of a session trading as usual: an order, or the policy's own reason to hold."""
    if status in NORMAL_STATUSES:
        return True
    return status.startswith("SKIPPED:") and status.split(":", 1)[1] in POLICY_SKIPS


def needs_explaining(status: str) -> bool:
    return status.startswith(NEEDS_EXPLAINING) or status.endswith(":recovered")


@dataclass
class FaultOutcome:
    """What became of one scheduled fault (filled in while the soak runs, then by ``Attribution``)."""

    fault: ScheduledFault
    armed_candle: int
    armed_wall: float
    evidence_from: int  # index into the simulator's records when armed
    fired: str = ""
    fired_candle: int | None = None
    reconnect_s: float | None = None
    recovered_candle: int | None = None
    recovered_s: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    note: str = ""
    resumed_candle: int | None = None  # a process fault: the first candle the restarted trader sees close

    def as_dict(self) -> dict:
        return {**self.fault.as_dict(), "armed_candle": self.armed_candle, "fired": self.fired,
                "fired_candle": self.fired_candle, "reconnect_s": _round(self.reconnect_s),
                "recovered_candle": self.recovered_candle, "recovered_s": _round(self.recovered_s),
                "statuses": self.statuses, "events": self.events, "note": self.note}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class LogLine:
    process: int
    candle: int
    level: str  # INFO, WARNING, ERROR, EMERGENCY, CRITICAL; TRACEBACK for a Python traceback
    kind: str
    text: str


def log_lines(processes: Iterable[TraderProcess]) -> list[LogLine]:
    """Every event line (and traceback) of every trader log, on the candle whose close (or fault)
    came last before the line was written."""
    lines = []
    for trader in processes:
        marks = trader.log_marks
        position, candle, offset = 0, trader.start_candle, 0
        for line in trader.log_text().splitlines(keepends=True):
            while position < len(marks) and marks[position][1] <= offset:
                candle = marks[position][0]
                position += 1
            offset += len(line.encode("utf-8", "replace"))
            match = EVENT_LINE.match(line.strip())
            if match:
                lines.append(LogLine(trader.number, candle, match["level"], match["kind"], line.strip()))
            elif line.startswith("Traceback"):
                lines.append(LogLine(trader.number, candle, "TRACEBACK", "traceback", line.strip()))
    return lines


class Attribution:
    """Ties the simulator's records, the journals and the logs to the scheduled faults."""

    def __init__(self, outcomes: list[FaultOutcome], processes: list[TraderProcess], span_times: list[int],
                 latched: list[inv.LatchedStretch], seen_wall: dict[int, float]) -> None:
        self.outcomes = outcomes
        self.span_times = span_times
        self.latched = latched
        self.seen_wall = seen_wall
        self.lines = log_lines(processes)

    def attribute(self, injected: list[tuple[str, str]], requests: list[tuple[int, str, str]],
                  journals: inv.Journals) -> None:
        """Each outcome: the evidence it fired, the rows and events around it, when trading was normal again."""
        claimed: set[int] = set()
        rows = {int(r["candle_open_time"]): r for r in journals.steps}
        for outcome in self.outcomes:
            kind = outcome.fault.kind
            if kind is FaultKind.CLOCK_SKEW:
                if any(path == "/fapi/v1/time" for _ns, _m, path in requests[outcome.evidence_from:]):
                    outcome.fired = "-1021, then the clock resynced (GET /fapi/v1/time)"
            elif not outcome.fired or kind in PROCESS_FAULTS:
                wanted = EVIDENCE.get(kind)
                for i in range(outcome.evidence_from, len(injected)):
                    if i not in claimed and injected[i][0] == wanted:
                        claimed.add(i)
                        outcome.fired = outcome.fired or f"{injected[i][0]} {injected[i][1]}".strip()
                        break
            if outcome.fired_candle is None and outcome.fired and kind in ON_NEXT_ORDER:
                outcome.fired_candle = outcome.armed_candle
            self._recovery(outcome, rows)
            outcome.events = self._events_near(outcome)

    def _recovery(self, outcome: FaultOutcome, rows: dict[int, dict]) -> None:
        first = outcome.fired_candle if outcome.fired_candle is not None else outcome.armed_candle
        if outcome.resumed_candle is not None:  # a process fault: recovered means the new process trades
            first = max(first, outcome.resumed_candle)
        statuses: Counter = Counter()
        for k in range(outcome.armed_candle, len(self.span_times)):
            t = self.span_times[k]
            row = rows.get(t)
            if row is None:
                continue
            if k >= first and is_normal(row["order_status"]) and not self._in_latch(t):
                outcome.recovered_candle = k
                seen = self.seen_wall.get(t)
                outcome.recovered_s = None if seen is None else max(0.0, seen - outcome.armed_wall)
                break
            statuses[row["order_status"]] += 1
        outcome.statuses = dict(statuses)

    def _in_latch(self, t: int) -> bool:
        return any(s.first <= t <= s.last for s in self.latched)

    def _events_near(self, outcome: FaultOutcome) -> dict[str, int]:
        end = outcome.recovered_candle if outcome.recovered_candle is not None else outcome.armed_candle + 3
        seen: Counter = Counter(f"{line.level} {line.kind}" for line in self.lines
                                if outcome.armed_candle <= line.candle <= end and line.level != "INFO")
        return dict(seen)

    def _explained(self, candle: int, what: str) -> bool:
        """A fault that may cause ``what`` acted on or just before ``candle``."""
        for outcome in self.outcomes:
            start = outcome.armed_candle
            end = max(outcome.recovered_candle or start, outcome.fired_candle or start) + 2
            allowed = EXPLAINS.get(outcome.fault.kind, frozenset())
            if start <= candle <= end and any(what == a or what.startswith(a) or what.endswith(a) for a in allowed):
                return True
        return False

    def serious_log_lines(self) -> tuple[list[str], int]:
        """(unexplained ERROR/EMERGENCY/CRITICAL lines and tracebacks, how many were explained)."""
        unexplained, explained = [], 0
        for line in self.lines:
            if line.level not in SERIOUS_LEVELS and line.level != "TRACEBACK":
                continue
            if line.level != "TRACEBACK" and self._explained(line.candle, line.kind):
                explained += 1
            else:
                unexplained.append(f"[{line.process}@{line.candle}] {line.text}")
        return unexplained, explained

    def serious_rows(self, journals: inv.Journals) -> tuple[list[str], int]:
        """(unexplained error, refused, unknown or skipped rows, how many were explained)."""
        index = {t: k for k, t in enumerate(self.span_times)}
        unexplained, explained = [], 0
        for row in journals.steps:
            status = row["order_status"]
            if not needs_explaining(status):
                continue
            k = index.get(int(row["candle_open_time"]), -1)
            if self._explained(k, status):
                explained += 1
            else:
                unexplained.append(f"candle {k}: {status} {row['client_order_id']}")
        return unexplained, explained
