"""The ways a session can run, and what each implies: where its journal lives, whether it latches.

Why one place: the folder of a mode decided where the drawdown latch was written
and where ``sactui unlatch`` looked - and they disagreed for ``--sim`` (the latch in
``simulacion/``, the search in ``produccion/``), so a cleared-looking run still
refused to start.
"""

from __future__ import annotations

import enum


class Mode(str, enum.Enum):
    SIM = "sim"  # the loopback exchange in this process, replaying real candles
    TESTNET = "testnet"  # Binance's testnet (or another Binance-compatible server with --endpoint)
    LIVE = "live"  # Binance mainnet: real money
    BACKTEST = "backtest"  # the in-process paper exchange over a candle file

    def __str__(self) -> str:
        return self.value

    @property
    def journal_folder(self) -> str:
        """The folder of the run where this mode's journals, session.json, lock and latch live."""
        return _FOLDERS[self]

    @property
    def latches(self) -> bool:
        """A drawdown stop latches the folder (a backtest has nothing to protect)."""
        return self is not Mode.BACKTEST

    @property
    def trades_real_exchange(self) -> bool:
        return self in (Mode.TESTNET, Mode.LIVE)


_FOLDERS = {Mode.SIM: "simulacion", Mode.TESTNET: "produccion", Mode.LIVE: "produccion", Mode.BACKTEST: "backtest"}

#: The folders a latch can be in (``sactui unlatch`` looks in each).
LATCHING_FOLDERS: tuple[str, ...] = tuple(dict.fromkeys(m.journal_folder for m in Mode if m.latches))
