"""Out-of-range trading values in a run's metadata are refused at load, naming the key."""

from __future__ import annotations

import pytest
import yaml

from trader_core.errors import RunError
from trader_core.runs import METADATA_FILE, TrainingRun


def _set(section, key, value):
    def change(data):
        target = data
        for part in section:
            target = target[part]
        target[key] = value

    return change


def _delete(section, key):
    def change(data):
        target = data
        for part in section:
            target = target[part]
        del target[key]

    return change


NAN, INF = float("nan"), float("inf")
T, F = ("trading",), ("trading", "filters")


@pytest.mark.parametrize(
    "change, key",
    [
        (_set(T, "leverage", "abc"), "trading.leverage"),
        (_set(T, "leverage", 0), "trading.leverage"),
        (_set(T, "leverage", 126), "trading.leverage"),
        (_set(T, "leverage", 2.5), "trading.leverage"),
        (_set(T, "leverage", True), "trading.leverage"),
        (_set(T, "fee_rate", "-0.0005"), "trading.fee_rate"),
        (_set(T, "fee_rate", "abc"), "trading.fee_rate"),
        (_set(T, "fee_rate", "NaN"), "trading.fee_rate"),
        (_set(T, "fee_rate", INF), "trading.fee_rate"),
        (_set(T, "fee_rate", "0.1"), "trading.fee_rate"),
        (_delete(T, "fee_rate"), "trading.fee_rate"),
        (_set(T, "initial_balance", "0"), "trading.initial_balance"),
        (_set(T, "initial_balance", "-10000"), "trading.initial_balance"),
        (_set(T, "initial_balance", "inf"), "trading.initial_balance"),
        (_set(T, "initial_balance", "1e400"), "trading.initial_balance"),
        (_set(T, "initial_balance", NAN), "trading.initial_balance"),
        (_set(T, "drawdown_limit", NAN), "trading.drawdown_limit"),
        (_set(("action_mapping",), "max_leverage", NAN), "action_mapping.max_leverage"),
        (_set(("action_mapping",), "max_leverage", 5.0), "action_mapping.max_leverage"),
        (_set(("action_mapping",), "max_leverage", "1"), "action_mapping.max_leverage"),
        (_set(("action_mapping",), "deadband", NAN), "action_mapping.deadband"),
        (_set(("action_mapping",), "deadband", -0.1), "action_mapping.deadband"),
        (_set(("action_mapping",), "deadband", 1.0), "action_mapping.deadband"),
        (_delete(("action_mapping",), "deadband"), "action_mapping.deadband"),
        (_set(F, "step_size", "nan"), "trading.filters"),
        (_set(F, "tick_size", "-0.1"), "trading.filters"),
        (_set(F, "min_notional", "abc"), "trading.filters"),
        (_set(F, "max_qty", "1e20"), "trading.filters.max_qty"),
        (_set(F, "symbol", "ETHUSDT"), "trading.filters are for ETHUSDT"),
        (_set((), "symbol", "BTC/USDT"), "symbol must be letters and digits"),
        (_set((), "interval", "7m"), "interval"),
        (_set((), "window_size", True), "window_size"),
    ],
)
def test_bad_trading_value_is_a_run_error_naming_the_key(tiny_run_copy, change, key):
    runs_dir, train_id = tiny_run_copy
    path = runs_dir / train_id / METADATA_FILE
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(RunError) as err:
        TrainingRun.load(train_id, runs_dir)
    message = str(err.value)
    assert key in message and "\n" not in message
    assert err.value.exit_code == 4


def test_the_tiny_runs_own_values_pass(tiny_run):
    assert tiny_run.leverage == 2 and str(tiny_run.fee_rate) == "0.0005"
    assert tiny_run.mapping.max_leverage == 1.0
