"""``sactui sim``: the loopback Binance USDⓈ-M exchange as a server of its own."""

from __future__ import annotations

NAME = "sim"
HELP = "the loopback Binance USD-M exchange replaying candles (REST + websockets on 127.0.0.1)"


def run(argv: list[str]) -> int:
    from trader_core.simulator.main import main as simulator_main

    return simulator_main(argv)
