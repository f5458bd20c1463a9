"""Binance USDⓈ-M error codes, defined once: the code, Binance's message, its HTTP status,
and what a client must do about it.

Why one table: the retry rules decide by code (resync on -1021, stop on -2015, resolve
-1001 by query), the connector treats -4046 as success and -2013 as "does not exist",
the paper exchange and the loopback simulator answer with these very codes and texts.
When each kept its own list they could drift - and a client tested against a
simulator that says something Binance does not proves nothing. Everything imports
``BinanceError`` and ``CODES`` from here (reference: shared/reference/binance-usdm.md §4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a failure means for a client, and the one way to handle it."""

    TRANSIENT = "transient"  # network, timeout, 5xx, -1001/-1007: retry a read; an order's outcome is unknown
    CLOCK = "clock"  # -1021: refused before processing; resync the clock and retry
    RATE_LIMIT = "rate_limit"  # 429: refused before processing; wait Retry-After and retry
    BANNED = "banned"  # 418: hold all trading until the ban lifts
    FATAL = "fatal"  # credentials or signing are wrong: stop
    REJECTED = "rejected"  # a definite answer: never retried


class BinanceError(enum.IntEnum):
    UNKNOWN = -1000
    DISCONNECTED = -1001
    TOO_MANY_REQUESTS = -1003
    UNEXPECTED_RESPONSE = -1006
    TIMEOUT = -1007
    TOO_MANY_ORDERS = -1015
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    ILLEGAL_CHARS = -1100
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    BAD_PRECISION = -1111
    INVALID_TIME_IN_FORCE = -1115
    INVALID_ORDER_TYPE = -1116
    INVALID_SIDE = -1117
    INVALID_INTERVAL = -1120
    BAD_SYMBOL = -1121
    INVALID_LISTEN_KEY = -1125
    LOOKUP_INTERVAL_TOO_BIG = -1127
    OPTIONAL_PARAMS_BAD_COMBO = -1128
    INVALID_PARAMETER = -1130
    BAD_RECV_WINDOW = -1131
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015
    MARGIN_NOT_SUFFICIENT = -2019
    ORDER_WOULD_IMMEDIATELY_TRIGGER = -2021
    REDUCE_ONLY_REJECT = -2022
    QTY_NOT_POSITIVE = -4003
    QTY_LESS_THAN_MIN = -4004
    QTY_GREATER_THAN_MAX = -4005
    PRICE_NOT_ON_TICK = -4014
    INVALID_CLIENT_ORDER_ID = -4015
    QTY_NOT_ON_STEP = -4023
    INVALID_LEVERAGE = -4028
    NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
    MARGIN_TYPE_CHANGE_WITH_POSITION = -4048
    POSITION_SIDE_NOT_MATCH = -4061
    DUPLICATED_CLIENT_ORDER_ID = -4116
    ALGO_ORDER_TYPE = -4120
    MIN_NOTIONAL = -4164


@dataclass(frozen=True)
class CodeInfo:
    message: str  # Binance's text; %s placeholders are filled by ``message_for``
    status: int  # the HTTP status it comes with
    kind: Kind


E, K = BinanceError, Kind
CODES: dict[BinanceError, CodeInfo] = {
    E.UNKNOWN: CodeInfo("An unknown error occurred while processing the request.", 400, K.TRANSIENT),
    E.DISCONNECTED: CodeInfo("Internal error; unable to process your request. Please try again.", 503,
                             K.TRANSIENT),
    E.TOO_MANY_REQUESTS: CodeInfo("Too many requests; current limit is %s requests per minute. Please use the "
                                  "websocket for live updates to avoid polling the API.", 429, K.RATE_LIMIT),
    E.UNEXPECTED_RESPONSE: CodeInfo("An unexpected response was received from the message bus. Execution "
                                    "status unknown.", 503, K.TRANSIENT),
    E.TIMEOUT: CodeInfo("Timeout waiting for response from backend server. Send status unknown; "
                        "execution status unknown.", 503, K.TRANSIENT),
    E.TOO_MANY_ORDERS: CodeInfo("Too many new orders; current limit is %s orders per %s.", 429, K.RATE_LIMIT),
    E.INVALID_TIMESTAMP: CodeInfo("Timestamp for this request is outside of the recvWindow.", 400, K.CLOCK),
    E.INVALID_SIGNATURE: CodeInfo("Signature for this request is not valid.", 400, K.FATAL),
    E.ILLEGAL_CHARS: CodeInfo("Illegal characters found in parameter '%s'; legal range is '%s'.", 400, K.REJECTED),
    E.MANDATORY_PARAM_EMPTY_OR_MALFORMED: CodeInfo(
        "Mandatory parameter '%s' was not sent, was empty/null, or malformed.", 400, K.REJECTED),
    E.BAD_PRECISION: CodeInfo("Precision is over the maximum defined for this asset.", 400, K.REJECTED),
    E.INVALID_TIME_IN_FORCE: CodeInfo("Invalid timeInForce.", 400, K.REJECTED),
    E.INVALID_ORDER_TYPE: CodeInfo("Invalid orderType.", 400, K.REJECTED),
    E.INVALID_SIDE: CodeInfo("Invalid side.", 400, K.REJECTED),
    E.INVALID_INTERVAL: CodeInfo("Invalid interval.", 400, K.REJECTED),
    E.BAD_SYMBOL: CodeInfo("Invalid symbol.", 400, K.REJECTED),
    E.INVALID_LISTEN_KEY: CodeInfo("This listenKey does not exist.", 400, K.REJECTED),
    E.LOOKUP_INTERVAL_TOO_BIG: CodeInfo("More than %s hours between startTime and endTime.", 400, K.REJECTED),
    E.OPTIONAL_PARAMS_BAD_COMBO: CodeInfo("Combination of optional parameters invalid.", 400, K.REJECTED),
    E.INVALID_PARAMETER: CodeInfo("Data sent for parameter '%s' is not valid.", 400, K.REJECTED),
    E.BAD_RECV_WINDOW: CodeInfo("recvWindow must be less than 60000", 400, K.REJECTED),
    E.CANCEL_REJECTED: CodeInfo("Unknown order sent.", 400, K.REJECTED),
    E.NO_SUCH_ORDER: CodeInfo("Order does not exist.", 400, K.REJECTED),
    E.BAD_API_KEY_FMT: CodeInfo("API-key format invalid.", 401, K.FATAL),
    E.REJECTED_MBX_KEY: CodeInfo("Invalid API-key, IP, or permissions for action.", 401, K.FATAL),
    E.MARGIN_NOT_SUFFICIENT: CodeInfo("Margin is insufficient.", 400, K.REJECTED),
    E.ORDER_WOULD_IMMEDIATELY_TRIGGER: CodeInfo("Order would immediately trigger.", 400, K.REJECTED),
    E.REDUCE_ONLY_REJECT: CodeInfo("ReduceOnly Order is rejected.", 400, K.REJECTED),
    E.QTY_NOT_POSITIVE: CodeInfo("Quantity less than zero.", 400, K.REJECTED),
    E.QTY_LESS_THAN_MIN: CodeInfo("Quantity less than min quantity.", 400, K.REJECTED),
    E.QTY_GREATER_THAN_MAX: CodeInfo("Quantity greater than max quantity.", 400, K.REJECTED),
    E.PRICE_NOT_ON_TICK: CodeInfo("Price not increased by tick size.", 400, K.REJECTED),
    E.INVALID_CLIENT_ORDER_ID: CodeInfo("Client order id is not valid.", 400, K.REJECTED),
    E.QTY_NOT_ON_STEP: CodeInfo("Quantity not increased by step size.", 400, K.REJECTED),
    E.INVALID_LEVERAGE: CodeInfo("Invalid leverage", 400, K.REJECTED),
    E.NO_NEED_TO_CHANGE_MARGIN_TYPE: CodeInfo("No need to change margin type.", 400, K.REJECTED),
    E.MARGIN_TYPE_CHANGE_WITH_POSITION: CodeInfo("Margin type cannot be changed if there exists position.", 400,
                                                 K.REJECTED),
    E.POSITION_SIDE_NOT_MATCH: CodeInfo("Order's position side does not match user's setting.", 400, K.REJECTED),
    E.DUPLICATED_CLIENT_ORDER_ID: CodeInfo("ClientOrderId is duplicated.", 400, K.REJECTED),
    E.ALGO_ORDER_TYPE: CodeInfo("Order type not supported for this endpoint. Please use the Algo Order API "
                                "endpoints instead.", 400, K.REJECTED),
    E.MIN_NOTIONAL: CodeInfo("Order's notional must be no smaller than %s (unless you choose reduce only).", 400,
                             K.REJECTED),
}
del E, K

#: The ahead-of-server variant of -1021's message.
TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."


def message_for(code: int, *args: object) -> str:
    """Binance's text for ``code``, with its ``%s`` placeholders filled from ``args`` when given."""
    info = CODES.get(code)  # type: ignore[call-overload]
    text = info.message if info is not None else f"Error {code}."
    if args and "%s" in text:
        try:
            return text % args
        except TypeError:
            return text
    return text


def status_for(code: int) -> int:
    info = CODES.get(code)  # type: ignore[call-overload]
    return info.status if info is not None else 400


def kind_for(code: int | None) -> Kind:
    """The handling rule of an error code (an unknown code is a definite rejection)."""
    info = CODES.get(code) if code is not None else None  # type: ignore[call-overload]
    return info.kind if info is not None else Kind.REJECTED
