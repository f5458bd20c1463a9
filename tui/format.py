"""How numbers and times read on the console.

Why one module: every pane shows money, percentages and timestamps, and an operator
comparing the actions table with the positions pane must see the same value written
the same way. Times are UTC everywhere (the journal is UTC too), and no text relies
on colour: a sign, a word or a unit carries the meaning.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

DASH = "-"


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def clock_text(ms: int) -> str:
    """``12:34:56`` (UTC) for the header clock and log lines."""
    return utc(ms).strftime("%H:%M:%S")


def candle_time(ms: int) -> str:
    """``06-01 13:00`` (UTC): short enough for a table column, precise to the minute."""
    return utc(ms).strftime("%m-%d %H:%M")


def money(value: float | Decimal | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return DASH
    number = float(value)
    return f"{number:+,.{digits}f}" if signed else f"{number:,.{digits}f}"


def price(value: float | Decimal | str | None) -> str:
    """A price as the exchange quotes it (no thousands separator, so it can be copied)."""
    if value is None or value == "":
        return DASH
    number = float(value)
    return f"{number:.2f}" if abs(number) >= 100 else f"{number:.4f}"


def pct(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def quantity(value: Decimal | str | None) -> str:
    """A quantity exactly as journaled: Decimal text without exponent or trailing zeros."""
    if value is None or value == "":
        return DASH
    number = Decimal(str(value))
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def duration(seconds: float | None) -> str:
    """``2d 03:04:05`` / ``03:04:05``: uptime and ages that stay aligned."""
    if seconds is None:
        return DASH
    whole = int(max(0.0, seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def age(seconds: float | None) -> str:
    """Age of the last market message: ``0.4s``, ``12s``, ``3m05s``."""
    if seconds is None:
        return DASH
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def ellipsize(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
