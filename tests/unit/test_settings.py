"""config.toml loading: defaults, the repo's file, and strict rejection of mistakes."""

from pathlib import Path

import pytest

from trader_core.errors import ConfigError
from trader_core.settings import (
    PathSettings,
    RetrySettings,
    RiskSettings,
    Settings,
    TradingSettings,
    load_settings,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


def _toml(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_path_is_none():
    s = load_settings(None)
    assert s == Settings()
    assert s.risk.max_drawdown == 0.15
    assert s.risk.max_consecutive_failures == 5
    assert s.risk.stale_grace_seconds == 30.0
    assert s.retries.attempts == 3
    assert s.retries.delay_seconds == 1.0
    assert s.trading.margin_type == "CROSSED"
    assert s.trading.adopt_unknown_position is False
    assert s.paths.runs_dir == "entrenamientos"


def test_repo_config_loads():
    assert REPO_CONFIG.is_file(), "config.toml must ship with the repository"
    s = load_settings(REPO_CONFIG)
    assert isinstance(s, Settings)
    assert 0 < s.risk.max_drawdown < 1
    assert s.trading.margin_type in ("CROSSED", "ISOLATED")


def test_empty_file_gives_defaults(tmp_path):
    assert load_settings(_toml(tmp_path, "")) == Settings()


def test_partial_file_overrides_only_given_keys(tmp_path):
    s = load_settings(_toml(tmp_path, """
[risk]
max_drawdown = 0.1
stale_grace_seconds = 45
[trading]
margin_type = "ISOLATED"
adopt_unknown_position = true
[paths]
runs_dir = "runs"
"""))
    assert s.risk == RiskSettings(max_drawdown=0.1, max_consecutive_failures=5, stale_grace_seconds=45.0)
    # an int where a float is expected is accepted and stored as float
    assert type(s.risk.stale_grace_seconds) is float
    assert s.retries == RetrySettings()
    assert s.trading == TradingSettings(margin_type="ISOLATED", adopt_unknown_position=True)
    assert s.paths == PathSettings(runs_dir="runs")


@pytest.mark.parametrize("value", ["-0.1", "0", "0.0", "1", "1.0", "1.5"])
def test_max_drawdown_out_of_range(tmp_path, value):
    with pytest.raises(ConfigError, match="max_drawdown"):
        load_settings(_toml(tmp_path, f"[risk]\nmax_drawdown = {value}\n"))


@pytest.mark.parametrize(
    "text, word", [
        ("[risk]\nmax_consecutive_failures = 0\n", "max_consecutive_failures"),
        ("[risk]\nstale_grace_seconds = -1.0\n", "stale_grace_seconds"),
        ("[retries]\nattempts = 0\n", "attempts"),
        ("[retries]\ndelay_seconds = -0.5\n", "delay_seconds"),
        ('[trading]\nmargin_type = "crossed"\n', "margin_type"),
        ('[paths]\nruns_dir = ""\n', "runs_dir"),
    ],
)
def test_other_out_of_range_values(tmp_path, text, word):
    with pytest.raises(ConfigError, match=word):
        load_settings(_toml(tmp_path, text))


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="maxdrawdown") as info:
        load_settings(_toml(tmp_path, "[risk]\nmaxdrawdown = 0.1\n"))
    assert "[risk]" in str(info.value)
    assert "max_drawdown" in str(info.value)  # the allowed keys are listed


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match="riks"):
        load_settings(_toml(tmp_path, "[riks]\nmax_drawdown = 0.1\n"))


def test_section_that_is_not_a_table(tmp_path):
    with pytest.raises(ConfigError, match=r"\[risk\] must be a table"):
        load_settings(_toml(tmp_path, "risk = 5\n"))


@pytest.mark.parametrize(
    "text, key", [
        ('[risk]\nmax_drawdown = "0.1"\n', "max_drawdown"),  # string for a float
        ("[retries]\nattempts = 3.5\n", "attempts"),  # float for an int
        ("[retries]\nattempts = 3.0\n", "attempts"),  # a whole float is still a float
        ("[trading]\nadopt_unknown_position = 1\n", "adopt_unknown_position"),  # int for a bool
        ("[retries]\nattempts = true\n", "attempts"),  # bool for an int
        ("[risk]\nmax_drawdown = true\n", "max_drawdown"),  # bool for a float
        ("[trading]\nmargin_type = 1\n", "margin_type"),  # int for a str
    ],
)
def test_wrong_type(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key) as info:
        load_settings(_toml(tmp_path, text))
    assert "must be" in str(info.value)


def test_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(_toml(tmp_path, "[risk\nmax_drawdown = 0.1\n"))


def test_missing_named_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "text, key", [
        ("[risk]\nstale_grace_seconds = nan\n", "stale_grace_seconds"),
        ("[risk]\nstale_grace_seconds = inf\n", "stale_grace_seconds"),
        ("[risk]\nstale_grace_seconds = 86401\n", "stale_grace_seconds"),
        ("[risk]\nmax_drawdown = nan\n", "max_drawdown"),
        ("[risk]\nmax_consecutive_failures = 1001\n", "max_consecutive_failures"),
        ("[retries]\ndelay_seconds = nan\n", "delay_seconds"),
        ("[retries]\ndelay_seconds = -inf\n", "delay_seconds"),
        ("[retries]\ndelay_seconds = 1e9\n", "delay_seconds"),
        ("[retries]\nattempts = 21\n", "attempts"),
    ],
)
def test_non_finite_and_huge_values_are_refused_naming_the_key(tmp_path, text, key):
    """TOML has nan and inf literals; every comparison with nan is false, so a check
    written as ``value < 0`` would accept it and the engine would crash later."""
    with pytest.raises(ConfigError, match=key) as info:
        load_settings(_toml(tmp_path, text))
    assert "finite number" in str(info.value) or "between 0 and 1" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text", [
        "[risk]\nstale_grace_seconds = 86400\nmax_consecutive_failures = 1000\n",
        "[risk]\nstale_grace_seconds = 0\nmax_consecutive_failures = 1\n",
        "[retries]\nattempts = 20\ndelay_seconds = 60\n",
        "[retries]\nattempts = 1\ndelay_seconds = 0\n",
    ],
)
def test_range_bounds_are_inclusive(tmp_path, text):
    load_settings(_toml(tmp_path, text))


# [streams] and the liquidation guard (issue 10): a key outside its range, or not finite, is refused by
# name - a keepalive past the key's 60 minutes or a reconnect past Binance's 24-hour cut would lose the stream.
@pytest.mark.parametrize(
    "text, key", [
        ("[streams]\nkeepalive_minutes = 60\n", "keepalive_minutes"),
        ("[streams]\nkeepalive_minutes = 0.5\n", "keepalive_minutes"),
        ("[streams]\nreconnect_hours = 24\n", "reconnect_hours"),
        ("[streams]\nreconnect_hours = 0\n", "reconnect_hours"),
        ("[streams]\nmark_stale_seconds = 0.5\n", "mark_stale_seconds"),
        ("[streams]\nmark_stale_seconds = nan\n", "mark_stale_seconds"),
        ("[streams]\nreconcile_seconds = 0\n", "reconcile_seconds"),
        ("[streams]\nmismatch_limit = 0\n", "mismatch_limit"),
        ("[streams]\ntolerance = -0.01\n", "tolerance"),
        ("[streams]\ntolerance = inf\n", "tolerance"),
        ("[streams]\nfill_wait_seconds = 0\n", "fill_wait_seconds"),
        ("[streams]\nfill_wait_seconds = 61\n", "fill_wait_seconds"),
        ("[risk]\nliquidation_buffer = 0.5\n", "liquidation_buffer"),
        ("[risk]\nliquidation_buffer = -0.01\n", "liquidation_buffer"),
        ("[risk]\nliquidation_buffer = nan\n", "liquidation_buffer"),
    ],
)
def test_stream_and_liquidation_settings_out_of_range(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key) as info:
        load_settings(_toml(tmp_path, text))
    assert "\n" not in str(info.value)


def test_stream_settings_at_their_bounds_are_accepted(tmp_path):
    settings = load_settings(_toml(tmp_path, "[streams]\nkeepalive_minutes = 59\nreconnect_hours = 23.9\n"
                                             "mismatch_limit = 1\ntolerance = 0\n[risk]\nliquidation_buffer = 0\n"))
    assert settings.streams.keepalive_minutes == 59 and settings.streams.reconnect_hours == 23.9
    assert settings.risk.liquidation_buffer == 0
