"""Bad inputs end in one line and the documented exit code, never a traceback or a trade.

Exit codes (README): 2 configuration or argument, 3 data file, 4 training run. A few
cases run the real ``sactui`` console script; the rest call its ``main`` in-process,
which is the same code minus the interpreter start-up. For session starts the run's
session folders must stay absent: no journal row, so no order was sent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trader_core.candles import load_candles
from trader_core.runs import METADATA_FILE
from trader_core.simulator.main import main as sim_main
from sactui.main import main as cli_main

SACTUI = str(Path(sys.executable).parent / "sactui")
SESSION_FOLDERS = ("simulacion", "produccion", "backtest")
HEADER = "open_time_ms,open,high,low,close,volume"


@pytest.fixture()
def clean_run(tiny_run_copy):
    """A private copy of the tiny run without session folders (other tests journal into the shared original)."""
    runs_dir, train_id = tiny_run_copy
    for folder in SESSION_FOLDERS:
        shutil.rmtree(runs_dir / train_id / folder, ignore_errors=True)
    return runs_dir, train_id


def sactui(*args):
    return subprocess.run([SACTUI, *args], capture_output=True, text=True, timeout=300)


def single_line(stderr: str, prefix: str = "sactui: error: ") -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def no_session_files(run_dir: Path) -> bool:
    return not any((run_dir / folder).exists() for folder in SESSION_FOLDERS)


@pytest.fixture(scope="module")
def candle_rows(candles_1h_path):
    """700 real candles as CSV lines (enough history for the tiny run to trade)."""
    frame = load_candles(candles_1h_path).iloc[1400:2100]
    return [f"{r.open_time},{r.open},{r.high},{r.low},{r.close},{r.volume}" for r in frame.itertuples(index=False)]


def candles_with(tmp_path, rows, index, replace):
    """The real candles with one cell of line ``index`` replaced (column 1-5)."""
    rows = list(rows)
    cells = rows[index].split(",")
    for column, value in replace.items():
        cells[column] = value
    rows[index] = ",".join(cells)
    path = tmp_path / "candles.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def edit_metadata(run_dir, section, key, value):
    path = run_dir / METADATA_FILE
    data = yaml.safe_load(path.read_text())
    data[section][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# ------------------------------------------------------------------ real console script


def test_inf_in_the_candles_of_a_sim_session_stops_before_any_order(clean_run, tmp_path, candle_rows):
    """The issue's case: a --sim session with an inf close traded 108 orders, then crashed."""
    runs_dir, train_id = clean_run
    data = candles_with(tmp_path, candle_rows, 600, {4: "inf"})
    result = sactui("--train-id", train_id, "--sim", "--headless", "--speed", "3600000", "--data", str(data),
                    "--runs-dir", str(runs_dir))
    assert result.returncode == 3
    assert "line 602 has a non-finite value" in single_line(result.stderr)
    assert no_session_files(runs_dir / train_id)


def test_absurd_price_in_backtest_candles_is_refused(clean_run, tmp_path, candle_rows):
    runs_dir, train_id = clean_run
    data = candles_with(tmp_path, candle_rows, 650, {1: "1e300", 2: "1e300", 3: "1e300", 4: "1e300"})
    result = sactui("backtest", "--train-id", train_id, "--data", str(data), "--quiet", "--runs-dir", str(runs_dir))
    assert result.returncode == 3
    assert "line 652 has a price above 1e+12" in single_line(result.stderr)
    assert no_session_files(runs_dir / train_id)


def test_nan_stale_grace_in_config_is_refused_before_the_session(clean_run, tmp_path, candle_rows):
    runs_dir, train_id = clean_run
    data = candles_with(tmp_path, candle_rows, 0, {})
    config = tmp_path / "config.toml"
    config.write_text("[risk]\nstale_grace_seconds = nan\n")
    result = sactui("--train-id", train_id, "--sim", "--headless", "--data", str(data), "--config", str(config),
                    "--runs-dir", str(runs_dir))
    assert result.returncode == 2
    assert "[risk] stale_grace_seconds must be a finite number in [0, 86400]" in single_line(result.stderr)
    assert no_session_files(runs_dir / train_id)


def test_leverage_abc_in_the_run_metadata_is_refused(clean_run, tmp_path, candle_rows):
    runs_dir, train_id = clean_run
    edit_metadata(runs_dir / train_id, "trading", "leverage", "abc")
    data = candles_with(tmp_path, candle_rows, 0, {})
    result = sactui("--train-id", train_id, "--sim", "--headless", "--data", str(data), "--runs-dir", str(runs_dir))
    assert result.returncode == 4
    assert "trading.leverage must be an integer from 1 to 125, got 'abc'" in single_line(result.stderr)
    assert no_session_files(runs_dir / train_id)


@pytest.mark.parametrize("speed", ["nan", "inf", "0", "-1"])
def test_speed_must_be_finite_and_positive(tiny_run_dir, speed):
    runs_dir, train_id = tiny_run_dir
    result = sactui("--train-id", train_id, "--sim", "--headless", f"--speed={speed}", "--runs-dir", str(runs_dir))
    assert result.returncode == 2
    assert f"argument --speed: must be a finite number > 0, got '{speed}'" in single_line(result.stderr)


def test_sim_port_out_of_range(candles_1h_path):
    result = sactui("sim", "--data", str(candles_1h_path), "--port", "70000")
    assert result.returncode == 2
    line = single_line(result.stderr, prefix="sactui sim: ")
    assert "argument --port: must be from 0 to 65535, got '70000'" in line


# ------------------------------------------------------------------ in-process main()


@pytest.mark.parametrize(
    "config, key",
    [
        ("[retries]\ndelay_seconds = nan\n", "delay_seconds"),
        ("[retries]\ndelay_seconds = 1e9\n", "delay_seconds"),
        ("[retries]\nattempts = 1000\n", "attempts"),
        ("[risk]\nmax_consecutive_failures = 0\n", "max_consecutive_failures"),
        ("[risk]\nstale_grace_seconds = inf\n", "stale_grace_seconds"),
    ],
)
def test_bad_config_numbers_stop_a_session_start(clean_run, tmp_path, capsys, config, key):
    runs_dir, train_id = clean_run
    path = tmp_path / "config.toml"
    path.write_text(config)
    code = cli_main(["--train-id", train_id, "--sim", "--headless", "--config", str(path), "--runs-dir", str(runs_dir)])
    assert code == 2
    assert key in single_line(capsys.readouterr().err)
    assert no_session_files(runs_dir / train_id)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("trading", "fee_rate", "-0.0005", "trading.fee_rate must be >= 0"),
        ("trading", "initial_balance", "0", "trading.initial_balance must be > 0"),
        ("trading", "initial_balance", "-5", "trading.initial_balance must be > 0"),
        ("action_mapping", "max_leverage", float("nan"), "action_mapping.max_leverage must be a finite number"),
    ],
)
def test_bad_run_values_stop_a_backtest(clean_run, tmp_path, capsys, candle_rows, section, key, value, message):
    runs_dir, train_id = clean_run
    edit_metadata(runs_dir / train_id, section, key, value)
    data = candles_with(tmp_path, candle_rows, 0, {})
    code = cli_main(["backtest", "--train-id", train_id, "--data", str(data), "--quiet", "--runs-dir", str(runs_dir)])
    assert code == 4
    assert message in single_line(capsys.readouterr().err)
    assert no_session_files(runs_dir / train_id)


def test_binary_candle_file_stops_a_sim_session(clean_run, tmp_path, capsys):
    runs_dir, train_id = clean_run
    data = tmp_path / "candles.csv"
    data.write_bytes(bytes(range(256)) * 64)
    code = cli_main(["--train-id", train_id, "--sim", "--headless", "--data", str(data), "--runs-dir", str(runs_dir)])
    assert code == 3
    assert "is a binary file, not a candle CSV" in single_line(capsys.readouterr().err)
    assert no_session_files(runs_dir / train_id)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-candles", "0"], "argument --max-candles: must be >= 1, got '0'"),
        (["--max-candles", "abc"], "argument --max-candles: not a whole number: 'abc'"),
        (["--speed", "1e999"], "argument --speed: must be a finite number > 0"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_session_arguments(clean_run, capsys, args, message):
    runs_dir, train_id = clean_run
    code = cli_main(["--train-id", train_id, "--sim", "--headless", *args, "--runs-dir", str(runs_dir)])
    assert code == 2
    assert message in single_line(capsys.readouterr().err)
    assert no_session_files(runs_dir / train_id)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "-1"], "argument --port: must be from 0 to 65535"),
        (["--port", "65536"], "argument --port: must be from 0 to 65535"),
        (["--speed", "nan"], "argument --speed: must be a finite number > 0"),
        (["--speed", "inf"], "argument --speed: must be a finite number > 0"),
        (["--balance", "0"], "argument --balance: must be a finite number > 0"),
        (["--balance", "nan"], "argument --balance: must be a finite number > 0"),
        (["--balance", "Infinity"], "argument --balance: must be a finite number > 0"),
        (["--balance", "1e13"], "argument --balance: must be <= 1E+12"),
        (["--fee-rate", "-0.001"], "argument --fee-rate: must be >= 0 and < 0.1"),
        (["--leverage", "0"], "argument --leverage: must be from 1 to 125"),
        (["--start-index", "-5"], "argument --start-index: must be from 0"),
    ],
)
def test_bad_simulator_arguments(candles_1h_path, capsys, args, message):
    code = sim_main(["--data", str(candles_1h_path), *args])
    assert code == 2
    captured = capsys.readouterr()
    assert message in single_line(captured.err, prefix="sactui sim: ")
    assert captured.out == ""  # nothing started, no URL printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "inf"], "must be finite numbers"),
        (["--lr", "nan"], "must be finite numbers"),
        (["--deadband", "nan"], "must be finite numbers"),
        (["--deadband", "1.5"], "--deadband must be >= 0 and < 1"),
        (["--max-leverage", "0"], "--max-leverage must be > 0"),
        (["--test-fraction", "inf"], "must be finite numbers"),
    ],
)
def test_bad_training_numbers_are_refused_before_training(candles_1h_path, tmp_path, capsys, args, message):
    code = cli_main(["train", "--data", str(candles_1h_path), *args, "--runs-dir", str(tmp_path)])
    assert code == 2
    assert message in single_line(capsys.readouterr().err)
    assert not any(tmp_path.iterdir())  # no run written, not even a partial one
