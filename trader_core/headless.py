"""``sactui --train-id X --headless``: the engine with plain log lines, no terminal UI.

For servers, cron, CI and anyone who wants the journal without the console. It
never imports Textual. Ctrl-C or SIGTERM stops gracefully (the current step
finishes, connections close, statistics print); the position is left as it is
unless the operator flattens first.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime, timezone

from .engine import EngineEvent, TradingEngine
from .errors import ExitCode
from .launcher import SessionOptions, run_session
from .settings import Settings
from .step_record import StepRecord
from .summary import halted_line, review_lines, summary_lines

#: Ctrl-C, a service stop, a dropped SSH session: the same clean stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S")


def print_event(event: EngineEvent) -> None:
    print(f"{_stamp(event.time_ms)} {event.level.upper():<9} {event.kind}: {event.message}", flush=True)


def print_step(record: StepRecord) -> None:
    print(record.summary_line(), flush=True)


async def run_headless(options: SessionOptions, settings: Settings, quiet_steps: bool = False) -> int:
    engines: list[TradingEngine] = []
    loop = asyncio.get_running_loop()

    def on_engine(engine: TradingEngine) -> None:
        engines.append(engine)
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, engine.stop)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass

    try:
        outcome = await run_session(
            options, settings, on_event=print_event, on_step=None if quiet_steps else print_step,
            on_engine=on_engine,
        )
    finally:
        for sig in STOP_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    snapshot = outcome.engine.snapshot
    review = await review_lines(outcome, [options.data] if options.data else [])
    for line in summary_lines(snapshot, outcome, review):
        print(line, flush=True)
    halted = halted_line(snapshot)
    if halted is not None:
        print(halted, file=sys.stderr)
        return ExitCode.HALTED
    return ExitCode.OK
