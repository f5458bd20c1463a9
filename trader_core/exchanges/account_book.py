"""The account as the exchange pushes it: wallet, position, mark price, fills, funding.

Why: the engine used to read the account by REST twice per step (two round trips
between a candle's close and its order) and was blind between closes, and its
journal carried fees computed from the training fee rate. Binance pushes every
change on the user-data stream (``ACCOUNT_UPDATE``: wallet and position;
``ORDER_TRADE_UPDATE``: each fill with its commission and realised profit;
``MARGIN_CALL``) and the mark price every second. This book applies those messages,
so the decision reads memory, the risk guard sees every tick, and the journal writes
what the exchange charged.

Rules this module keeps:

* ``ACCOUNT_UPDATE`` carries absolute values (wallet ``wb``, position ``pa``/``ep``);
  one older than the last REST resync is ignored (a buffered message must not undo
  a newer snapshot) - "older" by the exchange's own clock: the snapshot's ``updateTime``. It is pushed only when something changes, so unrealised PnL and
  equity between updates come from the position and the latest mark.
* Available balance is computed the exchange's way for one cross-margined position
  (equity less the position's initial margin at the mark).
* Payloads are checked at the edge like REST answers: a malformed message is
  reported and ignored, never applied.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal

from ..errors import MalformedResponse
from .base import ZERO, AccountState, OrderFills, PositionState, TradeReport, sum_fills
from .payloads import decimal_field

KEEP_ORDERS = 200  # fills remembered per client order id, most recent orders


class AccountBook:
    """One symbol's account as pushed; every change wakes the waiters and the listeners."""

    def __init__(self, symbol: str, leverage: int, asset: str = "USDT") -> None:
        self.symbol = symbol
        self.leverage = leverage
        self.asset = asset
        self.wallet: Decimal | None = None
        self.position_qty = ZERO
        self.entry_price = ZERO
        self.break_even = ZERO
        self.liquidation_price: Decimal | None = None
        self.mark: Decimal | None = None
        self.mark_time_ms = 0
        self.synced_ms = 0  # exchange time of the last REST resync (older ACCOUNT_UPDATEs are ignored)
        self.synced = False  # a REST snapshot was applied since the stream (re)connected
        self.margin_calls = 0
        self.funding_pending = ZERO  # funding settled since it was last taken (for the journal)
        self.funding_total = ZERO
        self.version = 0
        self._fills: OrderedDict[str, list[TradeReport]] = OrderedDict()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[str], None]] = []
        self.malformed = 0

    # ------------------------------------------------------------------ listening
    def subscribe(self, listener: Callable[[str], None]) -> None:
        """``listener(kind)`` after every change: "mark", "account", "fill", "margin_call", "resync"."""
        self._listeners.append(listener)

    def _bump(self, kind: str) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self._listeners:
            listener(kind)

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Until ``predicate()`` holds after some change, or the timeout (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return predicate()
        return True

    # ------------------------------------------------------------------ REST snapshot
    def resync(self, account: AccountState, position: PositionState) -> None:
        """Take a REST snapshot as the truth from now on (after a (re)connect, or a mismatch).

        The snapshot is dated by the exchange's own ``updateTime`` of the newest change it
        includes - not by our estimate of the exchange's clock: after a clock jump (ours or
        the exchange's) that estimate is off by seconds until the next -1021 resync, and an
        estimate ahead of the exchange made every fill's ACCOUNT_UPDATE look older than the
        snapshot, so it was ignored and the position went stale (found by ``sactui soak``)."""
        exchange_ms = max(account.update_time_ms, position.update_time_ms)
        self.wallet = account.wallet_balance
        self.position_qty = position.quantity
        self.entry_price = position.entry_price
        self.liquidation_price = position.liquidation_price
        if position.mark_price > 0 and (self.mark is None or exchange_ms >= self.mark_time_ms):
            self.mark, self.mark_time_ms = position.mark_price, exchange_ms
        self.synced_ms = exchange_ms
        self.synced = True
        self._bump("resync")

    def set_liquidation_price(self, price: Decimal | None) -> None:
        self.liquidation_price = price
        self._bump("account")

    def unsync(self) -> None:
        """The stream dropped: pushed state is no longer complete until the next resync."""
        self.synced = False

    # ------------------------------------------------------------------ pushed messages
    def apply(self, message: dict) -> str | None:
        """Apply one user-stream message; the kind applied, or None for one that changes nothing.
        Raises ``MalformedResponse`` for a payload of the wrong shape (nothing applied)."""
        kind = message.get("e")
        if kind == "ACCOUNT_UPDATE":
            return self._account_update(message)
        if kind == "ORDER_TRADE_UPDATE":
            return self._order_update(message)
        if kind == "MARGIN_CALL":
            self.margin_calls += 1
            self._bump("margin_call")
            return "margin_call"
        if kind == "ACCOUNT_CONFIG_UPDATE":
            config = message.get("ac") or {}
            if isinstance(config, dict) and config.get("s") == self.symbol and isinstance(config.get("l"), int):
                self.leverage = config["l"]
                self._bump("account")
                return "account"
        return None

    def _account_update(self, message: dict) -> str | None:
        body = message.get("a")
        event_ms = message.get("T") or message.get("E") or 0
        if not isinstance(body, dict) or not isinstance(event_ms, int):
            raise MalformedResponse(f"malformed ACCOUNT_UPDATE: {str(message)[:120]}")
        if event_ms < self.synced_ms:
            return None  # older than the REST snapshot we trust: it would undo it
        what = "account update"
        for balance in body.get("B") or []:
            if isinstance(balance, dict) and balance.get("a") == self.asset:
                wallet = decimal_field(balance, "wb", what)
                if body.get("m") == "FUNDING_FEE":
                    change = decimal_field(balance, "bc", what, required=False)
                    self.funding_pending += change
                    self.funding_total += change
                self.wallet = wallet
        for position in body.get("P") or []:
            if isinstance(position, dict) and position.get("s") == self.symbol and position.get("ps", "BOTH") == "BOTH":
                self.position_qty = decimal_field(position, "pa", what)
                self.entry_price = decimal_field(position, "ep", what)
                self.break_even = decimal_field(position, "bep", what, required=False)
        self._bump("account")
        return "account"

    def _order_update(self, message: dict) -> str | None:
        order = message.get("o")
        if not isinstance(order, dict) or order.get("s") != self.symbol:
            return None
        if order.get("x") != "TRADE":
            return None
        what = "order update"
        report = TradeReport(
            client_order_id=str(order.get("c", "")), order_id=order.get("i"), trade_id=order.get("t"),
            side=str(order.get("S", "")), quantity=decimal_field(order, "l", what),
            price=decimal_field(order, "L", what), commission=decimal_field(order, "n", what, required=False),
            commission_asset=str(order.get("N") or self.asset),
            realized_pnl=decimal_field(order, "rp", what, required=False),
            time_ms=int(order.get("T") or message.get("T") or 0),
        )
        if report.side not in ("BUY", "SELL"):
            raise MalformedResponse(f"malformed ORDER_TRADE_UPDATE side: {str(message)[:120]}")
        fills = self._fills.setdefault(report.client_order_id, [])
        if any(r.trade_id == report.trade_id and report.trade_id is not None for r in fills):
            return None  # the same trade twice (a replayed message)
        fills.append(report)
        self._fills.move_to_end(report.client_order_id)
        while len(self._fills) > KEEP_ORDERS:
            self._fills.popitem(last=False)
        self._bump("fill")
        return "fill"

    def on_mark(self, message: dict) -> None:
        """A ``markPriceUpdate``: the mark every unrealised figure is computed from."""
        mark = decimal_field(message, "p", "mark price update")
        event_ms = message.get("E")
        if not isinstance(event_ms, int) or mark <= 0:
            raise MalformedResponse(f"malformed mark price update: {str(message)[:120]}")
        if event_ms < self.mark_time_ms:
            return
        self.mark, self.mark_time_ms = mark, event_ms
        self._bump("mark")

    # ------------------------------------------------------------------ reading
    def fills_of(self, client_order_id: str) -> OrderFills:
        return sum_fills(self._fills.get(client_order_id, ()))

    def take_funding(self) -> Decimal:
        """Funding settled since the last call (paid is negative), for one journal row."""
        funding, self.funding_pending = self.funding_pending, ZERO
        return funding

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.mark is None or self.position_qty == 0:
            return ZERO
        return (self.mark - self.entry_price) * self.position_qty

    def account_state(self) -> AccountState:
        if self.wallet is None:
            raise RuntimeError("the account book has no wallet yet: resync it from REST first")
        unrealized = self.unrealized_pnl
        equity = self.wallet + unrealized
        margin = abs(self.position_qty) * (self.mark or self.entry_price) / self.leverage
        return AccountState(self.wallet, equity, max(ZERO, equity - margin), unrealized)

    def position_state(self) -> PositionState:
        return PositionState(
            symbol=self.symbol, quantity=self.position_qty, entry_price=self.entry_price,
            mark_price=self.mark or ZERO, unrealized_pnl=self.unrealized_pnl,
            liquidation_price=self.liquidation_price, leverage=self.leverage,
        )
