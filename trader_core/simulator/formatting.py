"""How numbers look on the wire: Decimal in, the strings Binance would send out.

Why: Binance sends every price, quantity and balance as a decimal *string* (never a
JSON float), padded to the symbol's precision ("41721.20", "0.010"). A client that
parses with ``Decimal`` or ``float`` must get back exactly the value the simulator's
accounting holds, so every string the simulator emits goes through these helpers:
they pad to a minimum number of places but never drop a significant digit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")

#: Balances, PnL and margins are shown with 8 decimals, as Binance's account endpoints do.
MONEY_PLACES = 8


def places_of(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped (``Decimal("0.10")`` -> 1)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def shown_places(value: Decimal) -> int:
    """Decimals a filter value is written with (``Decimal("0.10")`` -> 2): the symbol's precision."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def fixed(value: Decimal, min_places: int = 0, max_places: int | None = None) -> str:
    """``value`` as plain decimal text with at least ``min_places`` decimals.

    More decimals than ``min_places`` are kept (a partial price must not be rounded
    away); ``max_places`` caps them (rounding half up) for derived values such as an
    averaged entry price whose exact expansion is 28 digits long.
    """
    if max_places is not None and places_of(value) > max_places:
        value = value.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_UP)
    places = max(min_places, places_of(value))
    text = format(value.quantize(Decimal(1).scaleb(-places)) if places else value.to_integral_value(), "f")
    if text.startswith("-") and Decimal(text) == 0:
        text = text[1:]  # Binance never sends "-0.00"
    return text


def money(value: Decimal) -> str:
    """A balance, PnL, fee or margin: 8 decimals, like ``"9999.79139400"``."""
    return fixed(value, MONEY_PLACES, MONEY_PLACES)


def exact(value: Decimal) -> str:
    """Money the account holds exactly (wallet, commission, realised PnL, funding, income):
    at least 8 decimals like ``money``, but every further significant digit kept.

    Binance rounds each of these to 8 decimals as it books them, so its wallet is
    the sum of what its income history says. The shared accounting keeps them
    exact instead (a funding payment of 0.001 BTC x 41721.2 x 0.00012345 has 12
    decimals), so the simulator shows them exactly too: ``income`` then sums to the
    wallet's change to the last digit. Valuations (unrealised PnL, margins,
    available balance) keep ``money``'s 8 decimals.
    """
    return fixed(value, MONEY_PLACES)


def compact(value: Decimal, max_places: int = MONEY_PLACES) -> str:
    """A price that is not on the tick grid (entry, break-even): no padding, at most 8 places."""
    text = fixed(value, 0, max_places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if "." in text else f"{text}.0"
