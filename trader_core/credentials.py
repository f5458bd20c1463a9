"""API credentials, from the environment only, kept apart per network.

Testnet keys live in ``BINANCE_TESTNET_API_KEY`` / ``BINANCE_TESTNET_API_SECRET`` and
mainnet keys in ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET``, so a testnet session can
never pick up real-money keys by accident. The secret never appears in a repr, a log
line or an error message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from .errors import CredentialsError


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key='{self.masked_key}', api_secret='***')"

    @property
    def masked_key(self) -> str:
        return f"{self.api_key[:4]}…{self.api_key[-2:]}" if len(self.api_key) > 8 else "***"


def credentials_from_env(testnet: bool, environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    prefix = "BINANCE_TESTNET_" if testnet else "BINANCE_"
    key, secret = env.get(f"{prefix}API_KEY", "").strip(), env.get(f"{prefix}API_SECRET", "").strip()
    if not key or not secret:
        network = "testnet" if testnet else "mainnet (--live)"
        raise CredentialsError(
            f"missing {network} credentials: set {prefix}API_KEY and {prefix}API_SECRET in the "
            "environment (see .env.example), or run offline with --sim"
        )
    return Credentials(key, secret)
