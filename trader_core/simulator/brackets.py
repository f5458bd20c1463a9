"""Notional and leverage brackets: ``GET /fapi/v1/leverageBracket`` and ``maxNotionalValue``.

Why: a client sizes positions against the bracket of its leverage (the largest
notional it may hold) and estimates its liquidation from the bracket's maintenance
rate. The brackets it reads must be the ones the simulator applies, or the client
is tested against rules that do not hold.

The caps and initial leverages are BTCUSDT's (approximate, they change over time).
The maintenance margin is what the shared accounting uses: one rate,
``MAINTENANCE_MARGIN_RATE`` (Binance's first BTCUSDT bracket, 0.4 %), at every size,
so every bracket says ``maintMarginRatio`` 0.004 and ``cum`` 0. Binance raises the
rate bracket by bracket (0.5 % from 50,000 USDT, …) with a ``cum`` that keeps the
maintenance margin continuous; the simulator does not (documented departure: for
positions above 50,000 USDT it asks less maintenance margin than Binance). Caps
are reported, not enforced.
"""

from __future__ import annotations

from ..accounting import MAINTENANCE_MARGIN_RATE

#: (initial leverage, notional cap in USDT), smallest cap first.
BRACKETS = ((125, 50_000), (100, 600_000), (75, 3_000_000), (50, 12_000_000), (25, 70_000_000),
            (20, 100_000_000), (10, 230_000_000), (5, 480_000_000), (4, 600_000_000),
            (3, 800_000_000), (2, 1_200_000_000), (1, 1_800_000_000))
NOTIONAL_COEF = 1.0


def max_notional_for(leverage: int) -> int:
    """The largest position notional Binance allows at ``leverage`` (the cap of its bracket)."""
    cap = BRACKETS[0][1]
    for lev, notional in BRACKETS:
        if leverage <= lev:
            cap = notional
    return cap


def leverage_bracket(symbol: str) -> dict:
    """One symbol's entry of ``leverageBracket`` (numbers, as Binance sends them)."""
    rows, floor = [], 0
    for number, (leverage, cap) in enumerate(BRACKETS, start=1):
        rows.append({
            "bracket": number, "initialLeverage": leverage, "notionalCap": cap, "notionalFloor": floor,
            "maintMarginRatio": float(MAINTENANCE_MARGIN_RATE), "cum": 0.0,
        })
        floor = cap
    return {"symbol": symbol, "notionalCoef": NOTIONAL_COEF, "brackets": rows}
