"""The retry rules: what is retried, how long we wait, and what stops us."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest
from binance.exceptions import BinanceAPIException, BinanceRequestException

from trader_core.clock import ManualClock
from trader_core.credentials import Credentials, credentials_from_env
from trader_core.errors import CredentialsError, ExchangeError, ExchangeUnavailable, TradingHeld
from trader_core.exchanges.retry import Kind, Retrier, classify


def api_error(status: int, code: int, msg: str = "x", headers: dict | None = None) -> BinanceAPIException:
    response = SimpleNamespace(headers=headers or {})
    return BinanceAPIException(response, status, json.dumps({"code": code, "msg": msg}))


@pytest.mark.parametrize(
    "exc, kind",
    [
        (api_error(400, -1021), Kind.CLOCK),
        (api_error(400, -1022), Kind.FATAL),
        (api_error(401, -2015), Kind.FATAL),
        (api_error(401, -2014), Kind.FATAL),
        (api_error(429, -1003), Kind.RATE_LIMIT),
        (api_error(418, -1003), Kind.BANNED),
        (api_error(503, 0), Kind.TRANSIENT),
        (api_error(400, -1001), Kind.TRANSIENT),
        (api_error(408, -1007), Kind.TRANSIENT),
        (api_error(400, -2019), Kind.REJECTED),
        (api_error(400, -4164), Kind.REJECTED),
        (api_error(400, -2013), Kind.REJECTED),
        (BinanceRequestException("Invalid Response: <html>"), Kind.TRANSIENT),
        (aiohttp.ClientConnectionError("reset"), Kind.TRANSIENT),
        (asyncio.TimeoutError(), Kind.TRANSIENT),
    ],
)
def test_classify(exc, kind):
    assert classify(exc).kind is kind


def test_classify_reads_retry_after_and_reraises_unknown_exceptions():
    assert classify(api_error(429, -1003, headers={"Retry-After": "7"})).retry_after_s == 7.0
    assert classify(api_error(429, -1003)).retry_after_s is None
    with pytest.raises(ZeroDivisionError):
        classify(ZeroDivisionError())


class Flaky:
    """An operation that raises the given errors in turn, then returns 'ok'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_are_retried_with_the_configured_delay():
    clock = ManualClock()
    events = []
    retrier = Retrier(clock, attempts=3, delay_s=1.0, on_event=lambda k, m: events.append(k))
    op = Flaky(aiohttp.ClientConnectionError("a"), api_error(503, 0))
    assert await retrier.call("account", op) == "ok"
    assert op.calls == 3 and clock.sleeps == [1.0, 1.0]
    assert events == ["retry", "retry"]


async def test_retries_are_bounded():
    clock = ManualClock()
    retrier = Retrier(clock, attempts=3, delay_s=1.0)
    op = Flaky(*[asyncio.TimeoutError()] * 5)
    with pytest.raises(ExchangeUnavailable, match="account failed after 3 attempts"):
        await retrier.call("account", op)
    assert op.calls == 3


async def test_rate_limit_honours_retry_after_then_backs_off_exponentially():
    clock = ManualClock()
    retrier = Retrier(clock, attempts=4, delay_s=1.0)
    op = Flaky(api_error(429, -1003, headers={"Retry-After": "7"}), api_error(429, -1003), api_error(429, -1003))
    assert await retrier.call("klines", op) == "ok"
    assert clock.sleeps == [7.0, 2.0, 4.0]  # header, then 1*2**1, 1*2**2


async def test_ban_holds_every_call_until_it_lifts():
    clock = ManualClock()
    retrier = Retrier(clock, attempts=3, delay_s=1.0)
    with pytest.raises(TradingHeld) as held:
        await retrier.call("order", Flaky(api_error(418, -1003, headers={"Retry-After": "120"})))
    assert held.value.until_ms == clock.now_ms() + 120_000
    untouched = Flaky()
    with pytest.raises(TradingHeld):
        await retrier.call("account", untouched)
    assert untouched.calls == 0  # not even sent while banned
    clock.advance(121)
    assert await retrier.call("account", untouched) == "ok"


async def test_clock_error_resyncs_then_retries():
    clock = ManualClock()
    resyncs = []

    async def resync():
        resyncs.append(clock.now_ms())

    retrier = Retrier(clock, attempts=3, delay_s=1.0, resync=resync)
    op = Flaky(api_error(400, -1021, "Timestamp for this request is outside of the recvWindow."))
    assert await retrier.call("account", op) == "ok"
    assert len(resyncs) == 1 and op.calls == 2 and clock.sleeps == []


@pytest.mark.parametrize("code, hint", [(-2015, "not whitelisted"), (-1022, "API secret")])
async def test_fatal_codes_stop_at_once_with_a_hint(code, hint):
    retrier = Retrier(ManualClock(), attempts=3)
    op = Flaky(api_error(401 if code == -2015 else 400, code))
    with pytest.raises(CredentialsError, match=hint):
        await retrier.call("account", op)
    assert op.calls == 1


async def test_definite_rejections_are_never_retried():
    retrier = Retrier(ManualClock(), attempts=3)
    op = Flaky(api_error(400, -2019, "Margin is insufficient."))
    with pytest.raises(ExchangeError, match="-2019 Margin is insufficient"):
        await retrier.call("order", op)
    assert op.calls == 1


def test_credentials_come_from_the_environment_per_network():
    env = {"BINANCE_TESTNET_API_KEY": "tk123456789", "BINANCE_TESTNET_API_SECRET": "ts-secret",
           "BINANCE_API_KEY": "mk", "BINANCE_API_SECRET": "ms"}
    assert credentials_from_env(True, env).api_key == "tk123456789"
    assert credentials_from_env(False, env).api_key == "mk"
    with pytest.raises(CredentialsError) as missing:
        credentials_from_env(True, {"BINANCE_API_KEY": "mk", "BINANCE_API_SECRET": "ms"})
    text = str(missing.value)
    assert "BINANCE_TESTNET_API_KEY" in text and "--sim" in text
    assert "ms" not in text.split("(")[0]


def test_secret_never_in_repr():
    creds = Credentials("abcdefghijkl", "super-secret-value")
    assert "super-secret-value" not in repr(creds) and "super-secret-value" not in str(creds)
