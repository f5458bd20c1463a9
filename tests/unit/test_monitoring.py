"""Monitoring logic without threads or waiting: the dispatcher's grouping and backoff on a fake
clock, the ``${VAR}`` expansion and its redaction, event -> alert routing, status conditions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from trader_core.errors import ConfigError
from trader_core.events import EngineEvent
from trader_core.exchanges.base import AccountState, PositionState
from trader_core.monitoring import heartbeat
from trader_core.monitoring.alerts import SessionAlerts
from trader_core.monitoring.dispatcher import MAX_ATTEMPTS, Alert, AlertDispatcher
from trader_core.monitoring.status import StatusCode, inspect_folder, today_pnl
from trader_core.monitoring.targets import build_targets
from trader_core.settings import AlertSettings, load_settings
from trader_core.states import EngineState


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sender:
    def __init__(self, fail_first: int = 0, reason: str = "refused") -> None:
        self.calls: list[tuple[str, Alert]] = []
        self.fail_first = fail_first
        self.reason = reason

    def __call__(self, target, alert):
        self.calls.append((target.label, alert))
        if len(self.calls) <= self.fail_first:
            return False, self.reason
        return True, ""


def dispatcher(sender, clock, urls=("json://127.0.0.1:9/a",), **kw):
    targets, redactor = build_targets(list(urls), {})
    problems: list[str] = []
    d = AlertDispatcher(targets, redactor, sender=sender, clock=clock, on_problem=problems.append, **kw)
    return d, problems


# ---------------------------------------------------------------------- dispatcher
def test_repeats_within_the_window_are_grouped_into_one_message_and_emergencies_never_wait():
    clock, sender = Clock(), Sender()
    d, _ = dispatcher(sender, clock, repeat_s=60)
    for i in range(5):
        d.submit(Alert("warning", "reconnects", "reconnect storm", f"storm {i}"))
        d.pump(clock())
        clock.t += 1
    d.submit(Alert("emergency", "emergency:max_drawdown", "EMERGENCY", "e1"))
    d.submit(Alert("emergency", "emergency:max_drawdown", "EMERGENCY", "e2"))
    d.pump(clock())
    assert [a.body for _, a in sender.calls] == ["storm 0", "e1", "e2"]
    clock.t = 1000.0 + 60  # the window of the first storm alert ends
    d.pump(clock())
    grouped = sender.calls[-1][1]
    assert grouped.title == "reconnect storm (x4)" and grouped.body.startswith("storm 4\n(repeated 4 more times")
    clock.t += 30
    d.pump(clock())
    assert len(sender.calls) == 4  # nothing more to say


def test_a_failed_send_is_retried_with_exponential_backoff_and_its_recovery_reported():
    clock, sender = Clock(), Sender(fail_first=3)
    d, problems = dispatcher(sender, clock, retry_max_s=300)
    d.submit(Alert("error", "failures", "exchange calls failing", "x"))
    d.pump(clock())
    times = [clock()]
    for _ in range(20):
        clock.t += 0.5
        before = len(sender.calls)
        d.pump(clock())
        if len(sender.calls) > before:
            times.append(clock())
    assert [t - times[0] for t in times] == [0.0, 1.0, 3.0, 7.0]  # 1, 2, 4 s apart
    assert d.delivered == 1 and len(problems) == 2
    assert problems[0].startswith("alert to json#1 failed (refused); retrying with backoff")
    assert problems[1] == "alerts to json#1 are delivered again"


def test_the_backoff_is_capped_and_an_alert_is_dropped_after_the_last_attempt():
    clock, sender = Clock(), Sender(fail_first=10_000)
    d, problems = dispatcher(sender, clock, retry_max_s=5)
    d.submit(Alert("error", "k", "t", "b"))
    d.pump(clock())
    sent_at = [clock()]
    while len(sender.calls) < MAX_ATTEMPTS:
        clock.t += 1
        before = len(sender.calls)
        d.pump(clock())
        if len(sender.calls) > before:
            sent_at.append(clock())
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:])]
    assert gaps[:4] == [1, 2, 4, 5] and max(gaps) == 5
    clock.t += 100
    d.pump(clock())
    assert len(sender.calls) == MAX_ATTEMPTS and d.given_up == 1
    assert problems[-1].startswith(f"alert 't' to json#1 dropped after {MAX_ATTEMPTS} attempt(s)")


def test_a_full_queue_drops_instead_of_blocking():
    d, _ = dispatcher(Sender(), Clock(), queue_size=3)
    accepted = [d.submit(Alert("info", f"k{i}", "t", "b")) for i in range(5)]
    assert accepted == [True, True, True, False, False] and d.dropped == 2


def test_secrets_in_a_failure_reason_are_redacted():
    env = {"SACTUI_ALERT_TOKEN": "s3cr3t-token-value"}
    targets, redactor = build_targets(["json://hooks.example:8080/p?+X-Token=${SACTUI_ALERT_TOKEN}"], env)
    sender = Sender(fail_first=1, reason="could not reach json://hooks.example:8080/p?+X-Token=s3cr3t-token-value")
    problems: list[str] = []
    d = AlertDispatcher(targets, redactor, sender=sender, clock=Clock(), on_problem=problems.append)
    d.submit(Alert("error", "k", "t", "b"))
    d.pump(1000.0)
    assert targets[0].url.endswith("s3cr3t-token-value") and "s3cr3t" not in repr(targets[0])
    assert problems and all("s3cr3t" not in p and "hooks.example" not in p for p in problems)


def test_close_sends_what_is_grouped_and_returns_when_done():
    sender = Sender()
    targets, redactor = build_targets(["json://127.0.0.1:9/a"], {})
    d = AlertDispatcher(targets, redactor, sender=sender, repeat_s=3600).start()
    d.submit(Alert("warning", "k", "first", "1"))
    d.submit(Alert("warning", "k", "second", "2"))
    assert d.close(5.0)
    assert [a.title for _, a in sender.calls] == ["first", "second (x1)"]
    assert not d.submit(Alert("info", "k", "late", "x"))


# ---------------------------------------------------------------------- targets and settings
def test_an_unset_variable_or_a_url_apprise_does_not_know_is_refused_without_showing_it():
    with pytest.raises(ConfigError, match=r"entry 1 uses \$\{NOPE\}, which is not set"):
        build_targets(["json://h/${NOPE}"], {})
    with pytest.raises(ConfigError) as refused:
        build_targets(["json://127.0.0.1/ok", "nosuchscheme://secret-in-url"], {})
    assert "entry 2 (nosuchscheme#2)" in str(refused.value) and "secret-in-url" not in str(refused.value)


def test_monitoring_settings_are_checked(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[alerts]\nurls = ["json://127.0.0.1/x"]\nevents = ["emergency", "daily_summary"]\n'
                    '[metrics]\nenabled = true\nport = 0\n[watch]\nheartbeat_seconds = 1\nstale_seconds = 5\n')
    settings = load_settings(path)
    assert settings.alerts.urls == ("json://127.0.0.1/x",) and settings.metrics.port == 0
    for bad, message in [('[alerts]\nevents = ["everything"]\n', "unknown event 'everything'"),
                         ('[alerts]\nmin_level = "loud"\n', "min_level must be one of"),
                         ('[alerts]\nurls = [1]\n', "entry 1 must be an apprise URL"),
                         ("[metrics]\nport = 70000\n", "port must be a finite number"),
                         ("[watch]\nheartbeat_seconds = 5\nstale_seconds = 6\n", "at least twice")]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            load_settings(path)
    assert load_settings(None).metrics.enabled is False and load_settings(None).metrics.host == "127.0.0.1"


# ---------------------------------------------------------------------- event -> alert
@dataclass
class Snap:
    state: EngineState = EngineState.RUNNING
    account: AccountState | None = field(default_factory=lambda: AccountState(
        Decimal("8500"), Decimal("8480"), Decimal("8000"), Decimal("-20")))
    position: PositionState | None = field(default_factory=lambda: PositionState(
        "BTCUSDT", Decimal("0.1"), Decimal("60000"), Decimal("59800"), Decimal("-20")))
    drawdown: float = 0.152
    max_drawdown: float = 0.15
    peak_equity: float = 10000.0
    closing: bool = False
    halted_reason: str = ""
    market_age_s: float | None = 1.0
    connected: bool = True
    stats: dict = field(default_factory=dict)


def alerts_for(snap, **settings):
    sent: list[Alert] = []
    clock = {"t": 0.0}
    alerts = SessionAlerts(AlertSettings(**settings), sent.append, mode="live", train_id="run1", symbol="BTCUSDT",
                           snapshot=lambda: snap, now_s=lambda: clock["t"], wall_s=lambda: 1_800_000_000.0)
    return alerts, sent, clock


def ev(level, kind, message):
    return EngineEvent(0, level, kind, message)


def test_an_emergency_is_one_alert_with_trigger_figures_and_the_outcome_read_back():
    snap = Snap()
    alerts, sent, _ = alerts_for(snap)
    alerts.on_event(ev("emergency", "max_drawdown", "EMERGENCY (max_drawdown): drawdown 15.20% reached the limit"))
    snap.state = EngineState.REDUCING
    alerts.on_event(ev("emergency", "not-flat", "NOT FLAT after close attempt 1: position 0.1"))
    assert sent == []  # the protocol is still closing: wait for its verdict
    snap.state, snap.halted_reason = EngineState.HALTED, "max_drawdown: drawdown 15.20%"
    snap.position = PositionState("BTCUSDT", Decimal("0"), Decimal("0"), Decimal("59800"), Decimal("0"))
    alerts.on_event(ev("warning", "flat", "position is flat (read back from the exchange)"))
    (alert,) = sent
    assert alert.level == "emergency" and alert.title == "sactui EMERGENCY max_drawdown: FLAT"
    assert "equity: 8,480.00 USDT (peak 10,000.00)" in alert.body and "drawdown: 15.20%" in alert.body
    assert "position before: 0.1" in alert.body and "engine HALTED (max_drawdown: drawdown 15.20%)" in alert.body
    assert alert.body.endswith("[live BTCUSDT run1]")


def test_an_emergency_that_ends_not_flat_says_so_and_then_says_when_it_is_flat():
    snap = Snap()
    alerts, sent, _ = alerts_for(snap)
    alerts.on_event(ev("emergency", "connection_failures", "EMERGENCY (connection_failures): 5 failures"))
    snap.state, snap.closing = EngineState.HALTED, True
    alerts.on_event(ev("emergency", "not-flat", "position NOT FLAT after 3 close attempts"))
    assert sent[0].title == "sactui EMERGENCY connection_failures: NOT FLAT"
    assert "NOT FLAT: position 0.1 still open; the emergency protocol keeps closing" in sent[0].body
    alerts.on_event(ev("warning", "flat", "position is flat after 7 close attempts"))
    assert sent[1].title == "sactui position FLAT now"


def test_levels_and_families_filter_and_a_reconnect_storm_needs_its_count_within_its_window():
    snap = Snap()
    alerts, sent, clock = alerts_for(snap, min_level="warning", reconnect_storm_count=3, reconnect_storm_minutes=1)
    alerts.on_event(ev("info", "start", "ready"))  # info < warning
    for t in (0, 30, 100, 110):  # the first two fall out of the 60 s window before the third
        clock["t"] = t
        alerts.on_event(ev("warning", "disconnect", f"drop at {t}"))
    assert sent == []
    clock["t"] = 120
    alerts.on_event(ev("warning", "stream-down", "user stream dropped"))
    assert [a.title for a in sent] == ["sactui reconnect storm"] and "3 stream drops" in sent[0].body
    only_emergencies, sent2, _ = alerts_for(snap, events=("emergency",))
    only_emergencies.on_event(ev("error", "exchange", "account refresh failed (1 in a row)"))
    only_emergencies.on_event(ev("emergency", "margin-call", "MARGIN_CALL"))
    assert sent2 == []


def test_feed_staleness_alerts_once_and_says_when_data_flows_again():
    snap = Snap(market_age_s=200.0)
    alerts, sent, _ = alerts_for(snap, feed_stale_seconds=180)
    alerts.tick()
    alerts.tick()
    snap.market_age_s = 2.0
    alerts.tick()
    assert [a.title for a in sent] == ["sactui market data stale", "sactui market data flowing again"]


# ---------------------------------------------------------------------- status from files
def beat(folder, status="running", pid=None, age=0.0, now=2_000_000_000.0, **extra):
    data = {"status": status, "pid": os.getpid() if pid is None else pid, "time_s": now - age, "state": "RUNNING",
            "mode": "live", "equity": 100.0, "drawdown": 0.0, "position_qty": "0", "not_flat": False, **extra}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / heartbeat.HEARTBEAT_FILE).write_text(json.dumps(data))


def test_status_conditions_and_codes(tmp_path):
    now = 2_000_000_000.0
    folder = tmp_path / "produccion"
    assert inspect_folder("r", folder, stale_s=30, now_s=now).code == StatusCode.OK
    beat(folder, age=5)
    assert inspect_folder("r", folder, stale_s=30, now_s=now).condition == "running"
    beat(folder, age=45)
    st = inspect_folder("r", folder, stale_s=30, now_s=now)
    assert st.condition == "stale" and st.code == StatusCode.STALE
    beat(folder, pid=2**22 + 12345, age=1)  # no such process
    st = inspect_folder("r", folder, stale_s=30, now_s=now)
    assert st.condition == "crashed" and st.code == StatusCode.CRASHED
    beat(folder, age=1, state="HALTED", not_flat=True)
    assert inspect_folder("r", folder, stale_s=30, now_s=now).code == StatusCode.NOT_FLAT
    beat(folder, status="halted", pid=2**22 + 12345, age=100)
    assert inspect_folder("r", folder, stale_s=30, now_s=now).code == StatusCode.HALTED
    beat(folder, status="stopped", pid=2**22 + 12345, age=100)
    assert inspect_folder("r", folder, stale_s=30, now_s=now).code == StatusCode.OK


def test_today_pnl_counts_from_the_last_row_before_today():
    now = 1_796_040_000.0  # 2026-11-30
    rows = [{"time": "2026-11-29T23:00:00Z", "equity": "100"}, {"time": "2026-11-30T01:00:00Z", "equity": "103"},
            {"time": "2026-11-30T02:00:00Z", "equity": "101.5"}]
    assert today_pnl(rows, now) == pytest.approx(1.5)
    assert today_pnl(rows[1:], now) == pytest.approx(-1.5)
    assert today_pnl(rows[:1], now) == 0.0 and today_pnl([], now) is None


# ---------------------------------------------------------------------- the watchdog's alerts
def test_the_watchdog_alerts_halted_latched_and_not_flat_once_each_and_says_when_it_runs_again(tmp_path):
    from datetime import datetime, timezone

    from trader_core.latch import write_latch
    from trader_core.monitoring.watchdog import Watchdog

    now = 2_000_000_000.0
    folder = tmp_path / "produccion"
    sent: list[Alert] = []
    said: list[str] = []
    dog = Watchdog([("r", folder)], stale_s=30, submit=sent.append, say=said.append, now_s=lambda: now)
    beat(folder, age=1)
    dog.poll()
    assert sent == [] and "running (process" in said[-1]
    # the emergency protocol is still closing: NOT FLAT, once however many polls see it
    beat(folder, age=1, state="HALTED", not_flat=True)
    dog.poll()
    dog.poll()
    assert [(a.level, a.title) for a in sent] == [("emergency", "sactui watch: NOT FLAT")]
    assert "closing a position that is not flat" in sent[0].body
    # it ended HALTED, and the drawdown latch is in force
    write_latch(folder, "max_drawdown: drawdown 15.10% reached the limit 15.00%", 8490, 10000,
                datetime(2026, 11, 30, tzinfo=timezone.utc))
    beat(folder, status="halted", pid=2**22 + 12345, age=100)
    dog.poll()
    dog.poll()
    assert [(a.level, a.title) for a in sent[1:]] == [("error", "sactui watch: HALTED"),
                                                      ("emergency", "sactui watch: LATCHED")]
    assert "max_drawdown" in sent[2].body and "run: live r (produccion/)" in sent[2].body
    # unlatched and started again: said at info level, and nothing bad is repeated
    (folder / "HALTED").unlink()
    beat(folder, age=1)
    dog.poll()
    assert [(a.level, a.title) for a in sent[3:]] == [("info", "sactui watch: running again")]
    assert Watchdog.exit_code(dog.poll()) == StatusCode.OK
