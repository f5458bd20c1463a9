"""Client order ids: deterministic per session, so every order sent can be found again.

Why: a process can die between an order's POST and its journal row. The next start
must find that order on the exchange instead of guessing, and must never send it a
second time. So every id says who sent it and why, and can be read back:

* ``sac-<tag>-<candle open ms>-t``: the model's order for one candle of the session
  tagged ``<tag>`` (at most one per candle);
* ``sac-<tag>-e<seq><trigger code>-<n>``: the n-th close order of the session's
  emergency number ``seq`` (F9 and a quit-and-flatten count as emergencies too);
  the trigger code lets a restart journal a crashed emergency under its cause.

Ids stay within Binance's ``[A-Za-z0-9._-]{1,36}`` (ids outside it break signing).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .exchanges.base import validate_client_order_id

PREFIX = "sac"

#: One letter per emergency trigger, inside the close orders' ids.
TRIGGER_CODES: dict[str, str] = {
    "max_drawdown": "d", "critical_error": "c", "connection_failures": "f",
    "operator_flatten": "o", "operator_stop": "s", "journal_failure": "j",
    "liquidation_distance": "l", "margin_call": "m", "book_mismatch": "b",
}
_TRIGGERS_BY_CODE = {code: trigger for trigger, code in TRIGGER_CODES.items()}
_ID = re.compile(r"^sac-(?P<tag>[A-Za-z0-9]{1,12})-(?:(?P<candle>[0-9]{1,15})-t|e(?P<seq>[0-9]{1,6})(?P<code>[a-z])-(?P<n>[0-9]{1,6}))$")


def session_prefix(tag: str) -> str:
    """What every id of the session tagged ``tag`` starts with."""
    return f"{PREFIX}-{tag}-"


def candle_order_id(tag: str, candle_open_time_ms: int) -> str:
    """The id of the model's order on one candle: a restart finds it instead of sending another."""
    return validate_client_order_id(f"{session_prefix(tag)}{candle_open_time_ms}-t")


def emergency_order_ids(tag: str, seq: int, trigger: str) -> Iterator[str]:
    """The ids of an emergency's close orders, in the order they are used: ``...-1``, ``...-2``…"""
    code = TRIGGER_CODES[trigger]
    prefix = f"{session_prefix(tag)}e{seq}{code}-"
    return (validate_client_order_id(f"{prefix}{n}") for n in itertools.count(1))


@dataclass(frozen=True)
class ParsedId:
    """What an id of this scheme says: a candle order, or an emergency's close order."""

    tag: str
    candle_open_time: int | None = None
    emergency_seq: int | None = None
    trigger: str | None = None
    number: int | None = None

    @property
    def is_candle_order(self) -> bool:
        return self.candle_open_time is not None


def parse_client_id(client_order_id: str) -> ParsedId | None:
    """The meaning of a sactui id, or None for any other id (an operator's manual order, say)."""
    match = _ID.match(client_order_id)
    if match is None:
        return None
    if match["candle"] is not None:
        return ParsedId(match["tag"], candle_open_time=int(match["candle"]))
    trigger = _TRIGGERS_BY_CODE.get(match["code"])
    if trigger is None:
        return None
    return ParsedId(match["tag"], emergency_seq=int(match["seq"]), trigger=trigger, number=int(match["n"]))
