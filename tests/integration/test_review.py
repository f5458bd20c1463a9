"""Issue 13: sessions, report and audit on real sessions - sim, backtest and testnet through
--endpoint against a loopback exchange - read by real ``sactui`` processes.

The sessions are run by the real engine (``run_session``, a real ``sactui --sim``
subprocess, the engine harness against the simulator); the commands are run as the
operator runs them. The audit's 100 % on a clean --sim session is measured, not assumed,
and the session really trades, so "identical orders" means something.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from support import CANDLES_1H, REPO, SIM_KEY, SIM_SECRET, EngineHarness, engine_settings, real_candle_file
from trader_core.journal import read_emergencies, read_steps
from trader_core.launcher import SessionOptions, run_session
from trader_core.review.audit import audit_session
from trader_core.review.sessions import find_session, list_sessions
from trader_core.runs import TrainingRun

SACTUI = str(Path(sys.executable).with_name("sactui"))
NO_STREAMS = "[streams]\nenabled = false\n"  # the account read by REST at each close: its mark is the close


def sactui(*args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([SACTUI, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                            env={**os.environ, **(env or {})})
    return result


def external_resources(page: str) -> list[str]:
    """What the page's own tags load from elsewhere (script src, link href, img src)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if (tag, name) in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
                    found.append(f"{tag} {name}={value}")

    Tags().feed(page)
    return found


def no_streams_config(tmp_path: Path) -> Path:
    path = tmp_path / "no-streams.toml"
    path.write_text(NO_STREAMS)
    return path


def test_a_clean_sim_session_audits_at_100_percent(tiny_run_copy, candles_1h_path, tmp_path):
    """A real ``sactui --sim --headless`` session: its end-of-session summary prints the audit's
    line at 100 %, and ``sactui audit`` says the same row by row - over a session that traded."""
    runs_dir, train_id = tiny_run_copy
    config = no_streams_config(tmp_path)
    session = sactui("--train-id", train_id, "--runs-dir", str(runs_dir), "--sim", "--headless", "--quiet",
                     "--speed", "7200", "--max-candles", "40", "--data", str(candles_1h_path), "--config", str(config))
    assert session.returncode == 0, session.stderr
    assert "audit: 40 of 40 decisions identical (100.00%); actions 100.00%, orders 100.00% - no difference" \
        in session.stdout, session.stdout
    rows = read_steps(next((runs_dir / train_id / "simulacion").glob("registro_*.csv")))
    assert len(rows) == 40 and sum(r["order_status"] == "FILLED" for r in rows) >= 3  # it really traded
    out = tmp_path / "rows.csv"
    audit = sactui("audit", "--train-id", train_id, "--runs-dir", str(runs_dir), "--session", "last",
                   "--config", str(config), "--out", str(out))
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.strip().splitlines()[-1].startswith("audit: 40 of 40 decisions identical (100.00%)")
    with open(out) as fh:
        compared = list(csv.DictReader(fh))
    assert len(compared) == 40 and all(r["identical"] == "True" for r in compared)
    assert sum(r["live_status"] == "FILLED" and r["model_status"] == "FILLED" for r in compared) >= 3


async def test_the_audit_explains_paused_rows_a_flatten_and_a_rejected_order(sim, tiny_run_copy, candles_1h_path):
    """The live session does what the model would not: it is paused, flattened by F9 and has an
    order refused by the exchange. Each of those rows is a difference with its cause; every
    other row is identical; nothing is unexplained."""
    runs_dir, train_id = tiny_run_copy
    run = TrainingRun.load(train_id, runs_dir)
    h = EngineHarness(sim, run, runs_dir / train_id / "simulacion", engine_settings(), mode="sim")
    await h.start()
    await h.step(12)
    h.engine.pause()
    await h.step(3)
    h.engine.resume()
    await h.step(6)
    sim.faults.refuse_orders(-2019)  # "Margin is insufficient" for every order until released
    while not any(r.order_status.startswith("REJECTED") for r in h.rows.values()):
        assert await h.step(1), "the engine ended"
        assert len(h.rows) < 80, "no order was attempted while refusals were on"
    sim.faults.release_orders()
    await h.step(4)
    position = h.engine.snapshot.position
    if position is None or position.flat:  # F9 must close something: hold a position first
        h.engine.pause()
    record = await h.engine.flatten()
    assert record.flat
    await h.step(3)  # paused after F9
    await h.stop()
    rows, emergencies = h.journal_rows, h.emergency_rows
    assert [e["trigger"] for e in emergencies] == ["operator_flatten"]

    info = find_session(list_sessions(runs_dir, train_id), None)
    result = await audit_session(run, run.load_agent(), engine_settings(), info, [candles_1h_path])
    assert result.audited == len(rows) and result.not_audited == 0
    causes = result.causes()
    assert result.unexplained == (), [(r.candle_open_ms, r.explanation) for r in result.unexplained]
    assert set(causes) <= {"paused", "rejected"}, causes
    assert causes.get("rejected", 0) >= 1
    paused_rows = [r for r in rows if r["order_status"] == "SKIPPED:paused"]
    different_paused = [d for d in result.differences if d.cause == "paused"]
    assert len(different_paused) <= len(paused_rows)  # a paused candle differs only when the model would trade
    after_f9 = [d for d in different_paused if "operator flatten" in d.explanation]
    assert all(d.live_status == "SKIPPED:paused" for d in different_paused)
    identical = result.identical
    assert identical == len(rows) - len(result.differences) and identical >= len(rows) - 10
    assert result.worst_action_difference <= 1e-6  # the decisions themselves never differed
    assert after_f9 or not any(d.cause == "paused" and rows.index(next(
        r for r in rows if int(r["candle_open_time"]) == d.candle_open_ms)) > 30 for d in different_paused)
    line = result.line()
    assert "UNEXPLAINED" not in line and "all explained" in line


async def test_sessions_and_report_across_backtest_sim_and_testnet(tiny_run_copy, candles_1h, candles_1h_path,
                                                                   tmp_path, monkeypatch):
    """Three real sessions of one run - a backtest, a --sim session and a testnet session against a
    loopback exchange through --endpoint - then ``sactui sessions`` lists all three with their
    figures as the journals hold them, ``sactui report`` writes an HTML file that needs no network,
    and ``sactui audit`` audits the testnet session."""
    from trader_core.simulator import LoopbackExchange

    runs_dir, train_id = tiny_run_copy
    run = TrainingRun.load(train_id, runs_dir)
    settings = engine_settings(reconcile_seconds=3600.0, enabled=False)
    backtest = await run_session(SessionOptions(train_id, "backtest", runs_dir, data=candles_1h_path,
                                                max_candles=60), settings)
    sim_outcome = await run_session(SessionOptions(train_id, "sim", runs_dir, data=candles_1h_path, max_candles=15,
                                                   speed=36_000), settings)
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", SIM_KEY)
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SIM_SECRET)
    frame = candles_1h.iloc[2000:2000 + run.history_needed + 200].reset_index(drop=True)
    async with LoopbackExchange(frame, api_key=SIM_KEY, api_secret=SIM_SECRET, start_index=run.history_needed,
                                speed=36_000, initial_balance=Decimal("10000"), fee_rate=run.fee_rate,
                                leverage=run.leverage, filters=run.filters, enforce_rate_limits=False) as exchange:
        testnet = await run_session(SessionOptions(train_id, "testnet", runs_dir, endpoint=exchange.rest_base,
                                                   max_candles=20), settings)

    listing = sactui("sessions", "--train-id", train_id, "--runs-dir", str(runs_dir), "--json")
    assert listing.returncode == 0, listing.stderr
    sessions = json.loads(listing.stdout)["sessions"]
    by_mode = {s["mode"]: s for s in sessions}
    assert set(by_mode) == {"backtest", "sim", "testnet"}, sessions
    for mode, outcome in (("backtest", backtest), ("sim", sim_outcome), ("testnet", testnet)):
        s, rows = by_mode[mode], read_steps(outcome.journal_path)
        assert s["steps_file"] == str(outcome.journal_path) and s["steps"] == len(rows)
        assert s["status"] == "stopped" and s["ending"] == "stopped" and not s["inferred"]
        assert s["trades"] == sum(r["order_qty"] != "0" for r in rows)
        assert s["fees"] == pytest.approx(sum(float(r["order_fee"]) for r in rows if r["order_qty"] != "0"))
        assert s["end_equity"] == pytest.approx(float(rows[-1]["equity"]))
        assert s["first_candle_open_ms"] == int(rows[0]["candle_open_time"])
    text = sactui("sessions", "--train-id", train_id, "--runs-dir", str(runs_dir))
    assert text.returncode == 0 and by_mode["testnet"]["session_id"] in text.stdout and "-> stopped" in text.stdout

    page = tmp_path / "report.html"
    report = sactui("report", "--train-id", train_id, "--runs-dir", str(runs_dir), "--session",
                    by_mode["testnet"]["session_id"], "--html", str(page), "--width", "90")
    assert report.returncode == 0, report.stderr
    assert "buy-and-hold" in report.stdout and "Equity (USDT)" in report.stdout and "Position" in report.stdout
    html = page.read_text()
    assert by_mode["testnet"]["session_id"] in html and "Plotly.newPlot" in html
    assert external_resources(html) == []  # plotly's JavaScript is inside the page: it opens offline
    assert len(html) > 1_000_000
    default_page = sactui("report", "--train-id", train_id, "--runs-dir", str(runs_dir), "--session", "last",
                          "--no-plots", "--html")
    assert default_page.returncode == 0, default_page.stderr
    assert (runs_dir / train_id / "produccion" / f"report_{by_mode['testnet']['session_id']}.html").is_file()
    for mode in ("backtest", "sim"):  # the report of every mode's session, its figures from its own journal
        other = sactui("report", "--train-id", train_id, "--runs-dir", str(runs_dir), "--session",
                       by_mode[mode]["session_id"], "--no-plots", "--html", str(tmp_path / f"{mode}.html"))
        assert other.returncode == 0, other.stderr
        assert by_mode[mode]["session_id"] in other.stdout and "buy-and-hold" in other.stdout, other.stdout
        assert external_resources((tmp_path / f"{mode}.html").read_text()) == []

    audit = sactui("audit", "--train-id", train_id, "--runs-dir", str(runs_dir), "--session",
                   by_mode["testnet"]["session_id"], "--data", str(candles_1h_path))
    assert audit.returncode == 0, audit.stderr
    assert "decisions identical" in audit.stdout and "UNEXPLAINED" not in audit.stdout, audit.stdout


def test_replay_and_backtest_print_the_buy_and_hold_of_the_runs_metadata(tmp_path):
    """One buy-and-hold for one span: the demo's held-out figure (its metadata, the README) is what
    replay, backtest and the end-of-session summary print over the same candles."""
    runs_dir = tmp_path / "runs"
    shutil.copytree(REPO / "entrenamientos" / "demo", runs_dir / "demo",
                    ignore=shutil.ignore_patterns("simulacion", "produccion", "backtest"))
    run = TrainingRun.load("demo", runs_dir)
    bh = run.metadata["evaluation"]["buy_and_hold"]
    expected = f"buy-and-hold {bh['total_return']:+.2%} over {bh['steps']:,} candles (1x long, fees and funding)"
    replay = sactui("replay", "--train-id", "demo", "--runs-dir", str(runs_dir), "--quiet")
    assert replay.returncode == 0, replay.stderr
    assert expected in replay.stdout, replay.stdout
    backtest = sactui("backtest", "--train-id", "demo", "--runs-dir", str(runs_dir), "--quiet")
    assert backtest.returncode == 0, backtest.stderr
    assert expected in backtest.stdout, backtest.stdout
    assert "warning" not in backtest.stderr  # the held-out candles: no in-sample warning


def test_backtest_start_end_and_the_in_sample_warning(tiny_run_copy, candles_1h_path):
    runs_dir, train_id = tiny_run_copy
    run = TrainingRun.load(train_id, runs_dir)
    common = ("--train-id", train_id, "--runs-dir", str(runs_dir), "--data", str(candles_1h_path), "--quiet")
    inside = sactui("backtest", *common, "--start", "2024-04-01", "--end", "2024-04-03")
    assert inside.returncode == 0, inside.stderr
    assert "inside the run's training split" in inside.stderr and "in-sample" in inside.stderr
    rows = read_steps(sorted((runs_dir / train_id / "backtest").glob("registro_*.csv"))[-1])
    assert len(rows) == 48  # 2 days of 1h candles, decided on; the warm-up comes from before --start
    assert rows[0]["time"] == "2024-04-01T01:00:00Z" and int(rows[0]["candle_open_time"]) == 1711929600000
    assert "open 2024-04-01T00:00:00Z" not in inside.stdout  # --quiet: no step lines
    outside = sactui("replay", *common, "--start", "2024-09-01", "--end", "2024-09-02")
    assert outside.returncode == 0 and "warning" not in outside.stderr, outside.stderr
    assert "open 2024-09-01T00:00:00Z" not in outside.stdout and "over 23 candles" in outside.stdout
    steps = sactui("replay", "--train-id", train_id, "--runs-dir", str(runs_dir), "--data", str(candles_1h_path),
                   "--start", "2024-09-01", "--end", "2024-09-01T02:00")
    assert steps.stdout.splitlines()[1].startswith("open 2024-09-01T00:00:00Z  close ")  # named by its open time
    assert "decided" not in steps.stdout  # offline: the decision time is the close, not printed
    early = sactui("backtest", *common, "--start", "2024-01-02")
    assert early.returncode == 3 and early.stderr.count("\n") == 1, early.stderr
    assert f"{run.history_needed} are needed to warm up" in early.stderr
