"""User-data-stream listen keys with Binance's lifetime rules.

Why: a bot keeps its user stream alive by POSTing/PUTting the key every few minutes
and must cope with -1125 when a key is gone. The rules (reference §2): a key lives
60 minutes; PUT extends it by 60; POST while a key is active returns *the same key*
and extends it; DELETE invalidates it; PUT on an unknown key is -1125. Time is the
simulator's server clock, so a test can expire keys by skewing the clock.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from .api_errors import ApiError, BinanceError

LIFETIME_MS = 60 * 60 * 1000
_ALPHABET = string.ascii_letters + string.digits


class ListenKeys:
    """The account's listen keys (Binance keeps one active key per account)."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._expiry: dict[str, int] = {}

    def is_active(self, key: str) -> bool:
        expiry = self._expiry.get(key)
        return expiry is not None and self._clock_ms() < expiry

    def active_key(self) -> str | None:
        for key in self._expiry:
            if self.is_active(key):
                return key
        return None

    def create(self) -> str:
        """POST: the active key (extended), or a new 64-character one."""
        key = self.active_key()
        if key is None:
            key = "".join(secrets.choice(_ALPHABET) for _ in range(64))
        self._expiry[key] = self._clock_ms() + LIFETIME_MS
        return key

    def keepalive(self, key: str) -> str:
        """PUT: extend by 60 minutes; -1125 when unknown or expired.

        Without a ``listenKey`` parameter the account's active key is meant (Binance
        keeps one per account).
        """
        key = key or self.active_key() or ""
        if not self.is_active(key):
            raise ApiError(BinanceError.INVALID_LISTEN_KEY)
        self._expiry[key] = self._clock_ms() + LIFETIME_MS
        return key

    def expire_now(self, key: str) -> None:
        """The key's lifetime ends now (a fault: as if 60 minutes passed without PUT)."""
        if key in self._expiry:
            self._expiry[key] = self._clock_ms()

    def delete(self, key: str) -> None:
        """DELETE: invalidate (an unknown key is not an error); no key = the active one."""
        key = key or self.active_key() or ""
        self._expiry.pop(key, None)
