"""The soak harness: the exchange, the chaos and the supervisor around a real trader process.

Why this shape: the simulator runs here, in manual mode, so the harness decides when each
candle closes - the next one only after the trader journaled the last (lockstep), which
makes 48 hours of market time take minutes and makes every run follow the same path. The
trader is ``sactui --headless --endpoint`` in testnet mode in its own process; the
harness kills it with SIGKILL and restarts it as a supervisor would, lets the market run
on while it is down, and plays the operator after the provoked drawdown stop (review,
``sactui unlatch``, restart). What the verdict needs is collected from the simulator's
records and the journal files (``verdict``), never from the trader's memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from trader_core.candles import load_candles
from trader_core.errors import DataError
from trader_core.runs import TrainingRun
from trader_core.simulator import LoopbackExchange
from trader_core.time_utils import interval_ms

from . import chaos
from . import invariants as inv
from .attribution import FaultOutcome
from .journal_tail import JournalTail
from .result import SoakResult
from .schedule import PROCESS_FAULTS, FaultKind, Profile, ScheduledFault, build_schedule, schedule_json
from .settings import SoakAborted, SoakOptions
from .trader import ResourceSample, TraderProcess, sample, start_trader
from .verdict import exchange_facts, judge, read_journals

JOURNAL_FOLDER = "produccion"  # testnet mode's folder (Mode.TESTNET.journal_folder)


class Soak:
    """One soak: ``await Soak(options).run()``."""

    def __init__(self, options: SoakOptions) -> None:
        self.o = options
        self.schedule = build_schedule(options.seed, options.profile)
        self.workdir = Path(options.workdir)
        self.runs_dir = self.workdir / "runs"
        self.log_dir = self.workdir / "logs"
        self.folder = self.runs_dir / options.train_id / JOURNAL_FOLDER
        self.config = self.workdir / "config.toml"
        self.key, self.secret = "soak" + secrets.token_hex(12), secrets.token_hex(24)
        self.processes: list[TraderProcess] = []
        self.outcomes: list[FaultOutcome] = []
        self.latched: list[inv.LatchedStretch] = []
        self.exits_unexpected: list[str] = []
        self.tail = JournalTail(self.folder)
        self.seen_wall: dict[int, float] = {}
        self.span_times: list[int] = []
        self.closed_times: list[int] = []
        self.samples: list[ResourceSample] = []
        self.sim: LoopbackExchange | None = None
        self._restart_before: int | None = None
        self._unlatch_pending: dict | None = None
        self._kill_on_hold: FaultOutcome | None = None
        self._resume_stream_after: int | None = None
        self._breach_waited = 0
        self._armed_now: list[FaultOutcome] = []  # faults acting right after this candle's close
        self._holds_before = 0
        self._ungated: int | None = None  # the candle whose close may find the trader disconnected (a drop)
        self._reconnect_timers: list[asyncio.Task] = []
        self._paced_through = -1  # closes up to this candle are at least chaos.BAN_PACE_S apart
        self._last_close_wall = 0.0

    # ------------------------------------------------------------------ setup
    @property
    def trader(self) -> TraderProcess | None:
        return self.processes[-1] if self.processes else None

    async def _prepare(self) -> TrainingRun:
        """A real SAC run, trained (seeded) on candles before the span, that wants to trade (no deadband)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        o = self.o
        if not (self.runs_dir / o.train_id / "model.zip").is_file():
            o.say(f"training the soak's run {o.train_id} on {o.train_start} .. {o.train_end} (seed {o.seed})")
            args = [sys.executable, "-m", "sactui", "train", "--data", str(o.data), "--start", o.train_start,
                    "--end", o.train_end, "--timesteps", "300", "--batch-size", "64", "--window", "8",
                    "--seed", str(o.seed), "--deadband", "0", "--train-id", o.train_id, "--no-progress",
                    "--runs-dir", str(self.runs_dir)]
            code = await asyncio.to_thread(self._run_logged, args, self.log_dir / "train.log")
            if code != 0:
                raise SoakAborted(f"training the soak's run failed (exit {code}): see {self.log_dir / 'train.log'}")
        self.config.write_text("\n".join([
            "# written by sactui soak: the trader's settings for this soak",
            "[risk]", f"max_drawdown = {o.max_drawdown}", "max_consecutive_failures = 5",
            "[retries]", "attempts = 3", "delay_seconds = 0.2",
            "[streams]", "enabled = true", "reconcile_seconds = 15",
            "[watch]", "heartbeat_seconds = 0.1", "stale_seconds = 5",  # fresh beats: the task count (trader.sample)
        ]) + "\n")
        return TrainingRun.load(o.train_id, self.runs_dir, trust_pickle=False)

    @staticmethod
    def _run_logged(args: list[str], log_path: Path) -> int:
        with open(log_path, "ab") as log:
            return subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  check=False).returncode

    def _env(self) -> dict[str, str]:
        """The trader's environment: the soak's own testnet credentials, no other Binance secret."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
        env.update(BINANCE_TESTNET_API_KEY=self.key, BINANCE_TESTNET_API_SECRET=self.secret, PYTHONUNBUFFERED="1")
        return env

    # ------------------------------------------------------------------ the run
    async def run(self) -> SoakResult:
        started = time.monotonic()
        o = self.o
        aborted = ""
        run = await self._prepare()
        if run.interval != "1m":
            raise SoakAborted(f"the soak replays 1m candles; run {o.train_id} is {run.interval}")
        frame = load_candles(o.data)
        times = frame["open_time"].to_numpy()
        first = int(_ms(o.span_start))
        matches = [i for i, t in enumerate(times) if int(t) >= first]
        if not matches or matches[0] + o.profile.steps + 2 > len(times):
            raise DataError(f"{o.data} has no {o.profile.steps} 1m candles from {o.span_start} (and the one after): "
                            "pass --data with a longer file")
        start = matches[0]
        self.step_ms = interval_ms(run.interval)
        self.span_times = [int(times[start + k]) for k in range(o.profile.steps)]
        o.say(f"soak {o.profile.name}: {o.profile.steps} candles of {run.interval} from {o.span_start}, seed {o.seed}, "
              f"{len(self.schedule)} faults")
        # The request-weight limit is per wall minute, and a wall minute of the soak holds hours of
        # market time: it would refuse what a real session never asks in a minute. The weight used
        # per market hour is reported instead; 429 and 418 are injected as faults.
        async with LoopbackExchange(frame, api_key=self.key, api_secret=self.secret, start_index=start,
                                    initial_balance=Decimal(str(run.trading["initial_balance"])),
                                    fee_rate=run.fee_rate, leverage=run.leverage,
                                    enforce_rate_limits=False) as sim:
            self.sim = sim
            try:
                await self._start(0)
                await self._loop()
                await self._stop()
            except SoakAborted as exc:
                aborted = str(exc)
                o.say(f"ABORTED: {aborted}")
            finally:
                if self.trader is not None and self.trader.alive():
                    self.trader.kill()
                    await self._exit_of(self.trader, 10, "harness cleanup")
                sim.faults.release_holds()
                for timer in self._reconnect_timers:
                    timer.cancel()
                await asyncio.gather(*self._reconnect_timers, return_exceptions=True)
            return self._result(sim, aborted, time.monotonic() - started)

    def _result(self, sim: LoopbackExchange, aborted: str, wall_s: float) -> SoakResult:
        span = self.span_times[: len(self.closed_times)]
        verdict, trends, figures = judge(
            options=self.o, sim=sim, facts=exchange_facts(sim), journals=read_journals(self.folder),
            schedule=self.schedule, outcomes=self.outcomes, processes=self.processes, span=span,
            step_ms=self.step_ms, latched=self.latched, seen_wall=self.seen_wall, samples=self.samples,
            exits_unexpected=self.exits_unexpected, secrets=[self.secret, self.key], workdir=self.workdir)
        return SoakResult(self.o, self.schedule, self.outcomes, self.processes, verdict, trends, self.latched,
                          (span[0], span[-1]) if span else (0, 0), len(span), wall_s, aborted, figures,
                          self.samples)

    async def _loop(self) -> None:
        by_candle: dict[int, list[ScheduledFault]] = {}
        for fault in self.schedule:
            by_candle.setdefault(fault.candle, []).append(fault)
        steps = self.o.profile.steps
        k = 0
        while k < steps:
            if self._restart_before == k:
                await self._restart(k)
            for fault in by_candle.pop(k, []):
                deferred = await self._arm(fault, k)
                if deferred:
                    by_candle.setdefault(k + 1, []).insert(0, fault)
            await self._close(k)
            k += 1
        if self._restart_before is not None and self._restart_before >= steps:
            raise SoakAborted("the trader was down at the end of the span (a kill or a stop too close to the end)")

    async def _close(self, k: int) -> None:
        """Close candle k; then, unless its close never reached the trader, wait for its row."""
        sim, trader = self.sim, self.trader
        alive = trader is not None and trader.alive() and self._restart_before is None
        if alive and self._ungated != k:
            await self._wait_connected(k)
        if k <= self._paced_through:
            await asyncio.sleep(max(0.0, self._last_close_wall + chaos.BAN_PACE_S - time.monotonic()))
        if alive:
            trader.log_marks.append((k, trader.log_size()))
        self._last_close_wall = time.monotonic()
        closed = await sim.step()
        self.closed_times.append(closed.open_time)
        if self._resume_stream_after == k:
            sim.faults.resume_market_streams()
            self._resume_stream_after = None
        kill = next((f for f in self._armed_now if f.fault.kind is FaultKind.KILL_RANDOM), None)
        self._armed_now = []
        if not alive:
            return
        if kill is not None:
            await asyncio.sleep(kill.fault.get("delay_ms") / 1000)
            await self._kill(kill, k)
            return
        if not sim.closes[-1].broadcast or sim.faults.stalled:
            return  # the trader learns of this candle from the next close (a gap: it backfills)
        await self._wait_rows(k)
        if k % self.o.sample_every == 0 and self.trader.alive():
            found = await sample(self.trader, k, self.folder)
            if found is not None:
                self.samples.append(found)

    async def _wait_connected(self, k: int) -> None:
        """Until the trader has its market and user-data connections again. Real time would pass while it
        reconnects (a second or two: a fraction of a 1m candle); in lockstep the market waits instead,
        or a dropped stream would let dozens of candles close before the trader is back."""
        streams, trader = self.sim.streams, self.trader
        deadline = time.monotonic() + self.o.row_timeout_s
        while not (streams.kline_connections() and streams.user_connections):
            if not trader.alive():
                return
            if time.monotonic() > deadline:
                raise SoakAborted(f"candle {k} of the span: the trader has had no market or user-data connection "
                                  f"for {self.o.row_timeout_s:g} s; trader log: {trader.log_path}")
            await asyncio.sleep(0.005)

    async def _wait_rows(self, k: int) -> None:
        """Until every candle up to k that a session must journal has its row (or a held order to kill on)."""
        deadline = time.monotonic() + self.o.row_timeout_s
        expected = self._expected_through(k)
        trader = self.trader
        while True:
            self._poll()
            if not [t for t in expected if not self.tail.has(t)]:
                return
            if self._kill_on_hold is not None and self._kill_on_hold.fired_candle is None \
                    and self.sim.faults.held_orders[self._holds_before:]:
                outcome = self._kill_on_hold
                outcome.fired, outcome.fired_candle = f"order {self.sim.faults.held_orders[-1]} held", k
                await self._kill(outcome, k)
                return
            if not trader.alive():
                await self._unexpected_exit(k)
                return
            if time.monotonic() > deadline:
                missing = [t for t in expected if not self.tail.has(t)]
                raise SoakAborted(f"candle {k} of the span: {len(missing)} candle(s) not journaled within "
                                  f"{self.o.row_timeout_s:g} s (first {missing[0]}); trader log: {trader.log_path}")
            await asyncio.sleep(0.002)

    def _expected_through(self, k: int) -> list[int]:
        latched = [(s.first, s.last) for s in self.latched]
        if self._unlatch_pending is not None:
            latched.append((self._unlatch_pending["first"], self._unlatch_pending["last"]))
        return [t for t in self.span_times[: k + 1] if not any(a <= t <= b for a, b in latched)]

    def _poll(self) -> None:
        if self.tail.poll():
            now = time.monotonic()
            for t in self.tail.rows_by_candle:
                self.seen_wall.setdefault(t, now)

    # ------------------------------------------------------------------ faults
    async def _arm(self, fault: ScheduledFault, k: int) -> bool:
        """Inject ``fault`` before candle k closes; True when it must wait for a later candle."""
        sim = self.sim
        faults = sim.faults
        kind = fault.kind
        if self._restart_before is not None and kind in PROCESS_FAULTS:
            return True  # the trader is down: a process fault waits until it runs again
        outcome = FaultOutcome(fault, k, time.monotonic(), len(faults.injected))
        if self.trader is not None and self.trader.alive():  # what it logs from now on belongs to candle k
            self.trader.log_marks.append((k, self.trader.log_size()))
        if kind is FaultKind.DRAWDOWN_BREACH:
            shock = self._breach_shock()
            if shock is None:
                self._breach_waited += 1
                if self._breach_waited > self.o.breach_max_wait:
                    raise SoakAborted(f"no position a crash of at most {self.o.breach_max_shock:.0%} could breach "
                                      f"the drawdown limit within {self.o.breach_max_wait} candles")
                return True
            self.outcomes.append(outcome)
            await self._breach(outcome, shock, k)
            return False
        self.outcomes.append(outcome)
        before = {id(c) for c in sim.streams.kline_connections()}, {id(c) for c in sim.streams.user_connections}
        if kind is FaultKind.KILL_HELD_ORDER:
            self._holds_before = len(faults.held_orders)
            faults.hold_order_responses(1)  # the next order is processed, its answer held: kill then
            self._kill_on_hold = outcome
            return False
        if kind is FaultKind.KILL_RANDOM:
            self._armed_now.append(outcome)  # right after this candle's close
            return False
        if kind in chaos.RECONNECTS:
            self._ungated = k  # this close goes out while the trader reconnects: it must backfill it
        if kind is FaultKind.MARKET_STALL:
            self._resume_stream_after = k + int(fault.get("candles")) - 1
        if kind is FaultKind.BAN_418:  # the ban is wall time: pace the closes while it runs
            self._paced_through = k + int(fault.get("candles")) + 1
        if kind is FaultKind.CLOCK_SKEW:
            outcome.evidence_from = len(sim.rest.requests)  # the proof: the trader's clock resync
        await chaos.arm(sim, fault)
        if kind in chaos.RECONNECTS:
            self._reconnect_timers.append(asyncio.create_task(self._time_reconnect(outcome, before, kind)))
        return False

    async def _time_reconnect(self, outcome: FaultOutcome, before, kind: FaultKind) -> None:
        """Seconds until the trader opened a new connection of the kind the fault closed."""
        market_before, user_before = before
        want_market, want_user = chaos.RECONNECTS[kind]
        deadline = outcome.armed_wall + 60
        while time.monotonic() < deadline:
            streams = self.sim.streams
            market = any(id(c) not in market_before for c in streams.kline_connections())
            user = any(id(c) not in user_before for c in streams.user_connections)
            if (market or not want_market) and (user or not want_user):
                outcome.reconnect_s = time.monotonic() - outcome.armed_wall
                return
            await asyncio.sleep(0.005)
        outcome.note = "no new connection within 60 s"

    def _breach_shock(self) -> Decimal | None:
        """The price move (a fraction, signed) that takes the session's drawdown past its limit with
        room to spare, against the position the exchange holds now; None when none is small enough."""
        account = self.sim.exchange.account
        qty = account.position_qty
        if qty == 0:
            return None
        last = self._last_row()
        if last is None:
            return None
        price = self.sim.price
        equity = account.equity(price)
        drawdown = Decimal(str(last["drawdown"] or "0"))
        peak = Decimal(str(last["equity"])) / (1 - drawdown) if drawdown < 1 else equity
        target = peak * (1 - Decimal(str(self.o.max_drawdown)) * Decimal("1.3"))
        loss = equity - target
        if loss <= 0:
            return Decimal("-0.01") if qty > 0 else Decimal("0.01")
        move = loss / abs(qty) / price
        if move > Decimal(str(self.o.breach_max_shock)):
            return None
        return -move if qty > 0 else move

    def _last_row(self) -> dict | None:
        self._poll()
        done = [t for t in self.span_times if self.tail.has(t)]
        return self.tail.row(done[-1]) if done else None

    async def _breach(self, outcome: FaultOutcome, shock: Decimal, k: int) -> None:
        """Crash the mark against the position; the trader must stop flat, latched, exit 7. The
        candles that close while it is stopped are the latched stretch; the operator reviews
        for ``review_candles``, unlatches, restarts."""
        trader = self.trader
        halted_session = self._session_file()
        self.sim.faults.price_shock(fraction=shock.quantize(Decimal("0.0001")))
        outcome.fired, outcome.fired_candle = f"mark {shock:+.2%} against {self.sim.exchange.account.position_qty}", k
        code = await self._exit_of(trader, 60, "the trader to stop after the drawdown breach")
        self.sim.faults.end_price_shock()
        trader.end_candle, trader.end_cause = k, "drawdown_breach"
        if code != 7:
            self.exits_unexpected.append(f"process {trader.number}: exit {code} after the breach (7 = HALTED expected)")
        review = int(outcome.fault.get("review_candles"))
        self._restart_before = outcome.resumed_candle = k + review
        self._unlatch_pending = {"first": self.span_times[k], "last": self.span_times[min(k + review, len(self.span_times)) - 1],
                                 "halted_file": halted_session.get("steps_file", ""),
                                 "emergencies_file": halted_session.get("emergencies_file", "")}

    async def _kill(self, outcome: FaultOutcome, k: int) -> None:
        trader = self.trader
        trader.kill()
        await self._exit_of(trader, 10, "the killed trader to exit")
        self.sim.faults.release_holds()
        trader.end_candle, trader.end_cause = k, outcome.fault.kind.value
        if outcome.fault.kind is FaultKind.KILL_RANDOM:
            outcome.fired, outcome.fired_candle = f"SIGKILL {outcome.fault.get('delay_ms')} ms after the close", k
        self._kill_on_hold = None if self._kill_on_hold is outcome else self._kill_on_hold
        self._restart_before = outcome.resumed_candle = k + 1 + int(outcome.fault.get("down_candles"))

    async def _unexpected_exit(self, k: int) -> None:
        trader = self.trader
        code = trader.proc.returncode
        trader.end_candle, trader.end_cause, trader.exit_code = k, "unexpected", code
        self.exits_unexpected.append(f"process {trader.number} exited {code} at candle {k} unprovoked")
        self.o.say(f"process {trader.number} exited {code} at candle {k}: restarting it (see {trader.log_path})")
        self._restart_before = k + 1

    async def _exit_of(self, trader: TraderProcess, timeout: float, what: str) -> int:
        deadline = time.monotonic() + timeout
        while trader.proc.poll() is None:
            if time.monotonic() > deadline:
                trader.kill()
                raise SoakAborted(f"timed out after {timeout:g} s waiting for {what} (process {trader.number})")
            await asyncio.sleep(0.01)
        trader.exit_code = trader.proc.returncode
        return trader.exit_code

    # ------------------------------------------------------------------ the supervisor and the operator
    async def _start(self, k: int) -> None:
        number = len(self.processes) + 1
        before_market = {id(c) for c in self.sim.streams.kline_connections()}
        before_user = {id(c) for c in self.sim.streams.user_connections}
        trader = start_trader(number, train_id=self.o.train_id, runs_dir=self.runs_dir, endpoint=self.sim.rest_base,
                              config=self.config, env=self._env(), log_dir=self.log_dir, start_candle=k)
        self.processes.append(trader)
        deadline = time.monotonic() + self.o.start_timeout_s
        streams = self.sim.streams
        while True:
            if not trader.alive():
                raise SoakAborted(f"process {number} exited {trader.proc.returncode} while starting: "
                                  f"{trader.log_text()[-800:]}")
            if trader.is_ready() and any(id(c) not in before_market for c in streams.kline_connections()) \
                    and any(id(c) not in before_user for c in streams.user_connections):
                break
            if time.monotonic() > deadline:
                raise SoakAborted(f"process {number} not ready within {self.o.start_timeout_s:g} s: {trader.log_path}")
            await asyncio.sleep(0.01)
        trader.ready_wall = time.monotonic()
        self._poll()
        missing = [t for t in self._expected_through(k - 1) if not self.tail.has(t)]
        if missing:  # a restart journals the candles closed while it was down before it says ready
            raise SoakAborted(f"process {number} is ready but {len(missing)} earlier candle(s) have no row "
                              f"(first {missing[0]})")

    async def _restart(self, k: int) -> None:
        self._restart_before = None
        if self._unlatch_pending is not None:
            code = await asyncio.to_thread(self._unlatch)
            if code != 0:
                raise SoakAborted(f"sactui unlatch exited {code}: see {self.log_dir / 'unlatch.log'}")
            await self._start(k)
            pending, self._unlatch_pending = self._unlatch_pending, None
            self.latched.append(inv.LatchedStretch(restarted_file=self._session_file().get("steps_file", ""),
                                                   **pending))
            return
        await self._start(k)

    def _unlatch(self) -> int:
        args = [sys.executable, "-m", "sactui", "unlatch", "--train-id", self.o.train_id, "--yes", self.o.train_id,
                "--runs-dir", str(self.runs_dir)]
        return self._run_logged(args, self.log_dir / "unlatch.log")

    def _session_file(self) -> dict:
        try:
            return json.loads((self.folder / "session.json").read_text())
        except (OSError, ValueError):
            return {}

    async def _stop(self) -> None:
        trader = self.trader
        if trader is None or not trader.alive():
            return
        trader.terminate()
        code = await self._exit_of(trader, 60, "the trader to stop on SIGTERM")
        trader.end_candle, trader.end_cause = self.o.profile.steps - 1, "stopped"
        if code != 0:
            self.exits_unexpected.append(f"process {trader.number}: exit {code} on SIGTERM (0 expected)")


def _ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


def same_schedule(seed: int, profile: Profile) -> str:
    """The schedule's canonical JSON (for ``--schedule-only`` and the reproducibility check)."""
    return schedule_json(build_schedule(seed, profile))
