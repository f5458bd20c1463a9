"""The end-of-session report, one for the headless runner and the console alike.

Why one: the operator reads it after every session, whatever front end ran it, and
a script may parse it; two formats drifted (the console printed one line, headless
seven). Both print ``summary_lines``, built from the engine's last snapshot and,
when the launcher returned one, the session outcome's performance figures.
"""

from __future__ import annotations

from .engine import EngineSnapshot
from .journal import stats_lines
from .launcher import SessionOutcome
from .states import EngineState


def summary_lines(snapshot: EngineSnapshot, outcome: SessionOutcome | None = None) -> list[str]:
    lines = ["session statistics:"] + [f"  {line}" for line in stats_lines(snapshot.stats)]
    if outcome is not None:
        m = outcome.metrics
        lines.append(
            f"  return {m.total_return:+.2%} (buy-and-hold {outcome.buy_and_hold_return:+.2%})  sharpe "
            f"{m.sharpe(snapshot.interval):.2f}  max drawdown {m.max_drawdown:.2%}"
        )
    position = snapshot.position
    if position is not None and not position.flat:
        lines.append(f"  position left open: {position.quantity} {snapshot.symbol} (entry {position.entry_price})")
    if snapshot.closing:
        lines.append("  NOT FLAT: the emergency protocol was still closing when the session stopped")
    lines.append(f"  journal: {snapshot.journal_path}")
    return lines


def halted_line(snapshot: EngineSnapshot) -> str | None:
    """The line for stderr when the session ended HALTED (its exit code is 7)."""
    if snapshot.state != EngineState.HALTED:
        return None
    return f"HALTED: {snapshot.halted_reason}"
