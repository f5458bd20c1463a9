"""A real scrape of the Prometheus endpoint of a running session, parsed with prometheus-client's
own text parser, against the engine's snapshot and journal.

The session runs in this process (``run_session``, the launcher the CLI uses) in testnet
mode against the in-test simulator in manual mode, so the market moves only when the
test closes a candle and the snapshot holds still while it is compared.
"""

from __future__ import annotations

import asyncio
import math
import re
import urllib.request
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from support import SIM_KEY, SIM_SECRET, make_connector
from trader_core.launcher import SessionOptions, run_session
from trader_core.monitoring.metrics import METRIC_NAMES
from trader_core.settings import MetricsSettings, RetrySettings, Settings, TradingSettings


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def figures(snap) -> dict:
    return {
        "sactui_equity_usdt": float(snap.account.equity), "sactui_wallet_usdt": float(snap.account.wallet_balance),
        "sactui_drawdown_ratio": snap.drawdown, "sactui_peak_equity_usdt": snap.peak_equity,
        "sactui_position_quantity": float(snap.position.quantity),
        "sactui_position_notional_usdt": float(snap.position.quantity) * float(snap.position.mark_price),
        "sactui_mark_price": float(snap.position.mark_price), "sactui_drawdown_limit_ratio": snap.max_drawdown,
        "state": snap.state.value,
    }


async def test_a_scrape_during_a_session_matches_the_engine_snapshot_and_the_journal(
        sim, tiny_run_copy, monkeypatch):
    runs_dir, train_id = tiny_run_copy
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", SIM_KEY)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SIM_SECRET)
    operator = make_connector(sim)  # a position the session adopts: quantity, notional and mark are non-zero
    await operator.connect()
    await operator.client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.05",
                                               newClientOrderId="operator-manual-1")
    await operator.close()
    settings = Settings(retries=RetrySettings(attempts=3, delay_seconds=0.05),
                        trading=TradingSettings(adopt_unknown_position=True),
                        metrics=MetricsSettings(enabled=True, port=0))
    events, steps, engines = [], [], []
    task = asyncio.create_task(run_session(
        SessionOptions(train_id=train_id, mode="testnet", runs_dir=runs_dir, endpoint=sim.rest_base), settings,
        on_event=events.append, on_step=steps.append, on_engine=engines.append))

    async def until(predicate, what, timeout=60.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if task.done():
                task.result()
                raise AssertionError(f"the session ended while waiting for {what}")
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events: {[e.message for e in events[-5:]]}")
            await asyncio.sleep(0.02)

    try:
        await until(lambda: any(e.kind == "start" for e in events) and sim.streams.market_connections, "ready")
        url = next(re.search(r"http://127\.0\.0\.1:\d+/metrics", e.message).group(0)
                   for e in events if e.kind == "metrics")
        for _ in range(8):
            before = len(steps)
            await sim.step()
            await until(lambda: len(steps) > before, "the candle's row")
        engine = engines[0]
        # one partial update of the forming candle: the mark moves, the position's unrealised PnL with it
        await sim.step_update()
        await until(lambda: engine.snapshot.account.unrealized_pnl != 0, "an unrealised PnL")
        for _attempt in range(50):  # the snapshot holds still between candles; compare when it did across the scrape
            ahead = figures(engine.snapshot)
            values = await asyncio.to_thread(scrape, url)
            behind = figures(engine.snapshot)
            if ahead == behind:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the snapshot kept changing between candles")
    finally:
        engines[0].stop() if engines else task.cancel()
        await asyncio.wait({task}, timeout=30)
    assert task.done() and task.exception() is None

    def one(name, **labels):
        return values[(name, tuple(sorted(labels.items())))]

    for name in METRIC_NAMES:
        assert any(key[0].startswith(name.removesuffix("_total")) for key in values), name
    for name, expected in ahead.items():
        if name != "state":
            assert one(name) == expected, (name, one(name), expected)
    assert ahead["sactui_position_quantity"] != 0 and ahead["sactui_mark_price"] > 0
    assert ahead["sactui_equity_usdt"] != ahead["sactui_wallet_usdt"]  # the two gauges cannot be swapped unseen
    assert one("sactui_engine_state", state="RUNNING") == 1.0
    assert sum(v for (n, _), v in values.items() if n == "sactui_engine_state") == 1.0
    assert one("sactui_steps_total") == len(steps) == 8
    assert one("sactui_decision_latency_seconds_count") == 8
    assert math.isclose(one("sactui_decision_latency_seconds_sum"),
                        sum(r.decision_latency_ms for r in steps) / 1000, rel_tol=1e-9)
    sent = [r for r in steps if r.client_order_id]
    for status in {r.order_status for r in sent}:
        assert one("sactui_orders_total", status=status) == sum(r.order_status == status for r in sent)
    assert one("sactui_emergencies_total", trigger="max_drawdown") == 0
    assert one("sactui_feed_connected") == 1.0 and 0 <= one("sactui_feed_age_seconds") < 60
    assert 0 <= one("sactui_seconds_since_last_step") < 60
    assert one("sactui_session_info", mode="testnet", train_id=train_id, symbol="BTCUSDT", interval="1h") == 1
    assert Decimal(str(one("sactui_position_quantity"))) == sim.exchange.account.position_qty
    # the endpoint is gone with the session
    try:
        urllib.request.urlopen(url, timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the metrics endpoint still answers after the session ended")
