"""Fault injection: the failures a live bot meets, on demand and observable.

Why: the connector's and the engine's hardest code (reconnect and backfill, resolve
an order whose answer never came, back off on 429/418, resync the clock on -1021,
refuse on a rejection, keep closing through an outage, account for a partial fill)
only runs when something goes wrong, and the real exchange will not go wrong on cue.
Each method arms one fault for the next matching request(s) or changes the stream
behaviour now; ``injected`` records every fault actually applied, as
``(kind, detail)``, so a test can prove the failure it staged really happened.

Where each fault acts in a request (see ``rest.RestApi.handle``):

1. an outage answers before anything else (no weight counted, nothing processed);
2. ``fail_next_requests`` / ``rate_limit`` answer before authentication;
3. order refusals (``refuse_orders``, ``reject_next_order``) answer an authenticated
   order POST without processing it;
4. a partial fill changes how much of an accepted MARKET order executes;
5. a hold delays the answer of an accepted order after it was processed.

Streams and the market (they act now, on the connections and the price):

* ``drop_market_streams`` / ``drop_user_streams`` close connections with a code (a
  user stream's listen key stays valid); ``stall_market_streams`` keeps them silent;
* ``expire_listen_key``: the key's 60 minutes are over now - ``listenKeyExpired``,
  then the connection closes, and PUT answers -1125;
* ``cut_connections_older_than``: Binance's 24-hour cut, with the age a test picks;
* ``price_shock``: the last price and the mark jump inside the forming candle, until
  the next market update or ``end_price_shock()`` (see the method).

Durations are server time (``server_ms``: wall clock plus ``clock_skew_ms``), so a
test moves them deterministically by changing the skew; only a hold's optional
timeout is wall time, because it stands for a client's request timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from .api_errors import ApiError, BinanceError, message_for

#: Binance closes every websocket connection at the 24-hour mark.
MAX_CONNECTION_AGE_S = 24 * 3600.0


class FaultTargets(Protocol):
    """What the stream and market faults act on (the running simulator provides it)."""

    def drop_user_streams(self, code: int) -> "asyncio.Task[None]": ...

    def cut_connections(self, opened_before_ms: int, code: int) -> tuple[int, "asyncio.Task[None]"]: ...

    def expire_listen_key(self, key: str | None) -> str: ...

    def start_price_shock(self, price: Decimal | None, fraction: Decimal | None) -> Decimal: ...

    def end_price_shock(self) -> bool: ...


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


@dataclass
class _Refusal:
    """Order POSTs refused with ``error``: ``remaining`` of them (None: no count limit)
    until server time ``until_ms`` (None: no time limit)."""

    error: ApiError
    remaining: int | None
    until_ms: int | None

    def active(self, now_ms: int) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until_ms is None or now_ms < self.until_ms


@dataclass(frozen=True)
class OutageHit:
    """How one request meets an outage: a reset connection, or ``error``'s answer."""

    reset: bool
    error: ApiError


@dataclass
class _Outage:
    pass_through: int  # counted REST requests still answered normally before the outage starts
    counted_prefix: str  # which requests count toward pass_through ("" = all)
    reset: bool
    websockets: bool
    error: ApiError

    @property
    def started(self) -> bool:
        return self.pass_through <= 0


@dataclass(eq=False)
class HeldAnswer:
    """One order answer being held: released by ``gate``, or after ``seconds`` (None: never)."""

    client_order_id: str
    seconds: float | None
    gate: asyncio.Event


class FaultInjector:
    """Armed faults of one simulator; the server consults it on every request and broadcast.

    ``clock_skew_ms`` is a plain attribute: the server clock (``serverTime``, the
    recvWindow check, timed refusals) is real time plus it.
    """

    def __init__(self, drop: Callable[[int], "asyncio.Task[None]"], server_ms: Callable[[], int],
                 targets: FaultTargets | None = None) -> None:
        self._drop = drop
        self._server_ms = server_ms
        self._targets = targets
        self.clock_skew_ms: int = 0
        self.stalled: bool = False
        self.marks_stalled: bool = False
        self._lost_user_events = 0
        #: (kind, detail) of every fault actually applied, in order.
        self.injected: list[tuple[str, str]] = []
        self._rules: list[_RequestRule] = []
        self._malformed: list[list] = []  # [remaining, path prefix, method or None, body]
        self._refusals: list[_Refusal] = []
        self._outage: _Outage | None = None
        self._partials: list[Decimal] = []
        self._skip_closes = 0
        self._armed_holds: list[float | None] = []  # per armed hold: its wall-time limit
        self._held: list[HeldAnswer] = []  # answers being held now
        self._closing = False
        #: Client order ids whose answers were held, in order (processed, answer delayed).
        self.held_orders: list[str] = []
        #: Set once an order was processed and its answer is being held.
        self.order_held = asyncio.Event()
        self._held_changed = asyncio.Event()

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

    def lose_user_events(self, n: int) -> None:
        """The next ``n`` user-data events are never sent (the connection stays up): pushed
        state that silently misses a change, which only a REST reconciliation can find."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self._lost_user_events += n

    def take_lost_user_event(self, event: dict) -> bool:
        """True when this user event must not be sent (consuming one of the armed losses)."""
        if self._lost_user_events <= 0:
            return False
        self._lost_user_events -= 1
        self.injected.append(("lose_user_event", str(event.get("e"))))
        return True

    def stall_mark_stream(self, stalled: bool = True) -> None:
        """Send no mark price updates (klines keep flowing) until called with False: a mark
        stream gone quiet on an open connection, which only its age can reveal."""
        self.marks_stalled = stalled
        self.injected.append(("stall_mark_stream" if stalled else "resume_mark_stream", ""))

    def _target(self) -> FaultTargets:
        if self._targets is None:
            raise RuntimeError("this fault needs a running simulator (FaultInjector built without targets)")
        return self._targets

    def drop_user_streams(self, code: int = 1001) -> "asyncio.Task[None]":
        """Close every user-data websocket now with ``code``; the listen key stays valid,
        so a client reconnects with the same key (and must resync what it missed).

        Returns the closing task: ``await`` it to be sure the closes went out.
        """
        self.injected.append(("drop_user_streams", str(code)))
        return self._target().drop_user_streams(code)

    def expire_listen_key(self, key: str | None = None) -> str:
        """The listen key (default: the account's active one) expires now, as when its 60
        minutes run out: its connections get ``listenKeyExpired`` and are then closed, PUT
        answers -1125, and POST issues a new key. Returns the key; ValueError when there
        is no active key to expire."""
        expired = self._target().expire_listen_key(key)
        self.injected.append(("expire_listen_key", expired))
        return expired

    def cut_connections_older_than(self, seconds: float = MAX_CONNECTION_AGE_S,
                                   code: int = 1001) -> "asyncio.Task[None]":
        """Binance's 24-hour rule, now: close (with ``code``) every websocket connection,
        market or user, opened more than ``seconds`` ago on the server clock. Listen keys
        stay valid. A test picks seconds instead of a day (or skews the clock).

        Returns the closing task; the detail in ``injected`` says how many were cut.
        """
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        count, task = self._target().cut_connections(self._server_ms() - int(seconds * 1000), code)
        self.injected.append(("cut_old_connections", f"{count} older than {seconds:g}s code {code}"))
        return task

    def price_shock(self, price: Decimal | str | int | None = None, *,
                    fraction: Decimal | str | float | None = None) -> Decimal:
        """The last price and the mark jump now, inside the forming candle: to ``price``,
        or by ``fraction`` of the current price (-0.1 = a 10 % crash, 0.05 = a 5 % spike),
        rounded onto the tick. Returns the price in force.

        While it lasts, the mark stream has pushed it (at once, in either mode), REST
        (ticker, premiumIndex, positionRisk, account) and new MARKET fills use it, a
        resting limit it crosses fills at its own price, and ``MARGIN_CALL`` fires if the
        account enters the margin-call zone. It lasts until the next market update
        (``step()`` or the timed clock: the replay's path takes over again) or until
        ``end_price_shock()``, which pushes the mark back at once. Klines are not
        touched: the candle keeps its real values.
        """
        if (price is None) == (fraction is None):
            raise ValueError("give exactly one of price or fraction")
        value = Decimal(str(price)) if price is not None else None
        move = Decimal(str(fraction)) if fraction is not None else None
        shocked = self._target().start_price_shock(value, move)
        self.injected.append(("price_shock", str(shocked)))
        return shocked

    def end_price_shock(self) -> bool:
        """End a price shock now (the mark returns to the replay's price and is pushed);
        False when none was in force."""
        ended = self._target().end_price_shock()
        if ended:
            self.injected.append(("end_price_shock", ""))
        return ended

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

    # ------------------------------------------------------------------ outage

    def start_outage(
        self,
        *,
        after_requests: int = 0,
        counted_prefix: str = "",
        reset: bool = False,
        websockets: bool = False,
        status: int = 503,
        code: int = BinanceError.DISCONNECTED,
    ) -> None:
        """Every REST request fails until ``end_outage()``: HTTP ``status`` with ``code``,
        or, with ``reset``, the connection is reset without an answer. Nothing is processed.

        ``after_requests=K`` lets the next K REST requests through first (say, the cancel
        of an emergency close) so the outage hits the request after them (the close).
        With ``counted_prefix`` only requests whose path starts with it count toward K
        (others pass meanwhile), so concurrent traffic such as a feed's kline backfill
        cannot move the moment the outage starts.
        ``websockets`` also refuses new websocket connections (503 or reset) once the
        outage has started; open connections stay up (drop them with ``drop_market_streams``).
        """
        if after_requests < 0:
            raise ValueError(f"after_requests must be >= 0, got {after_requests}")
        self._outage = _Outage(after_requests, counted_prefix, reset, websockets,
                               ApiError(code, message_for(code), status))

    def end_outage(self) -> None:
        self._outage = None

    @property
    def outage_active(self) -> bool:
        return self._outage is not None and self._outage.started

    def take_outage(self, method: str, path: str) -> OutageHit | None:
        """How this REST request meets the outage, or None to serve it."""
        outage = self._outage
        if outage is None:
            return None
        if not outage.started:
            if path.startswith(outage.counted_prefix):
                outage.pass_through -= 1
            return None
        self.injected.append(("outage_reset" if outage.reset else "outage", f"{method} {path}"))
        return OutageHit(outage.reset, outage.error)

    def take_websocket_outage(self, path: str) -> OutageHit | None:
        """How a new websocket connection meets the outage, or None to accept it."""
        outage = self._outage
        if outage is None or not outage.started or not outage.websockets:
            return None
        self.injected.append(("outage_reset" if outage.reset else "outage", f"WS {path}"))
        return OutageHit(outage.reset, outage.error)

    # ------------------------------------------------------------------ REST

    def fail_next_requests(
        self,
        n: int,
        status: int = 503,
        path_prefix: str = "/fapi/v1/order",
        code: int = BinanceError.DISCONNECTED,
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
            msg = message_for(BinanceError.TOO_MANY_REQUESTS, 2400)
        else:
            until = self._server_ms() + 1000 * (retry_after or 120)
            msg = f"Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self._rules.append(_RequestRule(count, path_prefix, ApiError(BinanceError.TOO_MANY_REQUESTS, msg, status, headers)))

    def malform_next_responses(self, n: int, path_prefix: str, body: object, method: str | None = None) -> None:
        """The next ``n`` requests under ``path_prefix`` are served (an order is processed) but
        answered 200 with ``body`` instead of the real answer: a wrong-shaped payload."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self._malformed.append([n, path_prefix, method.upper() if method else None, body])

    def take_malformed(self, method: str, path: str) -> tuple[bool, object]:
        """(True, body) when this request's answer must be replaced, consuming one; else (False, None)."""
        for rule in self._malformed:
            remaining, prefix, wanted, body = rule
            if remaining > 0 and path.startswith(prefix) and wanted in (None, method.upper()):
                rule[0] -= 1
                self.injected.append(("malformed_response", f"{method} {path}"))
                self._malformed = [r for r in self._malformed if r[0] > 0]
                return True, body
        return False, None

    def take_request_fault(self, method: str, path: str) -> ApiError | None:
        """The armed error for this request, consuming it, or None."""
        for rule in self._rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                self.injected.append((f"http_{rule.error.status}_{rule.error.code}", f"{method} {path}"))
                return rule.error
        self._rules = [r for r in self._rules if r.remaining > 0]
        return None

    # ------------------------------------------------------------------ order refusals

    def refuse_orders(
        self,
        code: int = BinanceError.MARGIN_NOT_SUFFICIENT,
        status: int = 0,
        count: int | None = None,
        seconds: float | None = None,
        msg: str | None = None,
    ) -> None:
        """Refuse authenticated order POSTs with ``code`` (HTTP ``status``, default the
        code's usual one: 400, or 503 for -1001) without processing them.

        ``count``: the next ``count`` orders; ``seconds``: for that long of server time;
        both: whichever ends first; neither: until ``release_orders()``.
        """
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        until = self._server_ms() + int(seconds * 1000) if seconds is not None else None
        self._refusals.append(_Refusal(ApiError(code, msg or message_for(code), status), count, until))

    def reject_next_order(self, code: int, msg: str | None = None, status: int = 400) -> None:
        """The next order POST (after authentication) is refused with ``code``."""
        self.refuse_orders(code, status, count=1, msg=msg)

    def release_orders(self) -> None:
        """Stop refusing orders (every armed refusal is dropped)."""
        self._refusals.clear()

    @property
    def refusing_orders(self) -> bool:
        now = self._server_ms()
        return any(r.active(now) for r in self._refusals)

    def take_order_refusal(self, client_order_id: str) -> ApiError | None:
        """The refusal for this order POST, consuming one of a counted refusal, or None."""
        now = self._server_ms()
        self._refusals = [r for r in self._refusals if r.active(now)]
        if not self._refusals:
            return None
        refusal = self._refusals[0]
        if refusal.remaining is not None:
            refusal.remaining -= 1
        self.injected.append(("refuse_order", f"{refusal.error.code} {client_order_id}"))
        return refusal.error

    # ------------------------------------------------------------------ partial fills

    def partial_fill_next_orders(self, n: int, fraction: Decimal | float | str) -> None:
        """The next ``n`` accepted MARKET orders execute only ``fraction`` (0 <= f < 1) of
        their quantity, rounded down to the step size, and end EXPIRED (as Binance ends a
        MARKET order the book could not fill); money moves for the executed part only."""
        value = Decimal(str(fraction))
        if not 0 <= value < 1:
            raise ValueError(f"fraction must be in [0, 1), got {fraction}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self._partials.extend([value] * n)

    def take_partial_fill(self, client_order_id: str) -> Decimal | None:
        """The fraction this MARKET order executes, consuming it, or None for a full fill."""
        if not self._partials:
            return None
        fraction = self._partials.pop(0)
        self.injected.append(("partial_fill", f"{client_order_id} {fraction}"))
        return fraction

    # ------------------------------------------------------------------ held answers

    def hold_order_responses(self, n: int = 1, seconds: float | None = None) -> None:
        """The next ``n`` accepted order POSTs are processed (the order exists, a MARKET
        one has filled) but their HTTP answer is held until ``release_holds()``, the
        simulator closes, or - when given - ``seconds`` of wall time pass.

        ``wait_for_held_order()`` / ``order_held`` tell the test the moment an order was
        processed and its answer is being held (say, to kill the client right then).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self._armed_holds.extend([seconds] * n)

    def timeout_after_accept(self, n: int = 1, hold_seconds: float = 30.0) -> None:
        """The next ``n`` accepted order POSTs are processed, but their answer is held
        ``hold_seconds`` (or until released): a client with a shorter timeout never sees it."""
        self.hold_order_responses(n, hold_seconds)

    def take_hold(self, client_order_id: str) -> HeldAnswer | None:
        """Hold this processed order's answer if a hold is armed: what to wait on, or None."""
        if not self._armed_holds or self._closing:
            return None
        held = HeldAnswer(client_order_id, self._armed_holds.pop(0), asyncio.Event())
        self._held.append(held)
        self.held_orders.append(client_order_id)
        limit = "until released" if held.seconds is None else f"{held.seconds:g}s"
        self.injected.append(("hold_order_response", f"{client_order_id} {limit}"))
        self.order_held.set()
        self._held_changed.set()
        return held

    async def hold(self, held: HeldAnswer) -> None:
        """Wait until the answer is released (or the simulator closes, or its time is up)."""
        try:
            await asyncio.wait_for(held.gate.wait(), held.seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            if held in self._held:
                self._held.remove(held)

    async def wait_for_held_order(self, count: int = 1, timeout: float = 10.0) -> str:
        """Wait until ``count`` order answers have been held; the client id of the
        ``count``-th. Raises ``TimeoutError`` naming what was armed if it does not happen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.held_orders) < count:
            self._held_changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no held order answer #{count} within {timeout:g} s: {len(self.held_orders)} held so far, "
                    f"{len(self._armed_holds)} hold(s) still armed (was an order accepted?)"
                )
            try:
                await asyncio.wait_for(self._held_changed.wait(), remaining)
            except asyncio.TimeoutError:
                continue
        return self.held_orders[count - 1]

    def release_holds(self) -> None:
        """Send every answer held so far; holds armed but not yet used stay armed."""
        for held in self._held:
            held.gate.set()

    def close(self) -> None:
        """The simulator is shutting down: release every held answer, hold no more."""
        self._closing = True
        self.release_holds()
