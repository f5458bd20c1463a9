"""The journal: column order, one durable row per write, crash repair, session statistics."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from trader_core import journal as journal_mod
from trader_core.errors import JournalError
from trader_core.journal import (
    EMERGENCY_COLUMNS, EmergencyRecord, Journal, SessionStats, read_emergencies, read_steps,
)
from trader_core.step_record import JOURNAL_COLUMNS, StepRecord

REPO = Path(__file__).resolve().parents[2]
STARTED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def step(i: int = 0, **changes) -> StepRecord:
    base = StepRecord(
        time="2025-01-02T04:00:00Z", candle_open_time=1_735_786_800_000 + i * 3_600_000,
        open=65000.1, high=65100.5, low=64900.0, close=65050.2, volume=123.456,
        raw_action=0.25, target_exposure=0.5, order_side="", order_qty="0", order_avg_price="",
        order_fee="0", client_order_id="", order_status="SKIPPED:no_change", position_qty="0",
        entry_price="0", wallet=10000.0, equity=10000.0, unrealized_pnl=0.0, realized_pnl=0.0,
        funding=0.0, drawdown=0.0, decision_latency_ms=1.5, mode="testnet", state="RUNNING",
    )
    return replace(base, **changes)


def emergency(**changes) -> EmergencyRecord:
    base = EmergencyRecord(
        time="2025-01-02T05:00:00Z", trigger="max_drawdown", detail="drawdown 21.3% > limit 20%",
        equity=7870.0, peak_equity=10000.0, drawdown=0.213, position_before="-0.150",
        position_after="0", cancelled_orders=2, close_orders=EmergencyRecord.join_ids(["sac-ab-f1", "sac-ab-f2"]),
        flat=True, state_after="HALTED", mode="testnet",
    )
    return replace(base, **changes)


def test_files_are_named_after_the_start_time_have_the_headers_and_appear_with_their_first_row(tmp_path):
    prod = tmp_path / "entrenamientos" / "run" / "produccion"
    with Journal.create(prod, STARTED) as journal:
        assert journal.steps_path == prod / "registro_20250102_030405.csv"
        assert journal.emergencies_path == prod / "emergencias_20250102_030405.csv"
        assert not journal.steps_path.exists() and not journal.emergencies_path.exists()  # nothing written yet
        journal.write_step(step())
        journal.write_emergency(emergency())
    with open(prod / "registro_20250102_030405.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == JOURNAL_COLUMNS
    with open(prod / "emergencias_20250102_030405.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == EMERGENCY_COLUMNS


def test_a_second_journal_in_the_same_second_never_overwrites_the_first(tmp_path):
    first = Journal.create(tmp_path, STARTED)
    first.write_step(step())
    first.close()
    second = Journal.create(tmp_path, STARTED)
    second.write_step(step())
    second.close()
    assert second.steps_path.name == "registro_20250102_030405_2.csv"
    assert len(read_steps(first.steps_path)) == 1


def test_one_row_per_write_in_column_order_with_exact_values(tmp_path):
    journal = Journal.create(tmp_path, STARTED)
    records = [step(i, equity=10000.0 + i / 3, order_qty="-0.150") for i in range(3)]
    for record in records:
        journal.write_step(record)
    journal.close()
    lines = journal.steps_path.read_text().splitlines()
    assert len(lines) == 1 + 3
    rows = read_steps(journal.steps_path)
    assert list(rows[0].keys()) == list(JOURNAL_COLUMNS)
    for record, row in zip(records, rows):
        assert row == {name: _expected_cell(getattr(record, name)) for name in JOURNAL_COLUMNS}
        assert float(row["equity"]) == record.equity  # repr round-trips exactly


def _expected_cell(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def test_numpy_floats_and_multiline_text_stay_plain_and_on_one_line(tmp_path):
    import numpy as np
    journal = Journal.create(tmp_path, STARTED)
    journal.write_step(step(raw_action=np.float32(0.5), equity=np.float64(12345.678)))
    journal.write_emergency(emergency(detail="line one\nline two, with a comma"))
    journal.close()
    row = read_steps(journal.steps_path)[0]
    assert row["raw_action"] == "0.5" and row["equity"] == "12345.678"
    assert len(journal.emergencies_path.read_text().splitlines()) == 2
    assert read_emergencies(journal.emergencies_path)[0]["detail"] == "line one line two, with a comma"


def test_every_row_is_fsynced_before_write_returns(tmp_path, monkeypatch):
    journal = Journal.create(tmp_path, STARTED)
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    for i in range(5):
        journal.write_step(step(i))
        assert len(calls) == i + 2  # the header, fsynced when the file appears, then one per row
    journal.write_emergency(emergency())
    assert len(calls) == 8  # its header and its row
    journal.close()


def test_emergencies_file_rows(tmp_path):
    journal = Journal.create(tmp_path, STARTED)
    journal.write_emergency(emergency())
    journal.write_emergency(emergency(trigger="operator_flatten", flat=False, cancelled_orders=0, close_orders=""))
    journal.close()
    rows = read_emergencies(journal.emergencies_path)
    assert [r["trigger"] for r in rows] == ["max_drawdown", "operator_flatten"]
    assert rows[0]["close_orders"] == "sac-ab-f1;sac-ab-f2"
    assert rows[0]["flat"] == "true" and rows[1]["flat"] == "false"
    assert rows[0]["drawdown"] == "0.213" and rows[0]["cancelled_orders"] == "2"
    assert rows[0]["position_before"] == "-0.150"
    assert read_steps(journal.steps_path) == []


def test_unknown_emergency_trigger_is_refused():
    with pytest.raises(ValueError, match="trigger"):
        emergency(trigger="bad_luck")


def test_resume_cuts_only_the_partial_last_line_and_appends_after_it(tmp_path):
    journal = Journal.create(tmp_path, STARTED)
    for i in range(3):
        journal.write_step(step(i))
    journal.write_emergency(emergency())
    journal.close()
    complete = journal.steps_path.read_bytes()
    with open(journal.steps_path, "ab") as fh:
        fh.write(b"2025-01-02T07:00:00Z,1735797600000,65000.1,651")  # a write cut by kill -9
    resumed = Journal.resume(journal.steps_path, journal.emergencies_path)
    assert journal.steps_path.read_bytes() == complete
    assert len(resumed.notes) == 1 and "registro_20250102_030405.csv" in resumed.notes[0]
    resumed.write_step(step(3))
    resumed.write_emergency(emergency(trigger="operator_stop"))
    resumed.close()
    rows = read_steps(journal.steps_path)
    assert [int(r["candle_open_time"]) for r in rows] == [step(i).candle_open_time for i in range(4)]
    assert [r["trigger"] for r in read_emergencies(journal.emergencies_path)] == ["max_drawdown", "operator_stop"]
    assert journal.steps_path.read_text().count("candle_open_time") == 1  # header written once


def test_resume_of_intact_files_changes_nothing(tmp_path):
    journal = Journal.create(tmp_path, STARTED)
    journal.write_step(step())
    journal.close()
    before = journal.steps_path.read_bytes()
    resumed = Journal.resume(journal.steps_path, journal.emergencies_path)
    resumed.close()
    assert resumed.notes == ()
    assert journal.steps_path.read_bytes() == before


def test_resume_refuses_a_file_with_other_columns(tmp_path):
    steps = tmp_path / "registro_x.csv"
    steps.write_text("time,equity\n2025-01-01T00:00:00Z,1\n")
    with pytest.raises(JournalError, match="different columns"):
        Journal.resume(steps, tmp_path / "emergencias_x.csv")


def test_read_steps_ignores_an_incomplete_last_line(tmp_path):
    journal = Journal.create(tmp_path, STARTED)
    journal.write_step(step())
    journal.close()
    with open(journal.steps_path, "a") as fh:
        fh.write("2025-01-02T")
    assert len(read_steps(journal.steps_path)) == 1


_WRITER = """
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from trader_core.journal import Journal
from trader_core.step_record import StepRecord
base = StepRecord(
    time="2025-01-02T04:00:00Z", candle_open_time=0, open=65000.1, high=65100.5, low=64900.0,
    close=65050.2, volume=123.456, raw_action=0.25, target_exposure=0.5, order_side="BUY",
    order_qty="0.001", order_avg_price="65050.2", order_fee="0.0325251", client_order_id="sac-x",
    order_status="FILLED", position_qty="0.001", entry_price="65050.2", wallet=9999.9,
    equity=10000.0, unrealized_pnl=0.0, realized_pnl=0.0, funding=0.0, drawdown=0.0,
    decision_latency_ms=1.5, mode="testnet", state="RUNNING",
)
journal = Journal.create(Path(sys.argv[2]), datetime(2025, 1, 2, tzinfo=timezone.utc))
print(journal.steps_path, flush=True)
i = 0
while True:
    journal.write_step(replace(base, candle_open_time=i, equity=10000.0 + i / 7))
    i += 1
"""


def test_kill_9_loses_no_complete_row_and_the_session_resumes(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(REPO), str(tmp_path)], stdout=subprocess.PIPE, text=True,
    )
    try:
        steps_path = Path(proc.stdout.readline().strip())
        deadline = time.monotonic() + 60
        while not steps_path.exists() or steps_path.read_bytes().count(b"\n") < 51:  # header + 50 rows
            assert proc.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer wrote fewer than 50 rows in 60 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    data = steps_path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode().splitlines()
    assert len(complete) >= 51
    rows = list(csv.DictReader(complete))
    for i, row in enumerate(rows):  # every complete row is whole, in order, parseable
        assert list(row.keys()) == list(JOURNAL_COLUMNS) and None not in row.values()
        assert int(row["candle_open_time"]) == i
        assert float(row["equity"]) == 10000.0 + i / 7
        assert row["state"] == "RUNNING"

    emergencies_path = steps_path.with_name(steps_path.name.replace("registro_", "emergencias_"))
    resumed = Journal.resume(steps_path, emergencies_path)
    assert bool(resumed.notes) == (not data.endswith(b"\n"))
    resumed.write_step(step(0, candle_open_time=len(rows)))
    resumed.close()
    after = read_steps(steps_path)
    assert len(after) == len(rows) + 1
    assert [int(r["candle_open_time"]) for r in after] == list(range(len(rows) + 1))
    assert steps_path.read_bytes().endswith(b"\n")


# ------------------------------------------------------------------ statistics

def _session_records() -> list[StepRecord]:
    # start 10000; buy 0.1 @ 50000 (fee 2.5) -> 9997.5; price up -> 10197.5 (peak);
    # sell 0.1 @ 52000 (fee 2.6, realised +200) -> 10194.9; then no trade at 9684.15 (another cause).
    return [
        step(0, order_side="BUY", order_qty="0.1", order_avg_price="50000", order_fee="2.5",
             order_status="FILLED", equity=9997.5, realized_pnl=0.0),
        step(1, equity=10197.5, realized_pnl=0.0),
        step(2, order_side="SELL", order_qty="-0.1", order_avg_price="52000", order_fee="2.6",
             order_status="FILLED", equity=10194.9, realized_pnl=200.0),
        step(3, order_status="REJECTED:-2019", equity=9687.625, realized_pnl=200.0),
    ]


def test_session_stats_by_hand():
    stats = SessionStats(start_equity=10000.0, started_monotonic=100.0)
    for record in _session_records():
        stats.update(record)
    assert stats.steps == 4
    assert stats.trades == 2
    assert stats.fees == pytest.approx(5.1)
    assert stats.realized_pnl == 200.0
    assert stats.equity == 9687.625
    assert stats.peak_equity == 10197.5
    # worst drawdown: 1 - 9687.625 / 10197.5 = 0.05 exactly
    assert stats.max_drawdown == pytest.approx(0.05)
    assert stats.pnl == pytest.approx(-312.375)
    assert stats.last_candle_open_time == step(3).candle_open_time
    assert stats.uptime_s(now_monotonic=100.0 + 3723) == 3723
    lines = stats.summary_lines(now_monotonic=100.0 + 3723)
    assert "steps: 4" in lines and "trades: 2" in lines
    assert "fees paid: 5.1000" in lines
    assert "max drawdown: 5.00% (peak equity 10197.50)" in lines
    assert "uptime: 1h 02m 03s" in lines
    assert any(line.startswith("PnL: -312.38 (-3.12%)") for line in lines)


def test_drawdown_before_any_new_peak_is_measured_from_the_start_equity():
    stats = SessionStats(start_equity=10000.0)
    stats.update(step(0, equity=9000.0))
    assert stats.peak_equity == 10000.0
    assert stats.max_drawdown == pytest.approx(0.1)


def test_stats_from_the_journal_equal_the_live_stats(tmp_path):
    live = SessionStats(start_equity=10000.0, started_monotonic=5.0)
    journal = Journal.create(tmp_path, STARTED)
    for record in _session_records():
        journal.write_step(record)
        live.update(record)
    journal.close()
    rebuilt = SessionStats.from_rows(read_steps(journal.steps_path), 10000.0, started_monotonic=5.0)
    assert rebuilt.as_dict(now_monotonic=10.0) == live.as_dict(now_monotonic=10.0)
    assert rebuilt == live


def test_unknown_start_equity_is_taken_from_the_first_row():
    stats = SessionStats.from_rows([], None)
    assert stats.pnl == 0.0
    stats.update(step(0, equity=5000.0))
    stats.update(step(1, equity=5100.0))
    assert stats.start_equity == 5000.0 and stats.pnl == pytest.approx(100.0)


# -- the check before trading (issue 8, defect 4): a journal that cannot be written means no session

def test_a_writable_folder_passes_the_check_and_keeps_no_probe(tmp_path):
    folder = tmp_path / "produccion"
    journal_mod.ensure_writable(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_a_folder_that_cannot_be_created_is_refused_in_one_line(tmp_path):
    blocker = tmp_path / "entrenamientos"
    blocker.write_text("a file where the run's folder should be\n")  # refused even to root, unlike chmod
    with pytest.raises(JournalError, match="is not writable .*nothing was sent") as caught:
        journal_mod.ensure_writable(blocker / "demo" / "produccion")
    assert "\n" not in str(caught.value)
    assert blocker.read_text() == "a file where the run's folder should be\n"


def test_a_disk_with_less_free_space_than_the_minimum_is_refused(tmp_path):
    free = __import__("shutil").disk_usage(tmp_path).free
    with pytest.raises(JournalError, match="KiB free; free some space before trading - nothing was sent"):
        journal_mod.ensure_writable(tmp_path, min_free_bytes=free + 1024 ** 3)
    journal_mod.ensure_writable(tmp_path, min_free_bytes=1)  # and the same disk passes a minimum it meets
