"""The drawdown rule, pinned: equity *including unrealised PnL*, against the session's peak,
tripping at exactly the limit - through the real engine on the paper exchange, with a
policy that holds a position while prices the test chooses move against it."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal as D

import pytest

from support import AlternatingAgent, FixedAgent, PaperSession, engine_settings, frame_with_prices
from trader_core.latch import read_latch
from trader_core.risk import DrawdownGuard

TICK = D("0.1")
P0 = D("60000.0")


@pytest.fixture()
def history(tiny_run, candles_1h):
    start = 3000
    return candles_1h.iloc[start - tiny_run.history_needed:start].reset_index(drop=True)


def test_guard_trips_at_exactly_the_limit_and_not_a_hair_before():
    guard = DrawdownGuard(0.1)
    guard.observe(D("10000"))
    assert guard.breached(D("9000"))  # exactly 10 % below the peak
    assert guard.breached(D("8999.99"))
    assert not guard.breached(D("9000.01"))
    assert not guard.breached(D("9000.0000001"))


def test_guard_measures_from_the_peak_not_from_the_start():
    guard = DrawdownGuard(0.1)
    guard.observe(D("10000"))
    guard.observe(D("12000"))  # a new peak
    assert guard.breached(D("10800")) and not guard.breached(D("10800.01"))  # 10 % below 12,000


def test_guard_with_no_equity_left_is_breached():
    guard = DrawdownGuard(0.5)
    guard.observe(D("0"))
    assert guard.breached(D("0"))


def _threshold_price(entry: D, quantity: D, wallet: D, peak: D, limit: str) -> D:
    """The price at which wallet + quantity x (price - entry) = peak x (1 - limit) (long)."""
    return entry + (peak * (1 - D(limit)) - wallet) / quantity


async def _holding_session(tiny_run, history, tmp_path, closes, limit):
    """A session whose policy wants +0.5 exposure all along: it buys on the first candle
    and then only holds (the deadband) while the closes move."""
    frame = frame_with_prices(history, [float(c) for c in closes])
    session = PaperSession(tiny_run, frame, FixedAgent(0.5), engine_settings(max_drawdown=float(limit)),
                           tmp_path / "simulacion")
    await session.run()
    return session


async def test_a_losing_open_position_trips_the_limit_on_equity_while_the_wallet_stays(tiny_run, history, tmp_path):
    # First run: learn the fill (quantity, fee) the policy makes at P0 and the peak.
    probe = await _holding_session(tiny_run, history, tmp_path / "probe", [P0, P0], "0.5")
    first = probe.rows[0]
    quantity, wallet = D(first["position_qty"]), D(str(first["wallet"]))
    assert quantity > 0 and wallet < D("10000")
    peak = D("10000")  # the start equity: the buy only cost a fee
    exact = _threshold_price(P0, quantity, wallet, peak, "0.05")
    above = exact.quantize(TICK, ROUND_CEILING) + TICK  # drawdown a hair under 5 %
    below = exact.quantize(TICK, ROUND_FLOOR)  # at or past 5 %
    closes = [P0, P0, above, above, below, P0]
    session = await _holding_session(tiny_run, history, tmp_path / "real", closes, "0.05")
    rows = session.rows
    statuses = [r["order_status"] for r in rows]
    # Rows 0-3: holding; the wallet never moves after the buy, equity follows the price.
    assert {D(str(r["wallet"])) for r in rows[1:4]} == {wallet}
    assert D(str(rows[3]["equity"])) < wallet and not statuses[3].startswith("SKIPPED:emergency")
    assert D(str(rows[3]["equity"])) > peak * D("0.95")  # one tick above the limit: no trip
    # Row 4: the close at `below` puts equity at or under 95 % of the peak: emergency, flat, halted.
    assert statuses[4] == "SKIPPED:emergency"
    assert len(rows) == 5  # halted: the last candle is never traded
    emergencies = session.emergency_rows
    assert [e["trigger"] for e in emergencies] == ["max_drawdown"]
    assert emergencies[0]["flat"] == "true" and emergencies[0]["position_after"] == "0"
    assert float(emergencies[0]["drawdown"]) >= 0.05
    assert session.engine.state == "HALTED"
    assert read_latch(tmp_path / "real" / "simulacion") is not None


async def test_the_limit_is_measured_from_the_session_peak(tiny_run, history, tmp_path):
    """Equity rises to a new peak, then falls 5 % from it - still above 95 % of the start
    equity, so a guard measuring from the start would never trip."""
    probe = await _holding_session(tiny_run, history, tmp_path / "probe", [P0, P0], "0.5")
    quantity, wallet = D(probe.rows[0]["position_qty"]), D(str(probe.rows[0]["wallet"]))
    high = P0 + D("6000")
    peak = wallet + quantity * (high - P0)
    exact = _threshold_price(P0, quantity, wallet, peak, "0.05")
    below = exact.quantize(TICK, ROUND_FLOOR)
    start_equity_at_below = wallet + quantity * (below - P0)
    assert start_equity_at_below > D("10000") * D("0.95")  # not a breach measured from the start
    session = await _holding_session(tiny_run, history, tmp_path / "real", [P0, high, high, below, P0], "0.05")
    statuses = [r["order_status"] for r in session.rows]
    assert statuses[3] == "SKIPPED:emergency", statuses
    assert D(str(session.emergency_rows[0]["peak_equity"])) == pytest.approx(peak)


async def test_fees_alone_cannot_reach_a_limit_they_are_far_from(tiny_run, history, tmp_path):
    """A policy that flips long/short every candle pays fees on every candle; flat prices,
    so equity falls only by fees (~0.1 % per candle here): a 5 % limit must not trip."""
    frame = frame_with_prices(history, [float(P0)] * 30)
    session = PaperSession(tiny_run, frame, AlternatingAgent(1.0), engine_settings(max_drawdown=0.05),
                           tmp_path / "simulacion")
    await session.run()
    rows = session.rows
    fees = sum(D(r["order_fee"]) for r in rows)
    assert sum(r["order_status"] == "FILLED" for r in rows) == 30  # it really traded every candle
    assert fees > D("50") and fees < D("10000") * D("0.05")
    assert session.engine.state != "HALTED" and session.emergency_rows == []


async def test_stale_candles_never_trade_even_when_the_policy_wants_to(tiny_run, history, tmp_path):
    """The market clock is a day past every candle: each one is history when it arrives.
    The policy flips long/short on every candle, so only the stale rule can stop it."""
    from trader_core.clock import ManualClock

    frame = frame_with_prices(history, [float(P0)] * 12)
    late = ManualClock(start_ms=int(frame["open_time"].iloc[-1]) + 86_400_000)
    session = PaperSession(tiny_run, frame, AlternatingAgent(1.0), engine_settings(), tmp_path / "simulacion",
                           market_clock=late)
    await session.run()
    assert [r["order_status"] for r in session.rows] == ["SKIPPED:stale"] * 12
    assert await session.exchange.orders_since(0) == []  # nothing was sent
    assert session.engine.pipeline.agent.calls == 12  # it decided (and wanted to trade) every time


def test_every_feed_and_exchange_speaks_the_whole_interface():
    """The engine never probes with getattr: each feed is a ``Feed``, each exchange an ``Exchange``."""
    from trader_core.exchanges.base import Exchange
    from trader_core.exchanges.binance import BinanceFutures
    from trader_core.exchanges.paper import PaperExchange
    from trader_core.feeds.base import Feed
    from trader_core.feeds.clocked_replay import ClockedReplay
    from trader_core.feeds.kline_feed import KlineFeed
    from trader_core.feeds.replay_feed import ReplayFeed

    for feed_class in (KlineFeed, ReplayFeed, ClockedReplay):
        missing = [name for name in ("history", "start", "next_closed", "closed_between", "message_age_s", "stop")
                   if not callable(getattr(feed_class, name, None))]
        assert not missing, (feed_class.__name__, missing)
    assert issubclass(BinanceFutures, Exchange) and issubclass(PaperExchange, Exchange)
    assert not BinanceFutures.__abstractmethods__ and not PaperExchange.__abstractmethods__
    assert isinstance(KlineFeed("BTCUSDT", "1h", "ws://x/", None), Feed)


async def test_pause_journals_every_candle_and_sends_nothing_until_resumed(tiny_run, history, tmp_path):
    rows_seen = []

    def on_step(record):
        rows_seen.append(record)
        if len(rows_seen) == 2:
            session.engine.pause()
        if len(rows_seen) == 5:
            session.engine.resume()

    frame = frame_with_prices(history, [float(P0)] * 8)
    session = PaperSession(tiny_run, frame, AlternatingAgent(1.0), engine_settings(), tmp_path / "simulacion",
                           on_step=on_step)
    await session.run()
    statuses = [r["order_status"] for r in session.rows]
    assert len(statuses) == 8 and statuses[:2] == ["FILLED", "FILLED"]
    # paused: the candles whose plan would trade say so; none sends anything
    assert set(statuses[2:5]) <= {"SKIPPED:paused", "SKIPPED:deadband"} and "SKIPPED:paused" in statuses[2:5]
    assert [r["state"] for r in session.rows[2:5]] == ["PAUSED"] * 3
    assert "FILLED" in statuses[5:]
    assert len(await session.exchange.orders_since(0)) == statuses.count("FILLED")


async def test_an_operator_flatten_closes_records_and_pauses(tiny_run, history, tmp_path):
    frame = frame_with_prices(history, [float(P0)] * 3)
    session = PaperSession(tiny_run, frame, FixedAgent(0.5), engine_settings(), tmp_path / "simulacion")
    engine = await session.run()  # ends at the end of the candles, holding the position it bought
    assert (await session.exchange.position()).quantity > 0
    record = await engine.flatten()
    assert record.flat and record.trigger == "operator_flatten" and record.close_fills == 1 and record.seq == 1
    assert (await session.exchange.position()).flat
    assert [r["trigger"] for r in session.emergency_rows] == ["operator_flatten"]
    assert engine.session.stats.trades == 2  # the buy and the flatten's close
