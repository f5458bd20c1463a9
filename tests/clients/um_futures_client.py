"""Binance's own ``binance-futures-connector`` (UMFutures) trading against the loopback simulator.

Run by tests/integration/test_simulator_clients.py with .venv-clients' python (the
connector shares the ``binance`` package name with python-binance, so it never lives
in the project's venv). It does what a bot does - market order, position, account,
a resting order and its cancel, userTrades, income, rates, tickers, a listen key, a
refused order - and prints every answer as one JSON object for the test to check
against the simulator's state. Any unexpected error exits non-zero with its text.
"""

from __future__ import annotations

import argparse
import json
import sys

from binance.error import ClientError
from binance.um_futures import UMFutures

SYMBOL = "BTCUSDT"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    client = UMFutures(key=args.key, secret=args.secret, base_url=args.base_url, timeout=10)
    out: dict = {}
    out["time"] = client.time()
    out["symbols"] = [s["symbol"] for s in client.exchange_info()["symbols"]]
    out["order"] = client.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010",
                                    newClientOrderId="umf-buy-1", newOrderRespType="RESULT")
    out["queried"] = client.query_order(symbol=SYMBOL, origClientOrderId="umf-buy-1")
    out["position"] = client.get_position_risk(symbol=SYMBOL)
    out["account"] = client.account()
    out["balance"] = client.balance()
    out["resting"] = client.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC",
                                      quantity="0.010", price="60000.0", newClientOrderId="umf-limit-1")
    out["open_orders"] = client.get_orders(symbol=SYMBOL)
    out["cancel"] = client.cancel_order(symbol=SYMBOL, origClientOrderId="umf-limit-1")
    out["trades"] = client.get_account_trades(symbol=SYMBOL)
    out["income"] = client.get_income_history(symbol=SYMBOL)
    out["commission"] = client.commission_rate(symbol=SYMBOL)
    out["brackets"] = client.leverage_brackets(symbol=SYMBOL)
    out["ticker"] = client.ticker_price(SYMBOL)
    out["book"] = client.book_ticker(SYMBOL)
    out["mark"] = client.mark_price(SYMBOL)
    out["listen_key"] = client.new_listen_key()
    try:
        client.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="5", newClientOrderId="umf-big")
        out["refused"] = None
    except ClientError as exc:
        out["refused"] = [exc.status_code, exc.error_code, exc.error_message]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
