"""The ``sactui`` console script, run as the operator runs it."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from trader_core.candles import load_candles

SACTUI = str(Path(sys.executable).parent / "sactui")


def sactui(*args, cwd=None):
    return subprocess.run([SACTUI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _one_clear_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sactui: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_train_command_end_to_end_produces_a_loadable_run(tmp_path, candles_1h_path):
    result = sactui(
        "train", "--data", str(candles_1h_path), "--start", "2024-04-01", "--end", "2024-06-01",
        "--timesteps", "200", "--batch-size", "32", "--window", "6", "--lr", "1e-3",
        "--runs-dir", str(tmp_path), "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert "held-out evaluation:" in result.stdout and "buy_and_hold" in result.stdout
    train_id = result.stdout.strip().splitlines()[-1].removeprefix("train id: ")
    assert train_id.startswith("train_BTCUSDT_20240401_20240531_lr1e-3_bs32_ws6_")
    from trader_core.runs import TrainingRun

    run = TrainingRun.load(train_id, tmp_path)
    assert run.load_agent().observation_shape == (run.layout.size,)
    listing = sactui("runs", "--runs-dir", str(tmp_path))
    assert listing.returncode == 0 and train_id in listing.stdout


def test_train_reads_binance_12_column_dumps(tmp_path, candles_1h_path):
    candles = load_candles(candles_1h_path).iloc[:900]
    dump = tmp_path / "BTCUSDT-1h-2024-01.csv"
    with open(dump, "w", newline="") as fh:
        w = csv.writer(fh)
        for r in candles.itertuples(index=False):
            w.writerow([r.open_time, r.open, r.high, r.low, r.close, r.volume, r.open_time + 3_599_999,
                        r.close * r.volume, 100, r.volume / 2, r.close * r.volume / 2, 0])
    result = sactui("train", "--data", str(dump), "--timesteps", "120", "--batch-size", "16",
                    "--window", "4", "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--train-id", "dump")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "dump" / "model.zip").is_file()


def test_features_command_writes_the_live_path_values(tiny_run_dir, tmp_path, candles_1h_path):
    runs_dir, train_id = tiny_run_dir
    out = tmp_path / "features.csv"
    result = sactui("features", "--train-id", train_id, "--data", str(candles_1h_path),
                    "--out", str(out), "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    with open(out) as fh:
        header = next(csv.reader(fh))
    assert len(header) == len(set(header)), sorted(c for c in header if header.count(c) > 1)  # no name twice
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    candles = load_candles(candles_1h_path)
    from trader_core.runs import TrainingRun

    run = TrainingRun.load(train_id, runs_dir)
    assert len(rows) == len(candles) - (run.features.warmup - 1)
    for column in ("open_time", "sma_20", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9",
                   "macd_hist_12_26_9", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2",
                   "model_sma_20_distance", "scaled_rsi_14_scaled", "log_return_1", "model_log_return_1",
                   "hl_range", "model_hl_range", "body", "model_body", "volume_change_1", "model_volume_change_1"):
        assert column in rows[0], column
    # The first written row is the first warm candle, and its SMA is the plain mean of 20 closes.
    first = run.features.warmup - 1
    assert int(rows[0]["open_time_ms"]) == int(candles["open_time"].iloc[first])
    expected_sma = candles["close"].iloc[first - 19 : first + 1].mean()
    assert float(rows[0]["sma_20"]) == pytest.approx(expected_sma, rel=1e-12)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("--train-id", "nope"), 4, "unknown train id 'nope'"),
        (("features", "--train-id", "nope", "--data", "x.csv", "--out", "o.csv"), 4, "unknown train id"),
        (("train", "--data", "missing.csv"), 3, "candle file not found: missing.csv"),
        (("train", "--data", "{candles}", "--timesteps", "0"), 2, "--timesteps must be >= 1"),
        (("train", "--data", "{candles}", "--interval", "5m"), 2, "--interval 5m but"),
        (("replay", "--train-id", "nope"), 4, "unknown train id"),
    ],
)
def test_bad_input_gives_one_clear_line_and_an_exit_code(tmp_path, candles_1h_path, args, code, message):
    args = [a.replace("{candles}", str(candles_1h_path)) for a in args]
    result = sactui(*args, "--runs-dir", str(tmp_path))
    assert result.returncode == code, (result.returncode, result.stderr)
    assert message in _one_clear_line(result)


def test_nan_in_candles_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time_ms,open,high,low,close,volume\n1,1,2,0.5,1.5,3\n3600001,1,2,0.5,nan,3\n")
    result = sactui("train", "--data", str(bad), "--runs-dir", str(tmp_path))
    assert result.returncode == 3
    assert "line 3 has a missing or non-numeric value" in _one_clear_line(result)


def test_latched_run_refuses_to_start_until_unlatched(tiny_run_copy):
    from datetime import datetime, timezone
    from decimal import Decimal

    from trader_core.latch import write_latch

    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    write_latch(production, "drawdown 16.00% reached the limit 15.00%", Decimal("8400"), Decimal("10000"),
                datetime(2026, 1, 2, tzinfo=timezone.utc))
    env_free = sactui("--train-id", train_id, "--headless", "--runs-dir", str(runs_dir))
    assert env_free.returncode == 6
    assert "sactui unlatch --train-id" in _one_clear_line(env_free)
    wrong = sactui("unlatch", "--train-id", train_id, "--yes", "nope", "--runs-dir", str(runs_dir))
    assert wrong.returncode == 2 and (production / "HALTED").exists()
    cleared = sactui("unlatch", "--train-id", train_id, "--yes", train_id, "--runs-dir", str(runs_dir))
    assert cleared.returncode == 0 and not (production / "HALTED").exists()
    assert list(production.glob("HALTED.cleared-*"))  # the evidence is kept


@pytest.mark.parametrize(
    "config, message",
    [
        ("[risk]\nmax_drawdown = -0.1\n", "max_drawdown must be between 0 and 1"),
        ("[risk]\nmax_drawdwn = 0.1\n", "unknown key 'max_drawdwn'"),
        ("[retries]\nattempts = \"three\"\n", "attempts must be int"),
    ],
)
def test_invalid_config_is_refused_before_anything_connects(tiny_run_dir, tmp_path, config, message):
    runs_dir, train_id = tiny_run_dir
    path = tmp_path / "config.toml"
    path.write_text(config)
    result = sactui("--train-id", train_id, "--sim", "--headless", "--config", str(path), "--runs-dir", str(runs_dir))
    assert result.returncode == 2
    assert message in _one_clear_line(result)


def test_missing_credentials_mention_sim_and_send_nothing(tiny_run_dir):
    import os

    runs_dir, train_id = tiny_run_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    result = subprocess.run([SACTUI, "--train-id", train_id, "--headless", "--runs-dir", str(runs_dir)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 5
    line = _one_clear_line(result)
    assert "BINANCE_TESTNET_API_KEY" in line and "--sim" in line


@pytest.mark.parametrize("confirm", [None, "btcusdt", "ETHUSDT"])
def test_live_without_the_exact_symbol_is_refused(tiny_run_dir, confirm):
    runs_dir, train_id = tiny_run_dir
    args = ["--train-id", train_id, "--live", "--headless", "--runs-dir", str(runs_dir)]
    if confirm:
        args += ["--confirm-live", confirm]
    result = sactui(*args)
    assert result.returncode == 2
    assert "--confirm-live BTCUSDT" in _one_clear_line(result)


def test_backtest_with_nan_candles_is_a_clear_error(tiny_run_dir, tmp_path):
    runs_dir, train_id = tiny_run_dir
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,3\n3600000,1,2,0.5,NaN,3\n")
    result = sactui("backtest", "--train-id", train_id, "--data", str(bad), "--runs-dir", str(runs_dir))
    assert result.returncode == 3
    assert "line 3 has a missing or non-numeric value" in _one_clear_line(result)


def test_backtest_writes_a_journal_and_compares_with_buy_and_hold(tiny_run_dir, candles_1h_path, tmp_path):
    runs_dir, train_id = tiny_run_dir
    result = sactui("backtest", "--train-id", train_id, "--data", str(candles_1h_path), "--quiet",
                    "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    assert "buy-and-hold" in result.stdout and "journal:" in result.stdout
    journal = Path(result.stdout.split("journal: ")[1].split()[0])
    from trader_core.journal import read_steps
    from trader_core.step_record import JOURNAL_COLUMNS

    rows = read_steps(journal)
    assert tuple(rows[0]) == JOURNAL_COLUMNS and rows[0]["mode"] == "backtest"
    assert len(rows) > 8000


def test_sim_prints_a_command_that_works_pasted_and_logs_what_happens(tiny_run_copy, candles_1h_path, tmp_path):
    """Issue 13: ``sactui sim`` prints the two exports and the ``--endpoint`` command for a session
    against it; that command, run as printed, trades against it, and the simulator logs the
    session's connections and every order it receives as they happen."""
    import os
    import re
    import threading
    import time

    runs_dir, train_id = tiny_run_copy
    metadata = runs_dir / train_id / "config_metadata.yaml"  # deadband 0: the tiny run trades on every candle
    metadata.write_text(re.sub(r"deadband: [0-9.e-]+", "deadband: 0.0", metadata.read_text()))
    sim = subprocess.Popen([SACTUI, "sim", "--data", str(candles_1h_path), "--speed", "3600"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(sim.stdout.readline, "")), daemon=True)
    reader.start()  # list.extend from one thread while the test reads: each line appended whole

    def read_until(predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline or sim.poll() is not None:
                raise AssertionError(f"sactui sim: no {what} within {timeout_s:g} s; it printed:\n" + "".join(out))
            time.sleep(0.05)

    try:
        read_until(lambda: any("Ctrl-C to stop" in line for line in out), 60, "banner")
        exports = dict(line.split("export ", 1)[1].strip().split("=", 1) for line in out if "export " in line)
        assert set(exports) == {"BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET"}
        (printed,) = [line.strip() for line in out if line.strip().startswith("sactui --train-id <run>")]
        command = printed.replace("<run>", train_id).split()
        session = subprocess.run(
            [SACTUI, *command[1:], "--runs-dir", str(runs_dir), "--headless", "--max-candles", "3", "--quiet"],
            env={**os.environ, **exports}, capture_output=True, text=True, timeout=120,
        )
        assert session.returncode == 0, session.stderr[-2000:]
        read_until(lambda: sum("connection:" in line and "closed" in line for line in out) >= 2, 30,
                   "closed connections")
    finally:
        sim.terminate()
        sim.wait(10)
    log = "".join(out)
    assert "connection: market stream opened" in log and "connection: user-data stream opened" in log, log
    assert "connection: market stream closed" in log and "connection: user-data stream closed" in log, log
    journal = session.stdout.split("journal: ")[1].split()[0]
    with open(journal, newline="") as fh:
        sent = [row["client_order_id"] for row in csv.DictReader(fh) if row["client_order_id"]]
    assert sent, "the session sent no order: nothing to find in the simulator's log"
    for client_id in sent:  # every order the session sent was logged by the exchange as it arrived
        assert f"order: {client_id}" in log, (client_id, log)
    assert exports["BINANCE_TESTNET_API_SECRET"] not in session.stdout + session.stderr  # never echoed back
