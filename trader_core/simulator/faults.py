"""Fault injection: the failures a live bot meets, on demand and observable.

Why: the connector's hardest code (reconnect and backfill, resolve an order whose
answer never came, back off on 429/418, resync the clock on -1021, refuse on a
rejection) only runs when something goes wrong, and the real exchange will not go
wrong on cue. Each method arms one fault for the next matching request(s) or
changes the stream behaviour now; ``injected`` records every fault actually applied
so a test can prove the failure it staged really happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .api_errors import ApiError, message_for


@dataclass
class _RequestRule:
    remaining: int
    path_prefix: str
    error: ApiError
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path.startswith(self.path_prefix)
            and (self.method is None or self.method == method.upper())
        )


class FaultInjector:
    """Armed faults of one simulator; the server consults it on every request and broadcast.

    ``clock_skew_ms`` is a plain attribute: the server clock (``serverTime`` and the
    recvWindow check) is real time plus it.
    """

    def __init__(self, drop: Callable[[int], "asyncio.Task[None]"], server_ms: Callable[[], int]) -> None:
        self._drop = drop
        self._server_ms = server_ms
        self.clock_skew_ms: int = 0
        self.stalled: bool = False
        #: (kind, detail) of every fault actually applied, in order.
        self.injected: list[tuple[str, str]] = []
        self._rules: list[_RequestRule] = []
        self._rejects: list[ApiError] = []
        self._holds = 0
        self._hold_seconds = 30.0
        self._skip_closes = 0
        self._released = asyncio.Event()

    # ------------------------------------------------------------------ websockets

    def drop_market_streams(self, code: int = 1001) -> "asyncio.Task[None]":
        """Close every market-data websocket now with ``code``; clients must reconnect.

        Returns the closing task: ``await`` it to be sure the closes went out.
        """
        self.injected.append(("drop_market_streams", str(code)))
        return self._drop(code)

    def stall_market_streams(self) -> None:
        """Keep market connections open but send nothing (closes meanwhile are lost)."""
        self.stalled = True
        self.injected.append(("stall_market_streams", ""))

    def resume_market_streams(self) -> None:
        self.stalled = False
        self.injected.append(("resume_market_streams", ""))

    def skip_candle_closes(self, n: int) -> None:
        """Do not broadcast the next ``n`` x=true closes (REST klines still has them)."""
        self._skip_closes += n

    def take_skip_close(self) -> bool:
        """Consume one armed close skip; True when this close must not be broadcast."""
        if self._skip_closes > 0:
            self._skip_closes -= 1
            self.injected.append(("skip_candle_close", ""))
            return True
        return False

    # ------------------------------------------------------------------ REST

    def fail_next_requests(
        self,
        n: int,
        status: int = 503,
        path_prefix: str = "/fapi/v1/order",
        code: int = -1001,
        msg: str | None = None,
        method: str | None = None,
    ) -> None:
        """The next ``n`` requests under ``path_prefix`` (any method unless ``method``) get
        ``{"code": code}`` with ``status`` and are NOT processed."""
        error = ApiError(code, msg or message_for(code), status)
        self._rules.append(_RequestRule(n, path_prefix, error, method.upper() if method else None))

    def rate_limit(
        self,
        status: int = 429,
        retry_after: int | None = 2,
        count: int = 1,
        path_prefix: str = "/fapi",
    ) -> None:
        """The next ``count`` matching requests get -1003 with ``status`` (429 or 418) and a
        ``Retry-After`` header of ``retry_after`` seconds (none when ``retry_after`` is None)."""
        if status not in (418, 429):
            raise ValueError(f"rate_limit status must be 429 or 418, got {status}")
        if status == 429:
            msg = message_for(-1003, 2400)
        else:
            until = self._server_ms() + 1000 * (retry_after or 120)
            msg = f"Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self._rules.append(_RequestRule(count, path_prefix, ApiError(-1003, msg, status, headers)))

    def take_request_fault(self, method: str, path: str) -> ApiError | None:
        """The armed error for this request, consuming it, or None."""
        for rule in self._rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                self.injected.append((f"http_{rule.error.status}_{rule.error.code}", f"{method} {path}"))
                return rule.error
        self._rules = [r for r in self._rules if r.remaining > 0]
        return None

    def reject_next_order(self, code: int, msg: str | None = None, status: int = 400) -> None:
        """The next order POST (after authentication) is refused with ``code``."""
        self._rejects.append(ApiError(code, msg or message_for(code), status))

    def take_order_reject(self) -> ApiError | None:
        if not self._rejects:
            return None
        error = self._rejects.pop(0)
        self.injected.append(("reject_next_order", str(error.code)))
        return error

    def timeout_after_accept(self, n: int = 1, hold_seconds: float = 30.0) -> None:
        """The next ``n`` order POSTs are processed, but their answer is held ``hold_seconds``."""
        self._holds += n
        self._hold_seconds = hold_seconds

    def take_hold(self) -> float | None:
        if self._holds <= 0:
            return None
        self._holds -= 1
        self.injected.append(("timeout_after_accept", str(self._hold_seconds)))
        return self._hold_seconds

    async def hold(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the simulator shuts down first."""
        try:
            await asyncio.wait_for(self._released.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def release_holds(self) -> None:
        self._released.set()
