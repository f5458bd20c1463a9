"""Request authentication exactly as Binance does it: API key, HMAC signature, timestamp.

Why: the client's signing code is only proven if something checks it byte for byte.
Binance signs the *raw* ``totalParams`` (query string followed by body, exactly as
sent, cut before ``&signature=``), so a value the HTTP layer percent-encodes fails
with -1022 on the real exchange; checking the decoded parameters instead would hide
that bug. The timestamp rule is Binance's: accept only when
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``.
These functions are pure so they can be unit-tested without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qsl

from .api_errors import TIMESTAMP_AHEAD, ApiError, BinanceError

#: A syntactically valid API key (Binance keys are 64 alphanumerics).
_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]+$")
#: recvWindow when the request does not send one, and the largest accepted.
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
#: How far ahead of the server a timestamp may be.
AHEAD_TOLERANCE_MS = 1000


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Parameters from the query string and the form body; the query string wins."""
    params = dict(parse_qsl(raw_body, keep_blank_values=True)) if raw_body else {}
    if raw_query:
        params.update(parse_qsl(raw_query, keep_blank_values=True))
    return params


def signed_payload(raw_query: str, raw_body: str) -> str:
    """The text Binance signs: raw query + raw body, cut before ``&signature=``."""
    total = raw_query + raw_body
    if total.startswith("signature="):
        return ""
    cut = total.find("&signature=")
    return total if cut < 0 else total[:cut]


def sign(secret: str, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` with ``secret``, lowercase hex (what clients send)."""
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def check_api_key(header_value: str | None, expected: str) -> None:
    """-2014 for a malformed key, -2015 for a missing or unknown one (both HTTP 401)."""
    if header_value and not _KEY_FORMAT.match(header_value):
        raise ApiError(BinanceError.BAD_API_KEY_FMT)
    if not header_value or not hmac.compare_digest(header_value, expected):
        raise ApiError(BinanceError.REJECTED_MBX_KEY)


def check_signature(raw_query: str, raw_body: str, params: dict[str, str], secret: str) -> None:
    """-1102 without a signature, -1022 when it does not match the raw payload."""
    given = params.get("signature", "")
    if not given:
        raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "signature")
    expected = sign(secret, signed_payload(raw_query, raw_body))
    if not hmac.compare_digest(given.lower(), expected):
        raise ApiError(BinanceError.INVALID_SIGNATURE)


def check_timestamp(params: dict[str, str], server_ms: int) -> None:
    """Binance's recvWindow rule; -1102 when timestamp is missing, -1021 when outside."""
    raw = params.get("timestamp", "")
    if not raw.isdigit():
        raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "timestamp")
    timestamp = int(raw)
    window_raw = params.get("recvWindow", "")
    if window_raw:
        if not window_raw.isdigit():
            raise ApiError.of(BinanceError.INVALID_PARAMETER, "recvWindow")
        window = int(window_raw)
        if window > MAX_RECV_WINDOW:
            raise ApiError(BinanceError.BAD_RECV_WINDOW)
    else:
        window = DEFAULT_RECV_WINDOW
    if timestamp >= server_ms + AHEAD_TOLERANCE_MS:
        raise ApiError(BinanceError.INVALID_TIMESTAMP, TIMESTAMP_AHEAD)
    if server_ms - timestamp > window:
        raise ApiError(BinanceError.INVALID_TIMESTAMP)
