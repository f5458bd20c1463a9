"""Binance's error answers: ``{"code": <int>, "msg": "<text>"}`` with the HTTP status it comes with.

Why: the client's error handling keys on the code (retry -1021, stop on -2015, treat
-4046 as success, resolve -1001/503 by query), so the simulator must answer with the
exact code, message text and HTTP status Binance uses (reference §4). Every refusal
anywhere in the simulator is raised as one ``ApiError`` and rendered in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The message Binance sends with each code (reference §4; %s filled in by the caller).
MESSAGES: dict[int, str] = {
    -1000: "An unknown error occurred while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; current limit is %s requests per minute. Please use the "
    "websocket for live updates to avoid polling the API.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
    -1015: "Too many new orders; current limit is %s orders per %s.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in parameter '%s'; legal range is '%s'.",
    -1102: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1115: "Invalid timeInForce.",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -1120: "Invalid interval.",
    -1121: "Invalid symbol.",
    -1125: "This listenKey does not exist.",
    -1130: "Data sent for parameter '%s' is not valid.",
    -1131: "recvWindow must be less than 60000",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -4003: "Quantity less than zero.",
    -4004: "Quantity less than min quantity.",
    -4005: "Quantity greater than max quantity.",
    -4014: "Price not increased by tick size.",
    -4015: "Client order id is not valid.",
    -4023: "Quantity not increased by step size.",
    -4028: "Invalid leverage",
    -4046: "No need to change margin type.",
    -4048: "Margin type cannot be changed if there exists position.",
    -4061: "Order's position side does not match user's setting.",
    -4116: "ClientOrderId is duplicated.",
    -4120: "Order type not supported for this endpoint. Please use the Algo Order API "
    "endpoints instead.",
    -4164: "Order's notional must be no smaller than %s (unless you choose reduce only).",
}

#: HTTP status per code where it is not 400.
STATUSES: dict[int, int] = {-2014: 401, -2015: 401, -1003: 429, -1001: 503, -1007: 503}

#: Ahead-of-server variant of -1021.
TIMESTAMP_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."


def message_for(code: int, *args: object) -> str:
    """The reference text of ``code``; ``%s`` placeholders filled from ``args`` when given."""
    text = MESSAGES.get(code, f"Error {code}.")
    if args and "%s" in text:
        try:
            return text % args
        except TypeError:
            return text
    return text


@dataclass(eq=False)
class ApiError(Exception):
    """A refusal, sent to the client as ``{"code": code, "msg": msg}`` with ``status``."""

    code: int
    msg: str = ""
    status: int = 0
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.msg:
            self.msg = message_for(self.code)
        if not self.status:
            self.status = STATUSES.get(self.code, 400)
        super().__init__(f"{self.code}: {self.msg}")

    @classmethod
    def of(cls, code: int, *args: object, status: int = 0) -> ApiError:
        """Build from the code's reference message with its placeholders filled."""
        return cls(code, message_for(code, *args), status)

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}
