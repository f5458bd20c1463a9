"""The sending thread: alerts leave the trading loop through a bounded queue and never come back.

Why: an alert that needs the dying process, or a webhook that hangs, must never cost a
trading step anything. ``submit`` is a non-blocking ``put`` (a full queue drops the
alert and counts it); a daemon thread does the slow part:

- **grouping**: an alert whose key was sent less than ``repeat_s`` ago is held and
  counted; when the window ends one message says how many came and the latest one.
  Emergencies are never held back.
- **retries**: a target that fails is retried alone with exponential backoff (1 s,
  2 s, 4 s ... up to ``retry_max_s``), up to ``MAX_ATTEMPTS`` times; the first failure
  and the recovery of each target are reported through ``on_problem`` (a line for
  the operator: the target's label and the reason, secrets redacted).

The logic is ``pump(now)``, a plain method over an injectable clock, so tests drive
it without threads or waiting; the thread only calls it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from .targets import AlertTarget, Redactor

LEVELS = ("info", "warning", "error", "emergency")
MAX_ATTEMPTS = 12
QUEUE_SIZE = 512
log = logging.getLogger("sactui.alerts")


@dataclass(frozen=True)
class Alert:
    level: str  # info, warning, error, emergency
    key: str  # repeats of one key are grouped
    title: str
    body: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"alert level must be one of {LEVELS}, got {self.level!r}")


@dataclass
class _Group:
    count: int
    since: float
    latest: Alert


@dataclass(order=True)
class _Retry:
    due: float
    seq: int
    attempt: int = field(compare=False)
    target: int = field(compare=False)
    alert: Alert = field(compare=False)


Sender = Callable[[AlertTarget, Alert], "tuple[bool, str]"]


class _LastApprise(logging.Handler):
    """Keeps apprise's last warning per thread (why a send failed) instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.local.last = record.getMessage()
        except Exception:  # noqa: BLE001 - a log record that cannot format must not break sending
            self.local.last = "apprise reported an error"


_apprise_log: _LastApprise | None = None


def _apprise_handler() -> _LastApprise:
    """apprise logs through its own logger; route it here so nothing it says reaches a terminal unredacted."""
    global _apprise_log
    if _apprise_log is None:
        _apprise_log = _LastApprise()
        logger = logging.getLogger("apprise")
        logger.addHandler(_apprise_log)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    return _apprise_log


def apprise_sender(app_id: str = "sactui") -> Sender:
    """Send one alert to one target with apprise; (delivered, reason)."""
    import apprise

    handler = _apprise_handler()
    asset = apprise.AppriseAsset(app_id=app_id, app_desc="sactui alerts", storage_mode="memory")
    kinds = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
             "error": apprise.NotifyType.FAILURE, "emergency": apprise.NotifyType.FAILURE}
    cache: dict[str, object] = {}

    def send(target: AlertTarget, alert: Alert) -> tuple[bool, str]:
        app = cache.get(target.url)
        if app is None:
            app = cache[target.url] = apprise.Apprise(asset=asset)
            app.add(target.url)
        handler.local.last = ""
        ok = bool(app.notify(body=alert.body, title=alert.title, notify_type=kinds[alert.level],
                             body_format=apprise.NotifyFormat.TEXT))
        return ok, "" if ok else (handler.local.last or "not delivered")

    return send


class AlertDispatcher:
    def __init__(self, targets: list[AlertTarget], redactor: Redactor | None = None, *, repeat_s: float = 300.0,
                 retry_max_s: float = 300.0, sender: Sender | None = None,
                 clock: Callable[[], float] = time.monotonic, on_problem: Callable[[str], None] | None = None,
                 queue_size: int = QUEUE_SIZE, on_sent: Callable[[Alert, bool], None] | None = None) -> None:
        self.targets = list(targets)
        self.redact = redactor or Redactor()
        self.repeat_s = repeat_s
        self.retry_max_s = retry_max_s
        self._sender = sender
        self.clock = clock
        self.on_problem = on_problem or (lambda line: None)
        self.on_sent = on_sent or (lambda alert, ok: None)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._last_sent: dict[str, float] = {}
        self._groups: dict[str, _Group] = {}
        self._retries: list[_Retry] = []
        self._seq = itertools.count()
        self._failing: set[int] = set()
        self.dropped = 0  # alerts refused by a full queue
        self.delivered = 0  # (alert, target) deliveries that succeeded
        self.given_up = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self._stop_seen = False  # the close sentinel was taken off the queue

    # ------------------------------------------------------------------ the trading side
    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` without ever blocking; False (and counted) when the queue is full."""
        if self._closing:
            return False
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def start(self) -> "AlertDispatcher":
        if self._thread is None and self.targets:
            self._thread = threading.Thread(target=self._run, name="sactui-alerts", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> bool:
        """Stop taking alerts, send what is queued and grouped (one try each), wait up to ``timeout``.

        True when everything went out in time. The thread is a daemon: a receiver that hangs
        never keeps the process alive."""
        self._closing = True
        thread = self._thread
        if thread is None:
            return True
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        thread.join(timeout)
        return not thread.is_alive()

    # ------------------------------------------------------------------ the sending side
    def _run(self) -> None:
        while True:
            wait = self._next_due()
            try:
                item = self._queue.get(timeout=None if wait is None else max(0.0, wait - self.clock()))
            except queue.Empty:
                item = ...
            if item is None:
                self._stop_seen = True
            elif item is not ...:
                self._accept(item, self.clock())
            self.pump(self.clock())
            if self._stop_seen:
                self._drain_for_close()
                return

    def pump(self, now: float) -> None:
        """Take what is queued, then send the groups and retries that are due at ``now``."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._closing = self._stop_seen = True
                continue
            self._accept(item, now)
        for key in [k for k, g in self._groups.items() if now >= self._last_sent.get(k, 0.0) + self.repeat_s]:
            self._send_group(key, now)
        while self._retries and self._retries[0].due <= now:
            retry = heapq.heappop(self._retries)
            self._try(retry.target, retry.alert, retry.attempt, now)

    def _next_due(self) -> float | None:
        dues = [self._last_sent.get(k, 0.0) + self.repeat_s for k in self._groups]
        if self._retries:
            dues.append(self._retries[0].due)
        return min(dues) if dues else None

    def _accept(self, alert: Alert, now: float) -> None:
        last = self._last_sent.get(alert.key)
        if alert.level == "emergency" or last is None or now - last >= self.repeat_s:
            self._last_sent[alert.key] = now
            self._deliver(alert, now)
            return
        group = self._groups.get(alert.key)
        if group is None:
            self._groups[alert.key] = _Group(1, now, alert)
        else:
            group.count += 1
            group.latest = alert

    def _send_group(self, key: str, now: float) -> None:
        group = self._groups.pop(key)
        since = datetime.fromtimestamp(time.time() - (now - group.since), tz=timezone.utc).strftime("%H:%M:%S")
        alert = group.latest
        times = "once more" if group.count == 1 else f"{group.count} more times"
        body = f"{alert.body}\n(repeated {times} since {since} UTC; this is the latest)"
        self._last_sent[key] = now
        self._deliver(Alert(alert.level, key, f"{alert.title} (x{group.count})", body), now)

    def _deliver(self, alert: Alert, now: float) -> None:
        for index in range(len(self.targets)):
            self._try(index, alert, 1, now)

    def _try(self, index: int, alert: Alert, attempt: int, now: float) -> None:
        target = self.targets[index]
        try:
            ok, reason = (self._sender or self._default_sender())(target, alert)
        except Exception as exc:  # noqa: BLE001 - a library failure is a failed send, never a crash
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        self.on_sent(alert, ok)
        if ok:
            self.delivered += 1
            if index in self._failing:
                self._failing.discard(index)
                self._problem(f"alerts to {target.label} are delivered again")
            return
        reason = self.redact(reason)
        if attempt >= MAX_ATTEMPTS or self._closing:
            self.given_up += 1
            self._problem(f"alert '{alert.title}' to {target.label} dropped after {attempt} attempt(s): {reason}")
            return
        wait = min(self.retry_max_s, 2.0 ** (attempt - 1))
        if index not in self._failing:
            self._failing.add(index)
            self._problem(f"alert to {target.label} failed ({reason}); retrying with backoff up to "
                          f"{self.retry_max_s:g} s")
        heapq.heappush(self._retries, _Retry(now + wait, next(self._seq), attempt + 1, index, alert))

    def _drain_for_close(self) -> None:
        now = self.clock()
        self.pump(now)
        for key in list(self._groups):
            self._send_group(key, now)
        retries, self._retries = self._retries, []
        for retry in retries:  # one last try each: the process is ending
            self._try(retry.target, retry.alert, MAX_ATTEMPTS, now)

    def _problem(self, line: str) -> None:
        line = self.redact(line)
        log.info(line)
        try:
            self.on_problem(line)
        except Exception:  # noqa: BLE001 - reporting must never stop sending
            pass

    def _default_sender(self) -> Sender:
        self._sender = apprise_sender()
        return self._sender
