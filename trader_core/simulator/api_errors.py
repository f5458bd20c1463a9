"""Binance's error answers: ``{"code": <int>, "msg": "<text>"}`` with the HTTP status it comes with.

Why: the client's error handling keys on the code (retry -1021, stop on -2015, treat
-4046 as success, resolve -1001/503 by query), so the simulator must answer with the
exact code, message text and HTTP status Binance uses (reference §4) - the ones in
``exchanges.error_codes``, the table the client side reads too. Every refusal anywhere
in the simulator is raised as one ``ApiError`` and rendered in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exchanges.error_codes import (
    TIMESTAMP_AHEAD,
    BinanceError,
    message_for,
    status_for,
)

__all__ = ["ApiError", "BinanceError", "TIMESTAMP_AHEAD", "message_for"]


@dataclass(eq=False)
class ApiError(Exception):
    """A refusal, sent to the client as ``{"code": code, "msg": msg}`` with ``status``."""

    code: int
    msg: str = ""
    status: int = 0
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.code = int(self.code)
        if not self.msg:
            self.msg = message_for(self.code)
        if not self.status:
            self.status = status_for(self.code)
        super().__init__(f"{self.code}: {self.msg}")

    @classmethod
    def of(cls, code: int, *args: object, status: int = 0) -> ApiError:
        """Build from the code's reference message with its placeholders filled."""
        return cls(code, message_for(code, *args), status)

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}
