"""The end-of-session report, one for the headless runner and the console alike.

Why one: the operator reads it after every session, whatever front end ran it, and
a script may parse it; two formats drifted (the console printed one line, headless
seven). Both print ``summary_lines``, built from the engine's last snapshot and,
when the launcher returned one, the session's figures as ``sactui report`` computes
them from the journal (return, Sharpe, max drawdown, buy-and-hold over the same
candles - one definition) and the one-line result of ``sactui audit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .engine import EngineSnapshot
from .journal import stats_lines
from .launcher import SessionOutcome
from .modes import Mode
from .states import EngineState

#: The end-of-session audit replays for at most this long (a stopping console or service must not
#: wait on it; the console promises to exit within 5 s); rows not reached are said, not hidden.
AUDIT_BUDGET_S = 1.5


def summary_lines(snapshot: EngineSnapshot, outcome: SessionOutcome | None = None,
                  review: Iterable[str] = ()) -> list[str]:
    """The report; ``review``: the lines of ``review_lines`` (performance, audit), printed before the journal."""
    lines = ["session statistics:"] + [f"  {line}" for line in stats_lines(snapshot.stats)]
    lines += [f"  {line}" for line in review]
    position = snapshot.position
    if position is not None and not position.flat:
        lines.append(f"  position left open: {position.quantity} {snapshot.symbol} (entry {position.entry_price})")
    if snapshot.closing:
        lines.append("  NOT FLAT: the emergency protocol was still closing when the session stopped")
    lines.append(f"  journal: {snapshot.journal_path}")
    return lines


async def review_lines(outcome: SessionOutcome, candle_files: Iterable[Path] = ()) -> list[str]:
    """The session's performance against buy-and-hold and, for a session on an exchange, its audit
    (``sactui audit``'s one line). Never raises: a figure that cannot be computed says why."""
    from .review.sessions import session_info

    engine = outcome.engine
    run = engine.training_run
    steps_path = Path(outcome.journal_path)
    lines: list[str] = []
    try:
        info = session_info(run.train_id, steps_path.parent, steps_path, {}, None)
    except Exception as exc:  # noqa: BLE001 - the report of a session must always print
        return [f"figures: not computed ({type(exc).__name__}: {exc})"]
    if info is None:
        return ["figures: no journaled step"]
    try:
        from .review.report import build_report

        lines.append(build_report(run, info).summary_line())
    except Exception as exc:  # noqa: BLE001
        lines.append(f"figures: not computed ({type(exc).__name__}: {exc})")
    if engine.mode == Mode.BACKTEST:
        return lines  # the backtest is the audit's reference: nothing to compare it with
    try:
        from .review.audit import audit_session

        result = await audit_session(run, engine.pipeline.agent, engine.settings, info, candle_files,
                                     budget_s=AUDIT_BUDGET_S)
        lines.append(result.line() + f" (details: sactui audit --train-id {run.train_id} --session {info.session_id})")
    except Exception as exc:  # noqa: BLE001
        lines.append(f"audit: not run ({exc}); see 'sactui audit --train-id {run.train_id} --session "
                     f"{info.session_id}'")
    return lines


def halted_line(snapshot: EngineSnapshot) -> str | None:
    """The line for stderr when the session ended HALTED (its exit code is 7)."""
    if snapshot.state != EngineState.HALTED:
        return None
    return f"HALTED: {snapshot.halted_reason}"
