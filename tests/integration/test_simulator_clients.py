"""Other clients trade against the simulator as against Binance: binance-futures-connector and ccxt.

The simulator is not only a fixture for python-binance: any Binance USDⓈ-M client
must be able to use it. Binance's own connector (``UMFutures``) and ccxt's
``binanceusdm`` each run as a subprocess with the ``.venv-clients`` python (pinned
in tests/clients/requirements.txt, built by ``make clients``; the connector would
break python-binance in the project's venv) against a simulator this test runs in
manual mode; each script prints what the client got, and the test checks it
against the simulator's own state. A missing ``.venv-clients`` fails the test,
saying how to build it - never a skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest


from sim_client import KEY, SECRET
from support import REPO

CLIENTS_VENV = REPO / ".venv-clients"
CLIENTS_PYTHON = CLIENTS_VENV / "bin" / "python"
CLIENTS_STAMP = CLIENTS_VENV / ".installed"  # written by `make clients` once every pin installed
SCRIPTS = Path(__file__).resolve().parents[1] / "clients"
RUN_TIMEOUT_S = 90.0


def clients_python() -> Path:
    if not (CLIENTS_PYTHON.is_file() and CLIENTS_STAMP.is_file()):
        pytest.fail(f"{CLIENTS_VENV} is missing or incomplete: run `make clients` (it builds it with the pinned "
                    "binance-futures-connector and ccxt of tests/clients/requirements.txt)", pytrace=False)
    return CLIENTS_PYTHON


async def run_client(script: str, sim) -> dict:
    """Run ``tests/clients/<script>`` against ``sim``; its JSON output. The simulator
    keeps serving meanwhile (the subprocess is awaited, never waited on blocking)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("PYTHON")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    process = await asyncio.create_subprocess_exec(
        str(clients_python()), "-I", str(SCRIPTS / script), "--base-url", sim.rest_base,
        "--key", KEY, "--secret", SECRET,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{script} did not finish within {RUN_TIMEOUT_S:g} s") from None
    assert process.returncode == 0, f"{script} failed ({process.returncode}):\n{err.decode()[-3000:]}"
    return json.loads(out)


def test_the_connector_never_reaches_the_project_venv():
    # Both install a top-level ``binance`` package: in the project's venv it must stay
    # python-binance's, with no trace of the connector; in .venv-clients, the connector.
    import importlib.util

    import binance

    assert hasattr(binance, "AsyncClient") and importlib.util.find_spec("binance.um_futures") is None, \
        "binance-futures-connector was installed into the project's venv: it breaks python-binance"
    assert Path(sys.prefix).resolve() != clients_python().parents[1].resolve()


async def test_binance_futures_connector_trades_reads_and_cancels(sim):
    got = await run_client("um_futures_client.py", sim)
    ex = sim.exchange
    assert abs(got["time"]["serverTime"] - sim.server_time_ms()) < 60_000
    assert got["symbols"] == ["BTCUSDT"]
    order = got["order"]
    assert (order["clientOrderId"], order["status"], order["executedQty"], order["avgPrice"]) == \
        ("umf-buy-1", "FILLED", "0.010", "41721.20")
    assert got["queried"]["orderId"] == order["orderId"] and got["queried"]["status"] == "FILLED"
    (position,) = got["position"]  # v3 positionRisk
    assert (position["positionAmt"], Decimal(position["entryPrice"])) == ("0.010", Decimal("41721.2"))
    assert Decimal(got["account"]["totalWalletBalance"]) == ex.account.wallet_balance  # v3 account
    assert Decimal(got["balance"][0]["balance"]) == ex.account.wallet_balance
    assert got["resting"]["status"] == "NEW" and [o["clientOrderId"] for o in got["open_orders"]] == ["umf-limit-1"]
    assert got["cancel"]["status"] == "CANCELED" and ex.open_orders() == []
    (trade,) = got["trades"]
    assert (trade["orderId"], trade["qty"], Decimal(trade["commission"])) == \
        (order["orderId"], "0.010", Decimal("0.208606"))
    assert [(r["incomeType"], Decimal(r["income"])) for r in got["income"]] == [("COMMISSION", Decimal("-0.208606"))]
    assert got["commission"]["takerCommissionRate"] == "0.0005"
    assert got["brackets"]["brackets"][0]["maintMarginRatio"] == 0.004
    assert Decimal(got["ticker"]["price"]) == Decimal(got["mark"]["markPrice"]) == sim.price  # v2 ticker
    assert Decimal(got["book"]["bidPrice"]) == sim.price
    assert got["listen_key"]["listenKey"] == sim.listen_keys.active_key()
    assert got["refused"] == [400, -2019, "Margin is insufficient."]
    assert ex.account.position_qty == Decimal("0.010")
    assert [r.client_order_id for r in sim.orders_received] == ["umf-buy-1", "umf-limit-1", "umf-big"]


async def test_ccxt_binanceusdm_trades_reads_and_cancels(sim):
    got = await run_client("ccxt_client.py", sim)
    ex = sim.exchange
    market = got["market"]
    assert market["id"] == "BTCUSDT" and market["linear"] and market["contract"]
    assert market["precision"]["price"] == 0.1 and market["precision"]["amount"] == 0.001
    assert market["limits"]["cost"]["min"] == 50
    order = got["order"]
    assert (order["clientOrderId"], order["status"], order["filled"], order["average"]) == \
        ("ccxt-buy-1", "closed", 0.01, 41721.2)
    assert got["fetched"]["id"] == order["id"] and got["fetched"]["status"] == "closed"
    (position,) = got["positions"]
    assert (position["symbol"], position["side"], position["contracts"], position["entryPrice"]) == \
        ("BTC/USDT:USDT", "long", 0.01, 41721.2)
    assert Decimal(position["info"]["positionAmt"]) == ex.account.position_qty
    usdt = got["balance"]["USDT"]
    assert Decimal(str(usdt["total"])) == ex.account.wallet_balance
    assert [o["clientOrderId"] for o in got["open_orders"]] == ["ccxt-limit-1"]
    assert got["cancel"]["status"] == "canceled" and ex.open_orders() == []
    (trade,) = got["trades"]
    assert (trade["order"], trade["side"], trade["amount"], trade["price"]) == (order["id"], "buy", 0.01, 41721.2)
    assert Decimal(str(trade["fee"]["cost"])) == Decimal("0.208606") and trade["fee"]["currency"] == "USDT"
    assert Decimal(str(got["mark"]["markPrice"])) == sim.price
    assert got["funding"]["fundingRate"] == 0 and got["funding"]["fundingTimestamp"] % (8 * 3_600_000) == 0
    # ccxt classifies errors by Binance's host names, so on 127.0.0.1 it is a plain
    # ExchangeError - with Binance's code and message in it.
    assert got["refused"] == ["ExchangeError", 'binanceusdm {"code":-2019,"msg":"Margin is insufficient."}']
    assert [r.client_order_id for r in sim.orders_received] == ["ccxt-buy-1", "ccxt-limit-1", "ccxt-big"]
    # ccxt asked for nothing the simulator does not serve (its other API families point nowhere).
    assert ex.account.trade_count == 1
