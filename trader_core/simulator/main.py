"""``sactui sim``: run the loopback exchange standalone, for a bot or a person to connect to.

Why: the offline mode of the console and manual experiments need a Binance-like
exchange in another process. This loads a candle file, replays it in timed mode,
prints exactly how to point python-binance at it, and runs until Ctrl-C or until the
data runs out. Credentials: ``--api-key`` / ``--api-secret``, else the environment
(``SACTUI_SIM_API_KEY`` / ``SACTUI_SIM_API_SECRET``), else random ones are generated;
only a generated secret is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import string
import sys
from decimal import Decimal, InvalidOperation

from ..argument_types import OneLineParser, positive_float
from ..candles import load_candles, load_funding
from ..errors import ConfigError, SactuiError
from ..time_utils import iso_ms
from .server import LoopbackExchange

DEFAULT_SPEED = 3600.0
DEFAULT_START_INDEX = 500
_ALNUM = string.ascii_letters + string.digits


MAX_BALANCE = Decimal("1e12")  # USDT; the accounting's floats lose cents beyond this


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _balance(text: str) -> Decimal:
    value = _decimal(text)
    if value > MAX_BALANCE:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_BALANCE:E} USDT, got {text!r}")
    return value


def _fee_rate(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from None
    if not (value.is_finite() and 0 <= value < Decimal("0.1")):
        raise argparse.ArgumentTypeError(f"must be >= 0 and < 0.1, got {text!r}")
    return value


def _int_in(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text!r}")
        return value

    parse.__name__ = f"integer {low}..{high}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sactui sim",
        description="Run a loopback Binance USD-M Futures exchange that replays a candle file.",
    )
    parser.add_argument("--data", required=True, help="candle CSV (6-column or Binance's 12-column kline dump)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_int_in(0, 65535), default=0, help="port (default 0: any free port)")
    parser.add_argument("--speed", type=positive_float, default=DEFAULT_SPEED,
                        help="replay speed; 3600 replays a 1h candle per second (default 3600)")
    parser.add_argument("--start-index", type=_int_in(0, 10**9), default=None,
                        help=f"first forming candle; earlier ones are history (default {DEFAULT_START_INDEX})")
    parser.add_argument("--balance", type=_balance, default=Decimal("10000"), help="initial USDT wallet (default 10000)")
    parser.add_argument("--fee-rate", type=_fee_rate, default=Decimal("0.0005"), help="taker fee rate (default 0.0005)")
    parser.add_argument("--leverage", type=_int_in(1, 125), default=1, help="initial leverage (default 1)")
    parser.add_argument("--interim-updates", type=_int_in(0, 1000), default=3,
                        help="partial kline updates before each close (default 3)")
    parser.add_argument("--funding", default=None, help="funding-rate CSV settled during the replay (default: no funding)")
    parser.add_argument("--api-key", default=None, help="API key clients must send (default: generated)")
    parser.add_argument("--api-secret", default=None, help="API secret (prefer SACTUI_SIM_API_SECRET; default: that variable, else generated and printed)")
    parser.add_argument("--no-rate-limits", action="store_true",
                        help="do not enforce Binance's request-weight and order limits (benchmarks replaying fast)")
    parser.add_argument("--report", default=None,
                        help="at exit, write the closes, orders and REST requests with their monotonic times "
                             "(JSON) to this file - for measuring a client from outside (default: none)")
    return parser


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _credentials(args: argparse.Namespace) -> tuple[str, str, bool, bool]:
    """(key, secret, key_generated, secret_generated)."""
    key = args.api_key or os.environ.get("SACTUI_SIM_API_KEY", "").strip()
    secret = args.api_secret or os.environ.get("SACTUI_SIM_API_SECRET", "").strip()
    key_generated, secret_generated = not key, not secret
    if key_generated:
        key = _random(64)
    if secret_generated:
        secret = _random(64)
    if not key.isalnum() or not key.isascii():
        raise ConfigError("the simulator's API key must contain only letters and digits")
    return key, secret, key_generated, secret_generated


async def _serve(args: argparse.Namespace, out) -> int:
    candles = load_candles(args.data)
    funding = load_funding(args.funding) if args.funding else None
    start = args.start_index if args.start_index is not None else min(DEFAULT_START_INDEX, len(candles) - 2)
    key, secret, key_generated, secret_generated = _credentials(args)
    try:
        sim = LoopbackExchange(
            candles, api_key=key, api_secret=secret, start_index=start, speed=args.speed,
            initial_balance=args.balance, fee_rate=args.fee_rate, interim_updates=args.interim_updates,
            host=args.host, port=args.port, leverage=args.leverage, funding=funding,
            enforce_rate_limits=not args.no_rate_limits,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        await sim.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        first = int(sim.market.open_times[start])
        seconds = sim.market.interval_ms / args.speed / 1000
        print(f"sactui loopback exchange: {sim.symbol} {sim.interval}, {len(candles)} candles from {args.data}", file=out)
        print(f"  replay from {iso_ms(first)} (index {start}), one candle every {seconds:g} s "
              f"(speed {args.speed:g})", file=out)
        print(f"  REST       {sim.rest_base}", file=out)
        print(f"  WebSocket  {sim.ws_base}", file=out)
        print("  python-binance settings (testnet=True):", file=out)
        print(f"    AsyncClient.API_TESTNET_URL     = \"{sim.rest_base}/api\"", file=out)
        print(f"    AsyncClient.FUTURES_TESTNET_URL = \"{sim.rest_base}/fapi\"", file=out)
        print(f"    BinanceSocketManager.FSTREAM_TESTNET_URL = \"{sim.ws_base}\"", file=out)
        print(f"  API key    {key}{'  (generated)' if key_generated else ''}", file=out)
        if secret_generated:
            print(f"  API secret {secret}  (generated)", file=out)
        for line in session_command(sim.rest_base, key, secret, secret_generated, args):
            print(line, file=out)
        print("  Connections and orders are logged below as they happen. Ctrl-C to stop.", file=out, flush=True)
        activity = asyncio.create_task(_log_activity(sim, out))
        finished = asyncio.create_task(sim.finished.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (finished, stopped, activity):
            task.cancel()
        reason = "the candle data ran out" if sim.finished.is_set() else "stopped"
        print(f"sactui loopback exchange: {reason} at candle {sim.current_index}.", file=out, flush=True)
        if args.report:
            write_report(sim, args.report)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await sim.close()
    return 0


def session_command(rest_base: str, key: str, secret: str, secret_generated: bool,
                    args: argparse.Namespace) -> list[str]:
    """What to paste in another terminal for a sactui session against this exchange (testnet mode,
    ``--endpoint``). A secret given by the operator is never printed: the line names where it is."""
    if secret_generated:
        secret_value = secret
    elif args.api_secret:
        secret_value = "<the --api-secret you gave>"
    else:
        secret_value = '"$SACTUI_SIM_API_SECRET"'
    return [
        "  a sactui session against it (another terminal; testnet mode through --endpoint):",
        f"    export BINANCE_TESTNET_API_KEY={key}",
        f"    export BINANCE_TESTNET_API_SECRET={secret_value}",
        f"    sactui --train-id <run> --endpoint {rest_base}",
    ]


def _stamp() -> str:
    import time

    return time.strftime("%H:%M:%S", time.gmtime())


async def _log_activity(sim, out, every_s: float = 0.1) -> None:
    """Print connections (market and user-data streams, opened and closed) and orders (received,
    accepted or refused, and how they filled) as they happen, by looking at the exchange's own
    records - nothing in the exchange changes for it."""
    seen_orders = 0
    counts = (0, 0)
    reported_fills: set[str] = set()
    while True:
        streams = sim.streams
        now = (len(streams.market_connections), len(streams.user_connections))
        if now != counts:
            for kind, before, after in (("market", counts[0], now[0]), ("user-data", counts[1], now[1])):
                if after != before:
                    verb = "opened" if after > before else "closed"
                    print(f"{_stamp()} connection: {kind} stream {verb} ({after} open)", file=out, flush=True)
            counts = now
        receipts = sim.orders_received
        for receipt in receipts[seen_orders:]:
            outcome = "accepted" if receipt.accepted else f"refused ({receipt.code})"
            qty = "-" if receipt.quantity is None else format(receipt.quantity, "f")
            reduce = " reduce-only" if receipt.reduce_only else ""
            print(f"{_stamp()} order: {receipt.client_order_id} {receipt.side} {qty}{reduce} {outcome}",
                  file=out, flush=True)
        seen_orders = len(receipts)
        for order in list(sim.exchange.orders.values()):
            if order.client_order_id in reported_fills or order.is_open or order.executed_qty == 0:
                continue
            reported_fills.add(order.client_order_id)
            print(f"{_stamp()} fill: {order.client_order_id} {order.side} {format(order.executed_qty, 'f')} @ "
                  f"{format(order.avg_price, 'f')} {order.status}", file=out, flush=True)
        await asyncio.sleep(every_s)


def write_report(sim, path: str) -> None:
    """What happened, with ``time.monotonic_ns()`` times (one clock for every process on the machine)."""
    import json

    report = {
        "closes": [[c.open_time, c.sent_ns, c.broadcast] for c in sim.closes],
        "orders": [[o.client_order_id, o.received_ns, o.accepted] for o in sim.orders_received],
        "requests": [[ns, method, route, weight] for (ns, method, route), weight
                     in zip(sim.rest.requests, sim.rest.request_weights)],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh)


def main(argv: list[str]) -> int:
    """Entry point of ``sactui sim``; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except ConfigError as exc:
        print(f"sactui sim: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return asyncio.run(_serve(args, sys.stdout))
    except SactuiError as exc:
        print(f"sactui sim: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
