"""ccxt's ``binanceusdm`` trading against the loopback simulator.

Run by tests/integration/test_simulator_clients.py with .venv-clients' python. Every
``fapi*`` URL of ccxt points at the simulator; every other API family (spot, sapi,
dapi, eapi, papi …) points at a path the simulator does not serve, so a stray call
fails loudly (404) instead of leaving the machine. ``options`` keep ccxt on the
linear futures market: no spot or margin markets, no currency list (a sapi call),
no time-difference adjustment. It places a market order, reads the position and
the balance, cancels a resting order, reads its trades, and prints the unified
answers (with their ``info``: Binance's own payload) as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys

import ccxt

SYMBOL = "BTC/USDT:USDT"


def pointed_at(base_url: str) -> dict[str, str]:
    """ccxt's API URL table with every fapi family at ``base_url`` and the rest nowhere."""
    table = dict(ccxt.binanceusdm().urls["api"])
    urls = {}
    for name, url in table.items():
        if not isinstance(url, str):
            continue
        if name.startswith("fapi"):
            path = url.split("://", 1)[1].split("/", 1)[1]  # fapi/v1, fapi/v2, futures/data …
            urls[name] = f"{base_url}/{path}"
        else:
            urls[name] = f"{base_url}/not-served-by-the-simulator/{name}"
    return urls


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    exchange = ccxt.binanceusdm({
        "apiKey": args.key,
        "secret": args.secret,
        "timeout": 10_000,
        "options": {
            "fetchMarkets": ["linear"],  # fapi exchangeInfo only
            "fetchCurrencies": False,  # would be sapi capital/config/getall
            "adjustForTimeDifference": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    })
    exchange.urls["api"] = pointed_at(args.base_url)
    out: dict = {}
    exchange.load_markets()
    out["market"] = {k: exchange.market(SYMBOL)[k] for k in ("id", "linear", "contract", "precision", "limits")}
    order = exchange.create_order(SYMBOL, "market", "buy", 0.01, params={"newClientOrderId": "ccxt-buy-1"})
    out["order"] = order
    out["fetched"] = exchange.fetch_order(order["id"], SYMBOL)
    out["positions"] = exchange.fetch_positions([SYMBOL])
    out["balance"] = {"USDT": exchange.fetch_balance()["USDT"]}
    resting = exchange.create_order(SYMBOL, "limit", "sell", 0.01, 60000, params={"newClientOrderId": "ccxt-limit-1"})
    out["open_orders"] = exchange.fetch_open_orders(SYMBOL)
    out["cancel"] = exchange.cancel_order(resting["id"], SYMBOL)
    out["trades"] = exchange.fetch_my_trades(SYMBOL)
    out["mark"] = exchange.fetch_mark_price(SYMBOL)
    out["funding"] = exchange.fetch_funding_rate(SYMBOL)
    try:
        exchange.create_order(SYMBOL, "market", "buy", 5, params={"newClientOrderId": "ccxt-big"})
        out["refused"] = None
    except ccxt.ExchangeError as exc:
        # ccxt picks its error classes by Binance's host names (fapi.binance.com …): on
        # 127.0.0.1 a refusal is a plain ExchangeError carrying Binance's body.
        out["refused"] = [type(exc).__name__, str(exc)]
    json.dump(out, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
