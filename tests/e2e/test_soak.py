"""The short soak, end to end: ``sactui soak --profile short`` as an operator runs it.

Four hours of real 1m candles through a real ``sactui --headless`` process against the
simulator, with a kill -9 while an order's answer is held, an order whose answer is lost,
a 503, a 429, a partial fill, stream drops, a candle gap, a clock jump, the provoked
drawdown stop (unlatched and restarted) and a random kill -9 - then every invariant, from
the exchange's records and the journals.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support import real_candle_file

DATA = "binance_usdm_BTCUSDT_1m_20230718_20230817.csv"


def soak(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "sactui", "soak", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_short_soak_passes_every_invariant(tmp_path):
    out = tmp_path / "soak"
    done = soak("--profile", "short", "--seed", "3", "--data", str(real_candle_file(DATA)), "--out", str(out))
    report = json.loads((out / "soak-report.json").read_text())
    failed = [r for r in report["invariants"] if not r["ok"]]
    assert done.returncode == 0 and report["ok"] and not failed, (failed, report["aborted"], done.stdout[-3000:])
    fired = {f["kind"] for f in report["faults"] if f["fired"]}
    assert {"kill_held_order", "kill_random", "order_ack_lost", "drawdown_breach", "order_5xx"} <= fired
    assert [p["end_cause"] for p in report["processes"]].count("kill_held_order") == 1
    assert len(report["latched"]) == 1 and report["latched"][0]["candles"] >= 3
    assert report["span"]["candles"] == 240
    held = next(f for f in report["faults"] if f["kind"] == "kill_held_order")
    assert held["statuses"].get("FILLED:recovered") == 1  # the order sent before the kill, found, not resent
    assert (out / "soak-report.md").read_text().startswith("# Soak report: PASSED")


def test_the_schedule_is_reproducible_and_bad_options_say_what_to_do(tmp_path):
    first, second = soak("--schedule-only", "--seed", "5"), soak("--schedule-only", "--seed", "5")
    assert first.returncode == 0 and first.stdout == second.stdout and json.loads(first.stdout)
    assert soak("--schedule-only", "--seed", "6").stdout != first.stdout
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep me")
    busy = soak("--profile", "short", "--out", str(tmp_path / "used"), "--data", str(real_candle_file(DATA)))
    assert busy.returncode == 2 and "--fresh" in busy.stderr and (tmp_path / "used" / "x").exists()
    missing = soak("--profile", "short", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 3 and "pass --data" in missing.stderr
