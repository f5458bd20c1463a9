"""The Prometheus endpoint (``[metrics]``): off by default, on 127.0.0.1 unless configured.

Why this shape: counters and histograms are updated on the event loop from events and
journaled steps (a few microseconds each, never awaited). The gauges describe "now",
so they are read from the engine's immutable snapshot *when scraped*: the scrape's
thread asks the event loop for one snapshot (``call_soon_threadsafe``, at most
``SAMPLE_TIMEOUT_S``; a busy loop serves the previous sample) - the engine's objects are
only ever read on their own thread. The registry is the session's own, never the
process-wide default, and the HTTP server is prometheus-client's, in a daemon thread.

Metric names are listed in ``METRIC_NAMES`` (the README documents them).
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ..events import EngineEvent
from ..states import EngineState
from ..step_record import StepRecord
from .alerts import TRIGGERS

SAMPLE_TIMEOUT_S = 1.0
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: name -> (type, help). Gauges come from the snapshot at scrape time.
GAUGES: dict[str, str] = {
    "sactui_equity_usdt": "Account equity (margin balance: wallet + unrealised PnL), USDT",
    "sactui_wallet_usdt": "Wallet balance, USDT",
    "sactui_peak_equity_usdt": "The session's peak equity (the drawdown's reference), USDT",
    "sactui_drawdown_ratio": "Drawdown of equity from the session's peak, 0..1",
    "sactui_drawdown_limit_ratio": "[risk] max_drawdown: the emergency protocol runs at this drawdown",
    "sactui_position_quantity": "Position quantity, signed (base asset; 0 = flat)",
    "sactui_position_notional_usdt": "Position notional, signed: quantity x mark price, USDT",
    "sactui_mark_price": "Mark price of the position's symbol, USDT",
    "sactui_engine_state": "Engine state: 1 for the current state, 0 for the others",
    "sactui_feed_connected": "1 while the market feed is connected",
    "sactui_feed_age_seconds": "Seconds since the last market message (NaN: none yet)",
    "sactui_seconds_since_last_step": "Seconds since the last journaled step of this process (NaN: none yet)",
    "sactui_not_flat": "1 while the emergency protocol keeps closing a position that is not flat",
    "sactui_trading_held": "1 while an IP ban holds trading",
    "sactui_session_info": "Always 1; the labels name the session",
}
COUNTERS: dict[str, str] = {
    "sactui_steps_total": "Journaled steps (one per closed candle) in this process",
    "sactui_orders_total": "Orders the model's steps sent, by the status the journal recorded",
    "sactui_emergencies_total": "Emergency protocol runs, by trigger",
    "sactui_reconnects_total": "Stream reconnections, by stream (market, account)",
    "sactui_retries_total": "Exchange calls retried under the retry rules",
    "sactui_rate_limit_backoffs_total": "Waits after a 429 rate-limit answer",
    "sactui_events_total": "Events of the session's event log, by level",
    "sactui_alerts_total": "Alert deliveries per target, by result (sent, failed)",
}
HISTOGRAMS: dict[str, str] = {
    "sactui_decision_latency_seconds": "One step, A to H: account read, decision, order, journal row",
    "sactui_close_to_order_seconds": "Candle close to the journaled order of its step (live candles only)",
}
METRIC_NAMES = tuple(GAUGES) + tuple(COUNTERS) + tuple(HISTOGRAMS)


def _f(value) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class _SnapshotGauges:
    """A custom collector: the gauges, from one engine snapshot taken on the loop per scrape."""

    def __init__(self, owner: "SessionMetrics") -> None:
        self.owner = owner

    def describe(self):
        return [GaugeMetricFamily(name, doc) for name, doc in GAUGES.items()]

    def collect(self):
        sample = self.owner.sample_threadsafe()
        labels = self.owner.labels
        info = GaugeMetricFamily("sactui_session_info", GAUGES["sactui_session_info"], labels=list(labels))
        info.add_metric(list(labels.values()), 1.0)
        yield info
        if sample is None:
            return
        for name, doc in GAUGES.items():
            if name in ("sactui_engine_state", "sactui_session_info"):
                continue
            yield GaugeMetricFamily(name, doc, value=sample[name])
        states = GaugeMetricFamily("sactui_engine_state", GAUGES["sactui_engine_state"], labels=["state"])
        for state in EngineState:
            states.add_metric([state.value], 1.0 if sample["state"] == state.value else 0.0)
        yield states


class SessionMetrics:
    def __init__(self, *, mode: str, train_id: str, symbol: str, interval: str, interval_ms: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.labels = {"mode": mode, "train_id": train_id, "symbol": symbol, "interval": interval}
        self.interval_ms = interval_ms
        r = self.registry
        self.steps = Counter("sactui_steps", COUNTERS["sactui_steps_total"], registry=r)
        self.orders = Counter("sactui_orders", COUNTERS["sactui_orders_total"], ["status"], registry=r)
        self.emergencies = Counter("sactui_emergencies", COUNTERS["sactui_emergencies_total"], ["trigger"],
                                   registry=r)
        self.reconnects = Counter("sactui_reconnects", COUNTERS["sactui_reconnects_total"], ["stream"], registry=r)
        self.retries = Counter("sactui_retries", COUNTERS["sactui_retries_total"], registry=r)
        self.backoffs = Counter("sactui_rate_limit_backoffs", COUNTERS["sactui_rate_limit_backoffs_total"],
                                registry=r)
        self.events = Counter("sactui_events", COUNTERS["sactui_events_total"], ["level"], registry=r)
        self.alerts = Counter("sactui_alerts", COUNTERS["sactui_alerts_total"], ["result"], registry=r)
        self.decision = Histogram("sactui_decision_latency_seconds", HISTOGRAMS["sactui_decision_latency_seconds"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.close_to_order = Histogram("sactui_close_to_order_seconds",
                                        HISTOGRAMS["sactui_close_to_order_seconds"], buckets=LATENCY_BUCKETS,
                                        registry=r)
        for trigger in sorted(TRIGGERS):  # present at 0, so rate() and alert rules work from the start
            self.emergencies.labels(trigger)
        for stream in ("market", "account"):
            self.reconnects.labels(stream)
        for result in ("sent", "failed"):
            self.alerts.labels(result)
        self.orders.labels("FILLED")
        r.register(_SnapshotGauges(self))
        self._engine = None
        self._loop = None
        self._loop_thread: int | None = None
        self._last_sample: dict | None = None
        self._last_step_at: float | None = None  # time.monotonic() of the last journaled step
        self._server = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # ------------------------------------------------------------------ inputs (event loop)
    def attach(self, engine, loop) -> None:
        self._engine, self._loop, self._loop_thread = engine, loop, threading.get_ident()

    def on_event(self, event: EngineEvent) -> None:
        self.events.labels(event.level).inc()
        kind = event.kind
        if event.level == "emergency" and kind in TRIGGERS:
            self.emergencies.labels(kind).inc()
        elif kind == "reconnect":
            self.reconnects.labels("market").inc()
        elif kind == "stream" and "reconnected" in event.message:
            self.reconnects.labels("account").inc()
        elif kind == "retry":
            self.retries.inc()
        elif kind == "rate-limit":
            self.backoffs.inc()

    def on_step(self, record: StepRecord) -> None:
        self._last_step_at = time.monotonic()
        self.steps.inc()
        if math.isfinite(record.decision_latency_ms):
            self.decision.observe(record.decision_latency_ms / 1000.0)
        if record.client_order_id:
            self.orders.labels(record.order_status or "unknown").inc()
            if not record.order_status.endswith(":recovered"):
                self._close_to_order(record)

    def _close_to_order(self, record: StepRecord) -> None:
        """Only for live candles: a replay's candle times are history, not this moment."""
        try:
            written = datetime.fromisoformat(record.time.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return
        latency = written - (record.candle_open_time + self.interval_ms) / 1000.0
        if 0 <= latency < self.interval_ms / 1000.0:
            self.close_to_order.observe(latency)

    def on_alert(self, _alert, ok: bool) -> None:  # from the dispatcher's thread (counters are thread-safe)
        self.alerts.labels("sent" if ok else "failed").inc()

    # ------------------------------------------------------------------ the gauges
    def sample(self) -> dict | None:
        """The gauges' values from the engine's snapshot (on the loop's thread only)."""
        engine = self._engine
        if engine is None:
            return None
        snap = engine.snapshot
        account, position = snap.account, snap.position
        qty = _f(position.quantity) if position is not None else 0.0
        mark = _f(position.mark_price) if position is not None else math.nan
        last = self._last_step_at
        sample = {
            "sactui_equity_usdt": _f(account.equity) if account else math.nan,
            "sactui_wallet_usdt": _f(account.wallet_balance) if account else math.nan,
            "sactui_peak_equity_usdt": _f(snap.peak_equity),
            "sactui_drawdown_ratio": _f(snap.drawdown),
            "sactui_drawdown_limit_ratio": _f(snap.max_drawdown),
            "sactui_position_quantity": qty,
            "sactui_position_notional_usdt": qty * mark if position is not None else math.nan,
            "sactui_mark_price": mark,
            "sactui_feed_connected": 1.0 if snap.connected else 0.0,
            "sactui_feed_age_seconds": _f(snap.market_age_s),
            "sactui_seconds_since_last_step": math.nan if last is None else time.monotonic() - last,
            "sactui_not_flat": 1.0 if snap.closing else 0.0,
            "sactui_trading_held": 1.0 if snap.held_until_ms else 0.0,
            "state": str(snap.state.value if hasattr(snap.state, "value") else snap.state),
        }
        self._last_sample = sample
        return sample

    def sample_threadsafe(self) -> dict | None:
        """From any thread: ask the loop for a fresh sample; the previous one if the loop is busy or gone."""
        loop = self._loop
        if loop is None or self._engine is None:
            return self._last_sample
        if threading.get_ident() == self._loop_thread:
            return self.sample()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def take() -> None:
            try:
                future.set_result(self.sample())
            except BaseException as exc:  # noqa: BLE001 - handed to the scrape's thread
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(take)
            return future.result(SAMPLE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - loop closed, busy or the snapshot failed: the last sample
            return self._last_sample

    # ------------------------------------------------------------------ the endpoint
    def serve(self, host: str, port: int) -> str:
        """Start prometheus-client's HTTP server; the URL to scrape. Raises OSError when it cannot bind."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        bound = self._server.server_port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/metrics"
        return self.url

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(2.0)
        self._engine = None  # a late scrape serves the last sample, never a dead engine
