"""session.json: a crashed session resumes (same tag, files, peak), a clean end starts anew."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from trader_core.journal import read_steps
from trader_core.session import SessionStore
from trader_core.step_record import StepRecord

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
HOUR = 3_600_000


def step(open_time: int, equity: float, status: str = "SKIPPED:hold", fee: str = "0") -> StepRecord:
    return StepRecord(
        time="2025-03-04T06:00:00Z", candle_open_time=open_time, open=1.0, high=1.0, low=1.0, close=1.0,
        volume=1.0, raw_action=0.0, target_exposure=0.0, order_side="", order_qty="0", order_avg_price="",
        order_fee=fee, client_order_id="", order_status=status, position_qty="0", entry_price="0",
        wallet=equity, equity=equity, unrealized_pnl=0.0, realized_pnl=0.0, funding=0.0, drawdown=0.0,
        decision_latency_ms=0.0, mode="testnet", state="RUNNING",
    )


def _session_json(prod):
    return json.loads((prod / "session.json").read_text())


def test_first_begin_starts_a_new_running_session(tmp_path):
    prod = tmp_path / "produccion"
    state = SessionStore(prod).begin("testnet", Decimal("10000"), T0)
    assert re.fullmatch(r"[0-9a-f]{8}", state.tag)
    assert not state.resumed and state.last_candle_open_time is None
    assert state.journal.steps_path == prod / "registro_20250304_050607.csv"
    assert state.stats.start_equity == 10000.0 and state.stats.steps == 0
    data = _session_json(prod)
    assert data == {
        "session_tag": state.tag, "started_at": "2025-03-04T05:06:07Z", "mode": "testnet",
        "steps_file": "registro_20250304_050607.csv", "emergencies_file": "emergencias_20250304_050607.csv",
        "status": "running", "start_equity": "10000",
    }
    state.journal.close()


def test_a_crashed_session_resumes_with_its_tag_files_last_candle_and_peak(tmp_path):
    prod = tmp_path / "produccion"
    first = SessionStore(prod).begin("testnet", Decimal("10000"), T0)
    for i, equity in enumerate([10000.0, 10500.0, 10080.0]):
        first.journal.write_step(step(1_700_000_000_000 + i * HOUR, equity))
    with open(first.journal.steps_path, "a") as fh:
        fh.write("2025-03-04T09:00:00Z,17000")  # the crash came in the middle of a write
    # no end(): the process "died"; the journal handle is simply gone
    first.journal.close()

    second = SessionStore(prod).begin("testnet", Decimal("9999"), T0 + timedelta(hours=5))
    assert second.resumed
    assert second.tag == first.tag
    assert second.journal.steps_path == first.journal.steps_path
    assert second.journal.emergencies_path == first.journal.emergencies_path
    assert second.last_candle_open_time == 1_700_000_000_000 + 2 * HOUR
    assert second.start_equity == Decimal("10000")  # the session's own start, not today's equity
    assert second.stats.steps == 3 and second.stats.peak_equity == 10500.0
    assert abs(second.stats.max_drawdown - 0.04) < 1e-12  # 1 - 10080 / 10500
    assert any("incomplete last line" in note for note in second.notes)
    second.journal.write_step(step(1_700_000_000_000 + 3 * HOUR, 10100.0))
    second.journal.close()
    assert [int(r["candle_open_time"]) for r in read_steps(first.journal.steps_path)] == [
        1_700_000_000_000 + i * HOUR for i in range(4)
    ]
    assert _session_json(prod)["status"] == "running"


def test_a_clean_end_makes_the_next_begin_a_new_session(tmp_path):
    prod = tmp_path / "produccion"
    store = SessionStore(prod)
    first = store.begin("testnet", Decimal("10000"), T0)
    first.journal.write_step(step(1_700_000_000_000, 10000.0))
    store.end(first, now=T0 + timedelta(hours=1))
    data = _session_json(prod)
    assert data["status"] == "stopped" and data["ended_at"] == "2025-03-04T06:06:07Z"

    second = store.begin("testnet", Decimal("10000"), T0 + timedelta(hours=2))
    assert not second.resumed
    assert second.tag != first.tag
    assert second.journal.steps_path != first.journal.steps_path
    assert second.last_candle_open_time is None and second.stats.steps == 0
    assert len(read_steps(first.journal.steps_path)) == 1  # the old journal is untouched
    second.journal.close()


def test_new_tag_never_repeats_the_previous_sessions_tag(tmp_path):
    tags = iter(["aaaaaaaa", "aaaaaaaa", "bbbbbbbb"])
    store = SessionStore(tmp_path, new_tag=lambda: next(tags))
    first = store.begin("sim", None, T0)
    store.end(first, now=T0)
    second = store.begin("sim", None, T0 + timedelta(seconds=1))
    assert (first.tag, second.tag) == ("aaaaaaaa", "bbbbbbbb")
    second.journal.close()


def test_a_running_session_of_another_mode_is_not_resumed(tmp_path):
    prod = tmp_path / "produccion"
    first = SessionStore(prod).begin("testnet", Decimal("10000"), T0)
    first.journal.write_step(step(1_700_000_000_000, 10000.0))
    first.journal.close()  # crashed while running on testnet

    second = SessionStore(prod).begin("live", Decimal("500"), T0 + timedelta(minutes=1))
    assert not second.resumed
    assert second.tag != first.tag and second.mode == "live"
    assert second.journal.steps_path != first.journal.steps_path
    assert any(first.tag in note and "not ended cleanly" in note for note in second.notes)
    data = _session_json(prod)
    assert data["mode"] == "live" and data["session_tag"] == second.tag and data["status"] == "running"
    second.journal.close()


def test_resume_fills_in_a_start_equity_the_crashed_session_never_learned(tmp_path):
    first = SessionStore(tmp_path).begin("sim", None, T0)
    first.journal.close()
    assert _session_json(tmp_path)["start_equity"] is None
    second = SessionStore(tmp_path).begin("sim", Decimal("2500.5"), T0 + timedelta(minutes=1))
    assert second.resumed and second.start_equity == Decimal("2500.5")
    assert _session_json(tmp_path)["start_equity"] == "2500.5"
    second.journal.close()


def test_an_unreadable_session_file_starts_a_new_session(tmp_path):
    (tmp_path / "session.json").write_text("{not json")
    state = SessionStore(tmp_path).begin("sim", None, T0)
    assert not state.resumed and any("unreadable" in n for n in state.notes)
    assert _session_json(tmp_path)["session_tag"] == state.tag
    state.journal.close()


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    store = SessionStore(tmp_path)
    state = store.begin("sim", Decimal("1"), T0)
    store.end(state, now=T0)
    state = store.begin("sim", Decimal("1"), T0 + timedelta(seconds=1))
    store.end(state, now=T0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["session.json"]  # no journal rows were written, so no journal files either


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    from trader_core import session as session_mod

    store = SessionStore(tmp_path)
    state = store.begin("sim", Decimal("1"), T0)
    before = (tmp_path / "session.json").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(session_mod.os, "replace", broken_replace)
    try:
        store.end(state, now=T0)
    except OSError:
        pass
    else:
        raise AssertionError("the failing write was not reported")
    assert (tmp_path / "session.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_state_dataclass_holds_what_the_engine_needs(tmp_path):
    state = SessionStore(tmp_path).begin("backtest", Decimal("100"), T0)
    assert state.mode == "backtest" and state.started_at == "2025-03-04T05:06:07Z"
    state.stats.update(step(5, 110.0))
    assert state.stats.pnl == 10.0
    state.journal.close()
