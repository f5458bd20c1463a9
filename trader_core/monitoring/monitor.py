"""The one object the launcher wires into a session: alerts, metrics and the heartbeat.

Why one object: the launcher stays a list of steps (create, attach, close) and each
concern stays in its module. Everything runs beside the engine, never in its way:

- ``on_event`` / ``on_step`` are called synchronously by the event log and the step
  hook; they update counters and hand alerts to the dispatcher's queue - no await,
  no I/O.
- ``attach`` starts one task that rewrites ``heartbeat.json`` every
  ``[watch] heartbeat_seconds`` (the write and its fsync in a thread) and lets the
  alerts look at the feed's age and the clock for the daily summary.
- ``close`` writes the last beat (stopped / halted / failed), sends the session's stop
  alert, flushes the alert queue for at most ``FLUSH_TIMEOUT_S`` and closes the endpoint.

A backtest gets a monitor that does nothing: nobody is watching a replay.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from ..events import EngineEvent, EventLog
from ..modes import Mode
from ..settings import Settings
from ..states import EngineState
from ..step_record import StepRecord
from ..time_utils import interval_ms
from . import heartbeat
from .alerts import SessionAlerts
from .dispatcher import AlertDispatcher
from .metrics import SessionMetrics
from .targets import build_targets

FLUSH_TIMEOUT_S = 1.5


def _task_count() -> int | None:
    """Tasks alive in the running event loop (None outside one: the last beat of a loop that ended)."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return None


class SessionMonitor:
    def __init__(self, settings: Settings, *, mode: Mode, train_id: str, symbol: str, interval: str, folder: Path,
                 events: EventLog, environ=None) -> None:
        self.settings = settings
        self.mode = mode
        self.folder = Path(folder)
        self.events = events
        self.enabled = mode is not Mode.BACKTEST
        self.alerts: SessionAlerts | None = None
        self.dispatcher: AlertDispatcher | None = None
        self.metrics: SessionMetrics | None = None
        self._engine = None
        self._session = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_step_time: str | None = None
        self._beat_failed = False
        self._write_lock = threading.Lock()
        self._final = False  # the last beat is written: a late running beat must not replace it
        if not self.enabled:
            return
        if settings.alerts.urls:
            targets, redactor = build_targets(settings.alerts.urls, environ)  # ConfigError before anything connects
            self.dispatcher = AlertDispatcher(targets, redactor, repeat_s=settings.alerts.repeat_seconds,
                                              retry_max_s=settings.alerts.retry_max_seconds,
                                              on_problem=self._alert_problem)
            self.alerts = SessionAlerts(settings.alerts, self.dispatcher.submit, mode=mode.value, train_id=train_id,
                                        symbol=symbol, snapshot=self._snapshot)
        if settings.metrics.enabled:
            self.metrics = SessionMetrics(mode=mode.value, train_id=train_id, symbol=symbol, interval=interval,
                                          interval_ms=interval_ms(interval))
            if self.dispatcher is not None:
                self.dispatcher.on_sent = self.metrics.on_alert
        events.subscribe(self.on_event)

    # ------------------------------------------------------------------ from the session (event loop)
    def on_event(self, event: EngineEvent) -> None:
        if self.metrics is not None:
            self.metrics.on_event(event)
        if self.alerts is not None:
            self.alerts.on_event(event)

    def on_step(self, record: StepRecord) -> None:
        if not self.enabled:
            return
        self._last_step_time = record.time
        if self.metrics is not None:
            self.metrics.on_step(record)
        if self.alerts is not None:
            self.alerts.on_step(record)

    def attach(self, engine, session) -> None:
        """The engine exists: start sending, serving and beating."""
        if not self.enabled:
            return
        self._engine, self._session = engine, session
        self._loop = asyncio.get_running_loop()
        if self.dispatcher is not None:
            self.dispatcher.start()
            self.events.emit("info", "alerts", f"alerts to {', '.join(t.label for t in self.dispatcher.targets)} "
                             f"(min level {self.settings.alerts.min_level})")
        if self.metrics is not None:
            self.metrics.attach(engine, self._loop)
            m = self.settings.metrics
            try:
                url = self.metrics.serve(m.host, m.port)
            except OSError as exc:
                self.events.emit("warning", "metrics", f"metrics endpoint {m.host}:{m.port} could not start "
                                 f"({exc.strerror or exc}); this session runs without it")
                self.metrics.close()
            else:
                self.events.emit("info", "metrics", f"metrics at {url}")
        self._task = asyncio.get_running_loop().create_task(self._beat_loop(), name="sactui-heartbeat")

    def close(self, engine, failure: BaseException | None) -> None:
        """The session ended: the last beat, the stop alert, a bounded flush. Never raises."""
        if not self.enabled:
            return
        try:
            self._close(engine, failure)
        except Exception as exc:  # noqa: BLE001 - never mask how the session really ended
            self.events.emit("warning", "monitoring", f"closing the monitoring failed: {exc}")

    def _close(self, engine, failure: BaseException | None) -> None:
        if self._task is not None:
            self._task.cancel()
        if engine.state == EngineState.HALTED:
            how, level, detail = heartbeat.HALTED, "error", f"HALTED: {engine.halted_reason}"
        elif failure is None:
            how, level, detail = heartbeat.STOPPED, "info", "stopped cleanly"
        else:
            text = str(failure) or type(failure).__name__
            how, level, detail = heartbeat.FAILED, "error", f"ended with an error: {text}"
        try:
            self._write(self._beat(how, detail), final=True)
        except Exception as exc:  # noqa: BLE001 - the session is over; say it, never mask the real ending
            self.events.emit("warning", "heartbeat", f"the last heartbeat could not be written: {exc}")
        if self.alerts is not None:
            self.alerts.stopped(how, level, detail)
        if self.dispatcher is not None and not self.dispatcher.close(FLUSH_TIMEOUT_S):
            self.events.emit("warning", "alerts", "alerts still unsent at the end of the session were dropped")
        if self.metrics is not None:
            self.metrics.close()

    # ------------------------------------------------------------------ the heartbeat
    def _snapshot(self):
        return self._engine.snapshot if self._engine is not None else None

    def _beat(self, status: str, end_reason: str = "") -> dict:
        session = self._session
        journal = session.journal
        return heartbeat.beat_from_snapshot(
            self._engine.snapshot, status=status, pid=os.getpid(), interval_s=self.settings.watch.heartbeat_seconds,
            session_tag=session.tag, steps_path=str(journal.steps_path),
            emergencies_path=str(journal.emergencies_path),
            metrics_url=self.metrics.url if self.metrics is not None else None,
            last_step_time=self._last_step_time, end_reason=end_reason, tasks=_task_count(),
        )

    def _write(self, beat: dict, final: bool = False) -> None:
        with self._write_lock:
            if self._final:
                return
            heartbeat.write_heartbeat(self.folder, beat, durable=final)
            self._final = final

    async def _beat_loop(self) -> None:
        interval = self.settings.watch.heartbeat_seconds
        while True:
            try:
                beat = self._beat(heartbeat.RUNNING)
                await asyncio.to_thread(self._write, beat)
                if self._beat_failed:
                    self._beat_failed = False
                    self.events.emit("info", "heartbeat", "heartbeat written again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a missed beat is the watchdog's business; say it once
                if not self._beat_failed:
                    self._beat_failed = True
                    self.events.emit("warning", "heartbeat", f"heartbeat could not be written: {exc}")
            if self.alerts is not None:
                try:
                    self.alerts.tick()
                except Exception as exc:  # noqa: BLE001
                    self.events.emit("warning", "alerts", f"alert check failed: {exc}")
            await asyncio.sleep(interval)

    def _alert_problem(self, line: str) -> None:
        """From the dispatcher's thread: into the session's events, on the loop's thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.events.emit, "warning", "alerts", line)
        except RuntimeError:
            pass
