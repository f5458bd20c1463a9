"""The drawdown latch: written on a max-drawdown stop, refuses starts, cleared by a person."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from trader_core.errors import LatchedError, SactuiError
from trader_core.latch import check_not_latched, clear_latch, read_latch, write_latch

NOW = datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
TRAIN_ID = "train_BTCUSDT_20230101_20250101_lr3e-4_bs256_ws30_20251004_115513"


def test_write_then_read(tmp_path):
    written = write_latch(tmp_path, "max_drawdown 21.50% > 20%", Decimal("7850"), Decimal("10000"), NOW)
    data = json.loads((tmp_path / "HALTED").read_text())
    assert data == {"reason": "max_drawdown 21.50% > 20%", "time": "2025-02-03T04:05:06Z",
                    "equity": 7850.0, "peak": 10000.0, "drawdown": pytest.approx(0.215)}
    latch = read_latch(tmp_path)
    assert latch == written
    assert latch.drawdown == pytest.approx(0.215)
    assert [p.name for p in tmp_path.iterdir()] == ["HALTED"]  # atomic: no temp file left


def test_no_latch_means_no_error(tmp_path):
    assert read_latch(tmp_path) is None
    check_not_latched(tmp_path, TRAIN_ID)  # returns quietly


def test_check_refuses_with_a_one_line_operator_message(tmp_path):
    write_latch(tmp_path, "max_drawdown", 7850.0, 10000.0, NOW)
    with pytest.raises(LatchedError) as info:
        check_not_latched(tmp_path, TRAIN_ID)
    message = str(info.value)
    assert "\n" not in message
    assert "max_drawdown" in message and "2025-02-03T04:05:06Z" in message
    assert "equity 7850.00" in message and "peak 10000.00" in message and "21.50%" in message
    assert f"review the journal, then run 'sactui unlatch --train-id {TRAIN_ID}'" in message
    assert isinstance(info.value, SactuiError) and info.value.exit_code == 6


def test_an_unreadable_latch_still_latches(tmp_path):
    (tmp_path / "HALTED").write_text("{garbage")
    with pytest.raises(LatchedError, match="cannot be read"):
        check_not_latched(tmp_path, TRAIN_ID)


def test_clear_renames_and_keeps_the_evidence(tmp_path):
    write_latch(tmp_path, "max_drawdown", 7850.0, 10000.0, NOW)
    original = (tmp_path / "HALTED").read_text()
    cleared = clear_latch(tmp_path, now=datetime(2025, 2, 4, 8, 0, 0, tzinfo=timezone.utc))
    assert cleared is not None and cleared.reason == "max_drawdown" and cleared.equity == 7850.0
    assert not (tmp_path / "HALTED").exists()
    evidence = tmp_path / "HALTED.cleared-20250204T080000Z"
    assert evidence.read_text() == original
    check_not_latched(tmp_path, TRAIN_ID)  # trading may start again
    assert clear_latch(tmp_path) is None  # nothing left to clear


def test_a_second_clear_in_the_same_second_keeps_both_files(tmp_path):
    later = datetime(2025, 2, 4, 8, 0, 0, tzinfo=timezone.utc)
    write_latch(tmp_path, "first", 1.0, 2.0, NOW)
    clear_latch(tmp_path, now=later)
    write_latch(tmp_path, "second", 1.0, 2.0, NOW)
    clear_latch(tmp_path, now=later)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["HALTED.cleared-20250204T080000Z", "HALTED.cleared-20250204T080000Z-2"]
