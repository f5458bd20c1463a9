"""Operator settings from ``config.toml``, validated strictly.

A typo in a risk setting must not silently fall back to a default: an unknown
section or key, a wrong type or an out-of-range value is a ``ConfigError`` naming
the key and what is allowed. The run's own settings (features, window, mapping)
never live here: they come from the run's ``config_metadata.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError


def _check_range(section: str, key: str, value: float, low: float, high: float,
                 low_open: bool = False, high_open: bool = False) -> None:
    """``value`` finite and within [low, high] (open ends where asked), else a ConfigError naming the key.

    Written so NaN fails: every comparison with NaN is false, so ``not (low <= nan)`` holds."""
    above_low = value > low if low_open else value >= low
    below_high = value < high if high_open else value <= high
    if not (math.isfinite(value) and above_low and below_high):
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"config.toml [{section}] {key} must be a finite number in {bounds}, got {value!r}")


@dataclass(frozen=True)
class RiskSettings:
    max_drawdown: float = 0.15  # fraction of the session's peak equity
    max_consecutive_failures: int = 5
    stale_grace_seconds: float = 30.0
    # After the configured close attempts of an emergency, retries back off up to this.
    flatten_retry_max_seconds: float = 30.0
    # The emergency protocol runs when the mark comes within this fraction of the liquidation price.
    liquidation_buffer: float = 0.05

    def validate(self) -> None:
        if not (math.isfinite(self.max_drawdown) and 0 < self.max_drawdown < 1):
            raise ConfigError(f"config.toml [risk] max_drawdown must be between 0 and 1, got {self.max_drawdown}")
        _check_range("risk", "max_consecutive_failures", self.max_consecutive_failures, 1, 1000)
        # One day: a longer grace would let the engine act on yesterday's candle.
        _check_range("risk", "stale_grace_seconds", self.stale_grace_seconds, 0, 86_400)
        _check_range("risk", "flatten_retry_max_seconds", self.flatten_retry_max_seconds, 0.01, 3600)
        _check_range("risk", "liquidation_buffer", self.liquidation_buffer, 0, 0.5, high_open=True)


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 3
    delay_seconds: float = 1.0

    def validate(self) -> None:
        # 20 tries 60 s apart already outlast a candle of 15 minutes; more only hides an outage.
        _check_range("retries", "attempts", self.attempts, 1, 20)
        _check_range("retries", "delay_seconds", self.delay_seconds, 0, 60)


@dataclass(frozen=True)
class TradingSettings:
    margin_type: str = "CROSSED"
    adopt_unknown_position: bool = False

    def validate(self) -> None:
        if self.margin_type not in ("CROSSED", "ISOLATED"):
            raise ConfigError("config.toml [trading] margin_type must be CROSSED or ISOLATED")


@dataclass(frozen=True)
class StreamSettings:
    """The user-data and mark-price streams: the account as the exchange pushes it."""

    enabled: bool = True
    keepalive_minutes: float = 30.0  # PUT listenKey this often (a key lives 60 minutes)
    reconnect_hours: float = 23.0  # reconnect before Binance's 24-hour cut
    mark_stale_seconds: float = 5.0  # the mark stream pushes every second; older than this is stale
    reconcile_seconds: float = 60.0  # compare the pushed account with REST this often
    mismatch_limit: int = 3  # consecutive mismatches with REST that start the emergency protocol
    tolerance: float = 0.01  # USDT: a wallet or fee difference beyond this is a mismatch
    fill_wait_seconds: float = 2.0  # how long an order's fills may take to arrive on the stream

    def validate(self) -> None:
        _check_range("streams", "keepalive_minutes", self.keepalive_minutes, 1, 59)
        _check_range("streams", "reconnect_hours", self.reconnect_hours, 0.01, 23.9)
        _check_range("streams", "mark_stale_seconds", self.mark_stale_seconds, 1, 600)
        _check_range("streams", "reconcile_seconds", self.reconcile_seconds, 1, 86_400)
        _check_range("streams", "mismatch_limit", self.mismatch_limit, 1, 100)
        _check_range("streams", "tolerance", self.tolerance, 0, 1_000_000)
        _check_range("streams", "fill_wait_seconds", self.fill_wait_seconds, 0.01, 60)


@dataclass(frozen=True)
class PathSettings:
    runs_dir: str = "entrenamientos"

    def validate(self) -> None:
        if not self.runs_dir:
            raise ConfigError("config.toml [paths] runs_dir must not be empty")


# --- monitoring (issue 11): alerts, metrics, heartbeat and watchdog ------------------------------
ALERT_LEVELS = ("info", "warning", "error", "emergency")
#: What ``[alerts] events`` may name (trader_core.monitoring.alerts maps engine events to these).
ALERT_EVENTS = ("emergency", "halt", "latch", "feed_stale", "reconnects", "failures", "guards", "session",
                "daily_summary")


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (apprise URLs, ``${VAR}`` from the environment), which ones, from what level."""

    urls: tuple = ()
    events: tuple = ALERT_EVENTS[:-1]  # all but the daily summary
    min_level: str = "info"
    feed_stale_seconds: float = 180.0  # no market message for this long: an alert
    reconnect_storm_count: int = 5  # this many reconnects/drops ...
    reconnect_storm_minutes: float = 10.0  # ... within this many minutes: a storm
    repeat_seconds: float = 300.0  # the same alert at most once per this; repeats are grouped
    retry_max_seconds: float = 300.0  # failed sends retry with backoff up to this apart
    daily_summary_hour_utc: int = 0  # the daily summary goes out at this UTC hour

    def validate(self) -> None:
        for i, url in enumerate(self.urls, 1):
            if not isinstance(url, str) or "://" not in url:
                raise ConfigError(f"config.toml [alerts] urls: entry {i} must be an apprise URL string "
                                  "(scheme://...)")
        for name in self.events:
            if name not in ALERT_EVENTS:
                raise ConfigError(f"config.toml [alerts] events: unknown event {name!r}; allowed: "
                                  f"{', '.join(ALERT_EVENTS)}")
        if self.min_level not in ALERT_LEVELS:
            raise ConfigError(f"config.toml [alerts] min_level must be one of {', '.join(ALERT_LEVELS)}, "
                              f"got {self.min_level!r}")
        _check_range("alerts", "feed_stale_seconds", self.feed_stale_seconds, 1, 86_400)
        _check_range("alerts", "reconnect_storm_count", self.reconnect_storm_count, 2, 1000)
        _check_range("alerts", "reconnect_storm_minutes", self.reconnect_storm_minutes, 0.1, 1440)
        _check_range("alerts", "repeat_seconds", self.repeat_seconds, 0, 86_400)
        _check_range("alerts", "retry_max_seconds", self.retry_max_seconds, 1, 3600)
        _check_range("alerts", "daily_summary_hour_utc", self.daily_summary_hour_utc, 0, 23)


@dataclass(frozen=True)
class MetricsSettings:
    """The Prometheus endpoint: off by default, on the loopback address unless configured."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9108  # 0: any free port (the session's events say which)

    def validate(self) -> None:
        if not self.host:
            raise ConfigError("config.toml [metrics] host must not be empty")
        _check_range("metrics", "port", self.port, 0, 65_535)


@dataclass(frozen=True)
class WatchSettings:
    """The session's heartbeat file and the out-of-process watchdog (``sactui watch``) that reads it."""

    heartbeat_seconds: float = 5.0  # the session rewrites heartbeat.json this often
    stale_seconds: float = 30.0  # sactui watch / status: a heartbeat older than this is stale
    poll_seconds: float = 2.0  # sactui watch looks this often

    def validate(self) -> None:
        _check_range("watch", "heartbeat_seconds", self.heartbeat_seconds, 0.1, 600)
        _check_range("watch", "stale_seconds", self.stale_seconds, 0.5, 86_400)
        _check_range("watch", "poll_seconds", self.poll_seconds, 0.05, 600)
        if self.stale_seconds < 2 * self.heartbeat_seconds:
            raise ConfigError("config.toml [watch] stale_seconds must be at least twice heartbeat_seconds, "
                              f"got {self.stale_seconds:g} and {self.heartbeat_seconds:g}")


@dataclass(frozen=True)
class Settings:
    risk: RiskSettings = field(default_factory=RiskSettings)
    retries: RetrySettings = field(default_factory=RetrySettings)
    trading: TradingSettings = field(default_factory=TradingSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    streams: StreamSettings = field(default_factory=StreamSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)  # monitoring (issue 11)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)


def _section(cls, name: str, values: object):
    if not isinstance(values, dict):
        raise ConfigError(f"config.toml [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"config.toml [{name}] has unknown key {key!r}; allowed: {', '.join(sorted(known))}"
            )
        expected = type(known[key].default)
        if expected is tuple and isinstance(value, list):  # TOML arrays ([alerts] urls, events)
            value = values[key] = tuple(value)
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ConfigError(
                f"config.toml [{name}] {key} must be {expected.__name__}, got {value!r}"
            )
    section = cls(**{k: (float(v) if known[k].type == "float" else v) for k, v in values.items()})
    section.validate()
    return section


def load_settings(path: str | Path | None) -> Settings:
    """Settings from ``path``; defaults when ``path`` is None (a missing named file is an error)."""
    if path is None:
        return Settings()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    sections = {f.name: f.default_factory for f in fields(Settings)}  # type: ignore[misc]
    unknown = set(data) - set(sections)
    if unknown:
        raise ConfigError(
            f"{path} has unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sections)}"
        )
    built = {
        name: _section(type(factory()), name, data.get(name, {})) for name, factory in sections.items()
    }
    return Settings(**built)
