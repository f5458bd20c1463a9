"""The operator console: hosts a trading session in Textual's event loop and shows it.

How it hosts the engine: the session coroutine (``run_session`` for a real start,
or any coroutine factory a test injects) runs as a Textual *worker* in the app's
own event loop (``group="engine"``, ``exit_on_error=False``), so a crash of the
engine leaves the console - and F9 - alive and lands in the event log.
``run_session`` hands the engine over through ``on_engine``; from then on the
console only reads ``engine.snapshot`` and calls ``pause``/``resume``/``flatten``/
``stop`` (see ``engine_port``).

Why a render tick and not callbacks: the engine publishes an immutable snapshot
after every change; the console reads it on a timer (<= 4 Hz), and every pane
redraws only what changed (the chart at most twice a second). UI and engine share
one event loop, so drawing time is time the engine waits: a tick costs a few
milliseconds, a chart figure (60 candles, 160x48) about 16 ms, and a burst of
candles never multiplies either.

Keys (see ``keymap``): F9 / Ctrl+F flatten from any screen (priority bindings), ``p``
pauses, ``q`` quits (asking first when a position is open), ``?`` shows help.
With ``--live`` a modal asks for the symbol before the session worker even starts.
Time comes from an injected ``Clock`` so screenshots are reproducible.

How it stops: ``q``, SIGTERM, SIGINT, SIGHUP and the loss of the terminal (``tmux
kill-server``, a dropped SSH session: see ``terminal``) all take the same way out,
whatever screen is open: the engine is asked to stop, the step in progress gets
``stop_timeout_s`` (3.5 s) to finish, then it is cancelled and gets ``cancel_grace_s``
(1 s) to close its journal and session file; then the app exits. So the process is
gone within 5 s. A second signal changes nothing: the stop under way is already
bounded. ``SessionResult.stopped_by`` says which way was taken; the command line
exits with 129 (128 + SIGHUP, what a shell reports for a hang-up) when nobody was
left at the terminal, so a supervisor can tell it from a requested stop (0).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from trader_core.clock import Clock, SystemClock
from trader_core.engine import EngineSnapshot
from trader_core.launcher import SessionOutcome
from trader_core.states import EngineState

from . import format as fmt
from .engine_port import ConsoleEngine
from .keymap import APP_BINDINGS
from .screens.help import HelpScreen
from .screens.live_confirm import LiveConfirmScreen
from .screens.quit_confirm import FLATTEN, LEAVE, QuitConfirmScreen
from .screens.sessions import SessionsScreen
from .widgets.actions import ActionsTable
from .widgets.candles import CandleChart, ChartView
from .widgets.drawdown import DrawdownGauge, GaugeView
from .widgets.event_log import EventLog
from .widgets.header import HeaderView, SessionHeader, SessionIdentity
from .widgets.position import PositionPane
from .widgets.stats import StatsPane, StatsView

if TYPE_CHECKING:  # terminal.py needs termios: imported only where the Linux driver is used
    from .terminal import TerminalLost

Runner = Callable[[], Awaitable[Any]]
ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
TERMINAL_LOST = "terminal lost"
HANGUPS = frozenset({"SIGHUP", TERMINAL_LOST})  # the ways out that mean nobody is at the terminal


@dataclass(frozen=True)
class SessionResult:
    """How the console ended, for the command line's exit code and final report."""

    cancelled: bool = False  # --live not confirmed: nothing connected
    error: BaseException | None = None  # the engine's crash, if it crashed
    snapshot: EngineSnapshot | None = None  # the last state seen
    outcome: SessionOutcome | None = None  # what run_session returned (performance figures), if it returned
    stopped_by: str | None = None  # "q", a signal's name ("SIGTERM"...) or "terminal lost"

    @property
    def hangup(self) -> bool:
        """The console ended because its terminal went away (SIGHUP or a dead tty)."""
        return self.stopped_by in HANGUPS


class SactuiApp(App[SessionResult]):
    CSS_PATH = "sactui.tcss"
    TITLE = "sactui"
    BINDINGS = APP_BINDINGS
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    def __init__(
        self, options=None, settings=None, *, engine: ConsoleEngine | None = None, runner: Runner | None = None,
        identity: SessionIdentity | None = None, confirm_live: str | None = None, clock: Clock | None = None,
        refresh_hz: float = 4.0, chart_hz: float = 2.0, stop_timeout_s: float = 3.5, cancel_grace_s: float = 1.0,
        runs_dir=None,
    ) -> None:
        """Either ``options`` + ``settings`` (a real start through ``run_session``), or an
        ``engine`` and/or a ``runner`` (a coroutine factory run as the engine worker).
        ``confirm_live``: the symbol the operator must type before the runner starts. ``runs_dir``:
        where the run's past sessions are (the sessions screen); default: the options' runs folder."""
        super().__init__()
        if options is None and engine is None and runner is None:
            raise ValueError("SactuiApp needs session options, an engine or a runner")
        if refresh_hz > 4.0:
            raise ValueError("the console renders at most 4 times a second")
        self._options = options
        self._settings = settings
        self._engine: ConsoleEngine | None = engine
        self._runner = runner
        self._clock = clock or SystemClock()
        self._confirm_live = confirm_live
        self.runs_dir = runs_dir if runs_dir is not None else (options.runs_dir if options is not None else None)
        self.refresh_hz = refresh_hz
        self.chart_hz = chart_hz
        self.stop_timeout_s = stop_timeout_s
        self.cancel_grace_s = cancel_grace_s
        if identity is None:
            if engine is not None:
                s = engine.snapshot
                identity = SessionIdentity(s.mode, s.symbol, s.interval, s.train_id)
            else:
                identity = SessionIdentity(options.mode if options else "?", "?", "?",
                                           options.train_id if options else "?")
        self.identity = identity
        self.engine_worker: Worker | None = None
        self._error: BaseException | None = None
        self._outcome: SessionOutcome | None = None
        self._cancelled = False
        self._flattening = False
        self._shutting_down = False
        self._stopped_by: str | None = None
        self._seen: EngineSnapshot | None = None
        self._seen_at = 0.0

    def get_driver_class(self):
        """Textual's Linux driver, guarded against a terminal that disappears (see ``terminal``)."""
        driver_class = super().get_driver_class()
        if sys.platform != "win32":
            from textual.drivers.linux_driver import LinuxDriver

            from .terminal import GuardedLinuxDriver

            if driver_class is LinuxDriver:
                return GuardedLinuxDriver
        return driver_class

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        # The panes are kept as attributes: ``query_one`` searches the *active* screen,
        # which is a modal whenever one is open, and rendering must go on behind it.
        self.header = SessionHeader(self.identity, id="header")
        self.chart = CandleChart(max_hz=self.chart_hz, id="chart")
        self.mini_chart = CandleChart(max_hz=self.chart_hz, compact=True, id="mini-chart")  # small terminals
        self.position_pane = PositionPane(id="position")
        self.stats_pane = StatsPane(id="stats")
        self.gauge = DrawdownGauge(id="drawdown")
        self.actions_table = ActionsTable(id="actions")
        self.event_log = EventLog(id="log")
        yield self.header
        with Horizontal(id="top"):
            yield self.chart
            with Vertical(id="side"):
                yield self.position_pane
                yield self.stats_pane
                yield self.gauge
        with Horizontal(id="bottom"):
            yield self.actions_table
            with Horizontal(id="lower"):  # wide: the log alone; small terminals: the compact chart beside it
                yield self.mini_chart
                yield self.event_log
        yield Footer()

    def on_mount(self) -> None:
        titles = {"#chart": "Candles", "#mini-chart": "Candles", "#position": "Position", "#stats": "Session",
                  "#drawdown": "Drawdown vs limit", "#actions": "Model actions", "#log": "Events & emergencies"}
        for selector, title in titles.items():
            self.screen.query_one(selector).border_title = title
        self._tick()
        self.set_interval(1.0 / self.refresh_hz, self._tick, name="render")
        self._install_signal_handlers()
        if self._confirm_live is not None:
            self.push_screen(LiveConfirmScreen(self._confirm_live, self.identity.train_id), self._on_live_answer)
        else:
            self._start_engine()

    # ------------------------------------------------------------------ hosting the engine
    @property
    def engine(self) -> ConsoleEngine | None:
        return self._engine

    def attach_engine(self, engine: ConsoleEngine) -> None:
        """``run_session``'s ``on_engine``: called in this loop as soon as the engine exists."""
        self._engine = engine
        self.refresh_bindings()

    def _start_engine(self) -> None:
        runner = self._runner
        if runner is None and self._options is not None:
            from trader_core.launcher import run_session

            options, settings = self._options, self._settings

            def runner():
                return run_session(options, settings, on_engine=self.attach_engine)
        if runner is None:
            return
        self.engine_worker = self.run_worker(
            runner(), name="engine", group="engine", exclusive=True, exit_on_error=False,
            description="trading session",
        )

    def _on_live_answer(self, typed: str | None) -> None:
        if self._shutting_down:  # a signal came first: connect nothing
            return
        if typed is None or typed != self._confirm_live:
            self._cancelled = True
            self.exit(SessionResult(cancelled=True))
            return
        if self._options is not None:
            self._options = replace(self._options, confirm_live=typed)
        self._note("warning", "live", f"LIVE confirmed by typing {typed}: connecting to Binance mainnet")
        self._start_engine()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self.engine_worker:
            return
        self._tick()  # the engine's own last events first, then the console's account of it
        if event.state == WorkerState.ERROR:
            self._error = worker.error
            message = f"{type(worker.error).__name__}: {worker.error}"
            self._note("error", "engine", f"the session stopped with an error: {message} "
                       "(the console stays open; F9 still flattens; q quits)")
            self.notify(message, title="Engine error", severity="error", timeout=15)
        elif event.state == WorkerState.SUCCESS:
            if isinstance(worker.result, SessionOutcome):
                self._outcome = worker.result
            snapshot = self._snapshot()
            state = snapshot.state if snapshot is not None else "ended"
            self._note("info", "session", f"the session ended ({state}); q quits")
            if snapshot is not None and snapshot.state == EngineState.HALTED:
                self.notify(snapshot.halted_reason, title="HALTED", severity="error", timeout=60)
        self._tick()

    # ------------------------------------------------------------------ rendering
    def _snapshot(self) -> EngineSnapshot | None:
        return self._engine.snapshot if self._engine is not None else None

    def _tick(self) -> None:
        """Read the engine's snapshot once and let every pane take what it shows."""
        snapshot = self._snapshot()
        mono = self._clock.monotonic()
        if snapshot is not self._seen:  # the snapshot is cached until the engine changes it
            self._seen, self._seen_at = snapshot, mono
        since = max(0.0, mono - self._seen_at)
        with self.batch_update():
            self.header.show(self._header_view(snapshot, since))
            if snapshot is None:
                return
            self.position_pane.show(snapshot)
            self.gauge.show(GaugeView(
                snapshot.drawdown, snapshot.max_drawdown, halted=snapshot.state == EngineState.HALTED,
                known=snapshot.account is not None,
                equity=float(snapshot.account.equity) if snapshot.account is not None else None,
                peak_equity=snapshot.peak_equity,
            ))
            uptime = snapshot.stats.get("uptime_s")
            self.stats_pane.show(StatsView(
                tuple(sorted((k, v) for k, v in snapshot.stats.items() if k != "uptime_s")),
                None if uptime is None else float(int(uptime + since)),
            ))
            self.actions_table.show(snapshot.steps)
            if isinstance(self.screen, QuitConfirmScreen):  # the question shows the position as it is now
                self.screen.show(self._position_text(snapshot))
            for event in self.event_log.show(snapshot.events):
                if event.level == "emergency":  # also a toast: it must not scroll by unseen
                    self.notify(event.message, title=f"EMERGENCY: {event.kind}", severity="error", timeout=30)
            for chart in (self.chart, self.mini_chart):  # the one the layout shows (CSS hides the other)
                if chart.styles.display == "none":
                    continue
                position = snapshot.position
                open_position = position is not None and not position.flat
                chart.show(ChartView(
                    snapshot.symbol, snapshot.interval, snapshot.candles, snapshot.forming,
                    float(position.entry_price) if open_position else None,
                    ("LONG" if position.quantity > 0 else "SHORT") if open_position else "",
                ), mono)

    def _header_view(self, snapshot: EngineSnapshot | None, since: float) -> HeaderView:
        now = self._clock.now_ms()
        if snapshot is None:
            if self._error is not None:
                state, detail = "FAILED", f"error: {self._error}"
            elif self._confirm_live is not None and self.engine_worker is None:
                state, detail = "WAITING", "type the symbol to confirm LIVE"
            else:
                state, detail = EngineState.STARTING.value, "connecting…"
            return HeaderView(self.identity, state, None, None, now, detail)
        identity = SessionIdentity(snapshot.mode, snapshot.symbol, snapshot.interval, snapshot.train_id)
        detail = snapshot.halted_reason and f"halted: {snapshot.halted_reason}"
        if not detail and self._error is not None:
            detail = f"engine error: {self._error}"
        elif not detail and snapshot.last_error:
            detail = f"last error: {snapshot.last_error}"
        age = None if snapshot.market_age_s is None else snapshot.market_age_s + since
        held = (snapshot.held_until_ms - now) / 1000 if snapshot.held_until_ms > now else None
        return HeaderView(identity, snapshot.state, snapshot.connected, age, now, detail, not_flat=snapshot.closing,
                          held_for_s=held)

    def _note(self, level: str, kind: str, message: str) -> None:
        self.event_log.note(self._clock.now_ms(), level, kind, message)

    # ------------------------------------------------------------------ commands
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_pause" and self._engine is None:
            return None  # shown greyed out until there is an engine to pause
        return True

    def action_toggle_pause(self) -> None:
        engine = self._engine
        if engine is None:
            return
        state = engine.snapshot.state
        if state == EngineState.RUNNING:
            engine.pause()
        elif state == EngineState.PAUSED:
            engine.resume()
        else:
            self.notify(f"the engine is {state}: nothing to pause or resume", severity="warning")
            return
        self._tick()

    def action_sessions(self) -> None:
        if not isinstance(self.screen, SessionsScreen):
            stale = self._settings.watch.stale_seconds if self._settings is not None else 120.0
            self.push_screen(SessionsScreen(self.runs_dir, self.identity.train_id, stale))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_flatten_all(self) -> None:
        """F9: start closing everything now, whatever screen is showing."""
        engine = self._engine
        if engine is None:
            self.notify("nothing to flatten: no session is connected", title="F9 flatten all", severity="warning")
            self._note("warning", "flatten", "F9 pressed with no session connected: nothing to flatten")
            return
        if self._flattening:
            self.notify("a flatten is already running", title="F9 flatten all")
            return
        self._flattening = True
        self._note("warning", "flatten", "F9: flattening all (cancel orders, close the position)")
        self.run_worker(self._flatten(engine), name="flatten", group="flatten", exit_on_error=False)

    async def _flatten(self, engine: ConsoleEngine) -> bool:
        """Await the engine's flatten and report it; True when the account is flat."""
        self._flattening = True
        try:
            record = await engine.flatten()
        except Exception as exc:  # noqa: BLE001 - reported to the operator, the console stays up
            message = f"flatten FAILED: {type(exc).__name__}: {exc} - check the exchange"
            self._note("emergency", "flatten", message)
            self.notify(message, title="F9 flatten all", severity="error", timeout=20)
            return False
        finally:
            self._flattening = False
        if record.flat:
            message = (f"FLAT: position {record.position_before} -> {record.position_after}, "
                       f"{record.cancelled_orders} order(s) cancelled; engine PAUSED (p resumes)")
            self._note("warning", "flatten", message)
            self.notify(message, title="F9 flatten all", timeout=10)
        else:
            message = f"NOT FLAT after flatten: position {record.position_after} - check the exchange"
            self._note("emergency", "flatten", message)
            self.notify(message, title="F9 flatten all", severity="error", timeout=20)
        self._tick()
        return bool(record.flat)

    async def action_quit(self) -> None:
        """``q`` / Ctrl+Q: ask first when a position is open, then stop cleanly."""
        if self._shutting_down or isinstance(self.screen, QuitConfirmScreen):
            return
        snapshot = self._snapshot()
        position = snapshot.position if snapshot is not None else None
        if position is not None and not position.flat:
            self.push_screen(QuitConfirmScreen(self._position_text(snapshot)), self._on_quit_answer)
            return
        self._begin_shutdown(flatten=False)

    @staticmethod
    def _position_text(snapshot: EngineSnapshot) -> str:
        position = snapshot.position
        if position is None or position.flat:
            return "FLAT now: nothing is left open (Esc, then q quits without asking)"
        side = "LONG" if position.quantity > 0 else "SHORT"
        return (f"{side} {fmt.quantity(abs(position.quantity))} {snapshot.symbol} · entry "
                f"{fmt.price(position.entry_price)} · mark {fmt.price(position.mark_price)} · uPnL "
                f"{fmt.money(position.unrealized_pnl, signed=True)} (now)")

    def _on_quit_answer(self, choice: str | None) -> None:
        if choice in (FLATTEN, LEAVE) and not self._shutting_down:
            self._begin_shutdown(flatten=choice == FLATTEN)

    def _begin_shutdown(self, flatten: bool) -> None:
        self._shutting_down = True
        self.run_worker(self._stop_session(flatten), name="shutdown", group="shutdown", exit_on_error=False)

    async def _stop_session(self, flatten: bool) -> None:
        """Stop the engine within the budget (see the module) and exit the app."""
        engine = self._engine
        if flatten and engine is not None:
            if not await self._flatten(engine) and self._stopped_by is None:
                self._shutting_down = False
                self.notify("not quitting: the flatten did not end flat. q then l quits leaving it open",
                            severity="error", timeout=20)
                return
            # flat - or a signal arrived during the flatten: it asked to stop, so stop
        self._note("info", "quit", "stopping the engine…")
        if engine is not None:
            engine.stop()
        worker = self.engine_worker
        if worker is not None and worker.state in ACTIVE:
            if not await _wait(worker, self.stop_timeout_s):
                self._note("warning", "quit", f"engine did not stop within {self.stop_timeout_s:g}s: cancelling")
                worker.cancel()
                await _wait(worker, self.cancel_grace_s)
        self.exit(self.result)

    @property
    def result(self) -> SessionResult:
        return SessionResult(cancelled=self._cancelled, error=self._error, snapshot=self._snapshot(),
                             outcome=self._outcome,
                             stopped_by=self._stopped_by or ("q" if self._shutting_down else None))

    def _install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT (a service stop) and SIGHUP (a dropped SSH session): the same
        clean stop as ``q`` leaving the position as it is - the journal, the session file
        and the connections are closed properly instead of the process dying mid-step.
        The handlers live on the event loop, which removes them when it closes."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_stop_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
                pass

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self._stop_from_outside(sig.name, f"{sig.name} received")

    def on_terminal_lost(self, message: TerminalLost) -> None:
        """The driver found the terminal gone (see ``terminal``): stop as for SIGHUP."""
        self._stop_from_outside(TERMINAL_LOST, f"the terminal is gone ({message.why})")

    def _stop_from_outside(self, reason: str, what: str) -> None:
        """A stop nobody typed: the first one decides ``stopped_by``; repeats only log, and
        after the app has exited (``return_value`` set) there is nothing left to stop."""
        if self._stopped_by is not None or self.return_value is not None:
            if self.event_log.is_attached:
                self._note("warning", "signal", f"{what}: already stopping")
            return
        self._stopped_by = reason
        self._note("warning", "signal", f"{what}: stopping cleanly (position left as it is)")
        if self._confirm_live is not None and self.engine_worker is None:
            self._cancelled = True  # the live question was never answered: nothing connected
        if not self._shutting_down:
            self._begin_shutdown(flatten=False)

    def on_unmount(self) -> None:
        """Fallback for any other way out (e.g. an unhandled exit): never leave the engine running."""
        if self._engine is not None and self.engine_worker is not None and self.engine_worker.state in ACTIVE:
            self._engine.stop()


async def _wait(worker: Worker, timeout: float) -> bool:
    """Wait for a worker to finish (however it finishes); False on timeout."""
    waiter = asyncio.ensure_future(worker.wait())
    done, _ = await asyncio.wait({waiter}, timeout=timeout)
    if not done:
        waiter.cancel()
        return False
    waiter.exception() if not waiter.cancelled() else None  # retrieved: its failure is reported elsewhere
    return True
