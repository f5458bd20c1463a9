"""What a failed exchange call means, and how (or whether) to try again.

``classify`` turns whatever python-binance or aiohttp raised into one of a few
kinds, each with a fixed handling rule:

* ``TRANSIENT`` (network error, timeout, 5xx, -1001/-1007): a *read* is retried;
  an *order* has an unknown outcome and is resolved by query before any resend.
* ``CLOCK`` (-1021): the request was refused before processing; resync, retry.
* ``RATE_LIMIT`` (429): refused before processing; wait ``Retry-After`` (or back off
  exponentially when absent), retry.
* ``BANNED`` (418): hold all trading until the ban lifts.
* ``FATAL`` (-2015, -2014, -1022, HTTP 401): credentials or signing are wrong; stop.
* ``REJECTED`` (any other 4xx code): a definite answer; never retried.

Which code is which kind is ``error_codes.CODES``, the one table of Binance codes.

``Retrier`` applies these rules to safe (idempotent) calls with the configured
attempts and delay, sleeping on an injected clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

import aiohttp
from binance.exceptions import BinanceAPIException, BinanceRequestException

from ..clock import Clock
from ..errors import CredentialsError, ExchangeError, ExchangeUnavailable, MalformedResponse, TradingHeld
from .error_codes import BinanceError, Kind, kind_for

T = TypeVar("T")

MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class Failure:
    kind: Kind
    code: int | None
    message: str
    retry_after_s: float | None = None


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, BinanceAPIException):
        retry_after = None
        headers = getattr(exc.response, "headers", None) or {}
        if headers.get("Retry-After"):
            try:
                retry_after = float(headers["Retry-After"])
            except ValueError:
                retry_after = None
        status, code = exc.status_code, exc.code
        message = exc.message if isinstance(exc.message, str) else str(exc)
        if status == 418:
            return Failure(Kind.BANNED, code, message, retry_after)
        if status == 429:
            return Failure(Kind.RATE_LIMIT, code, message, retry_after)
        kind = kind_for(code)
        if status == 401 and kind is Kind.REJECTED:
            kind = Kind.FATAL
        if status >= 500 and kind is Kind.REJECTED:
            kind = Kind.TRANSIENT
        return Failure(kind, code, message)
    if isinstance(exc, MalformedResponse):
        return Failure(Kind.TRANSIENT, None, str(exc))
    if isinstance(exc, BinanceRequestException):
        return Failure(Kind.TRANSIENT, None, f"malformed response: {exc}")
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError, OSError)):
        return Failure(Kind.TRANSIENT, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
    raise exc


def fatal_error(failure: Failure) -> CredentialsError:
    hints = {
        BinanceError.REJECTED_MBX_KEY: "the API key is unknown, lacks futures permission, or this IP is not "
                                       "whitelisted",
        BinanceError.BAD_API_KEY_FMT: "the API key is malformed",
        BinanceError.INVALID_SIGNATURE: "the request signature is invalid: check the API secret",
    }
    hint = hints.get(failure.code or 0, "check the API key and secret")
    return CredentialsError(f"exchange refused the credentials ({failure.code}: {failure.message}): {hint}", failure.code)


class Retrier:
    """Runs safe calls under the retry rules; tracks bans so trading can be held."""

    def __init__(
        self, clock: Clock, attempts: int = 3, delay_s: float = 1.0,
        resync: Callable[[], Awaitable[None]] | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.attempts = attempts
        self.delay_s = delay_s
        self._resync = resync
        self._on_event = on_event or (lambda kind, message: None)
        self.banned_until_ms = 0

    def event(self, kind: str, message: str) -> None:
        self._on_event(kind, message)

    def check_not_banned(self) -> None:
        if self.clock.now_ms() < self.banned_until_ms:
            seconds = (self.banned_until_ms - self.clock.now_ms()) / 1000
            raise TradingHeld(f"trading held: the exchange banned this IP for {seconds:.0f} s more", self.banned_until_ms)

    def backoff_seconds(self, failure: Failure, attempt: int) -> float:
        if failure.retry_after_s is not None:
            return failure.retry_after_s
        return min(MAX_BACKOFF_SECONDS, self.delay_s * (2 ** (attempt - 1)))

    async def handle(self, failure: Failure, attempt: int, what: str) -> None:
        """Apply the rule for ``failure`` before the next attempt, or raise."""
        if failure.kind is Kind.FATAL:
            raise fatal_error(failure)
        if failure.kind is Kind.BANNED:
            seconds = failure.retry_after_s if failure.retry_after_s is not None else 120.0
            self.banned_until_ms = self.clock.now_ms() + int(seconds * 1000)
            self.event("ban", f"{what}: IP banned (418) for {seconds:.0f} s; trading held")
            raise TradingHeld(f"trading held: the exchange banned this IP for {seconds:.0f} s", self.banned_until_ms,
                              sent=True)
        if failure.kind is Kind.REJECTED:
            raise ExchangeError(f"{what} rejected: {failure.code} {failure.message}", failure.code)
        if failure.kind is Kind.CLOCK:
            self.event("resync", f"{what}: timestamp outside recvWindow (-1021); resyncing the clock")
            if self._resync:
                await self._resync()
            return
        if failure.kind is Kind.RATE_LIMIT:
            wait = self.backoff_seconds(failure, attempt)
            self.event("rate-limit", f"{what}: rate limited (429); waiting {wait:g} s")
            await self.clock.sleep(wait)
            return
        self.event("retry", f"{what}: {failure.message or failure.code}; retry {attempt}/{self.attempts - 1} in {self.delay_s:g} s")
        await self.clock.sleep(self.delay_s)

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a safe, idempotent operation with retries."""
        last: Failure | None = None
        for attempt in range(1, self.attempts + 1):
            self.check_not_banned()
            try:
                return await operation()
            except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
                last = classify(exc)
                if attempt == self.attempts and last.kind in (Kind.TRANSIENT, Kind.RATE_LIMIT, Kind.CLOCK):
                    break
                await self.handle(last, attempt, what)
        raise ExchangeUnavailable(
            f"{what} failed after {self.attempts} attempts: {last.message if last else 'unknown error'}"
        )
