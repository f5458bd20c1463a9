"""The simulated account and order book: validation, fills, resting limits, funding, reports.

Why: this is the part of Binance whose answers decide money. It validates an order
in Binance's order (symbol, side, type, quantity filters, reduce-only, margin,
duplicate client id) with Binance's codes, and moves money only through the shared
``FuturesAccount`` and checks sizes only through ``SymbolFilters``, the very rules
training, backtest and paper trading use. It knows nothing about HTTP: it takes
decoded parameters, raises ``ApiError``, returns order records and JSON-ready
reports, and hands user-stream events to a callback.

Simplifications (documented, not hidden): one symbol, one-way mode (positionSide
BOTH), cross margin only for the money (the margin type is recorded and reported),
every fill pays the account's single fee rate (no maker rebate), LIMIT supports GTC
only, a reduce-only order larger than the position fills just the position.

A MARKET order normally fills whole at the last price. When ``fill_fraction`` (the
fault injector's partial-fill switch) returns a fraction, it executes only that
share, rounded down to the step size, and then ends EXPIRED with ``executedQty`` <
``origQty`` - what Binance does with a MARKET order the book could not fully fill.
The user stream then says TRADE / PARTIALLY_FILLED, ACCOUNT_UPDATE, EXPIRED / EXPIRED.

Every change of the account is reported as Binance reports it: each execution as
``ORDER_TRADE_UPDATE`` (NEW, TRADE, CANCELED, EXPIRED), each fill and each funding
settlement as ``ACCOUNT_UPDATE`` (reason ORDER / FUNDING_FEE), a leverage change as
``ACCOUNT_CONFIG_UPDATE``, and entering the margin-call zone as ``MARGIN_CALL``
(``margin_call``); each fill and settlement is also written to the ``ledger``
(``userTrades``, ``income``). Wallet, commission, realised PnL and funding are shown
exactly (``formatting.exact``), valuations with 8 decimals.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from ..accounting import MAINTENANCE_MARGIN_RATE, Fill, FuturesAccount, opposes
from ..exchanges.filters import SymbolFilters
from .api_errors import ApiError, BinanceError
from .brackets import max_notional_for
from .formatting import compact, exact, fixed, money, shown_places
from .ledger import AccountLedger, TradeRow
from .margin_call import MarginCallWatch
from .orders import OrderRenderer, SimOrder

ZERO = Decimal("0")
MAX_LEVERAGE = 125
CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_DECIMAL_TEXT = re.compile(r"^-?([0-9]{1,20})(\.[0-9]{1,20})?$")
ACCOUNT_ALIAS = "SgsR"
ASSET = "USDT"

__all__ = ["SimulatedExchange", "max_notional_for"]


def _decimal_param(params: dict[str, str], name: str) -> Decimal:
    raw = params.get(name, "")
    if raw == "":
        raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, name)
    if not _DECIMAL_TEXT.match(raw):
        raise ApiError.of(BinanceError.ILLEGAL_CHARS, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ApiError.of(BinanceError.ILLEGAL_CHARS, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from None


def _bool_param(params: dict[str, str], name: str) -> bool:
    """Binance booleans are the strings "true"/"false" (python-binance sends a bare True as "True")."""
    raw = params.get(name, "false")
    if raw not in ("true", "false"):
        raise ApiError.of(BinanceError.INVALID_PARAMETER, name)
    return raw == "true"


class SimulatedExchange:
    """One account trading one symbol; all money through ``FuturesAccount``."""

    def __init__(
        self,
        symbol: str,
        filters: SymbolFilters,
        initial_balance: Decimal,
        fee_rate: Decimal,
        leverage: int,
        clock_ms: Callable[[], int],
        price: Callable[[], Decimal],
        emit: Callable[[dict], None],
        fill_fraction: Callable[[str], Decimal | None] | None = None,
    ) -> None:
        self.symbol = symbol
        self.filters = filters
        self.account = FuturesAccount(initial_balance, fee_rate, leverage)
        self.margin_type = "CROSSED"
        self.orders: dict[int, SimOrder] = {}
        self._by_client_id: dict[str, list[int]] = {}
        self._next_order_id = 4_000_000_001
        self._next_trade_id = 700_000_001
        self._clock_ms = clock_ms
        self._price = price
        self._emit = emit
        self._fill_fraction = fill_fraction or (lambda _client_order_id: None)
        self.update_ms = clock_ms()
        self.render = OrderRenderer(shown_places(filters.tick_size), shown_places(filters.step_size))
        self.ledger = AccountLedger(symbol, ASSET, self.render.price_text, self.render.qty_text,
                                    self.render.quote_text)
        self.margin_watch = MarginCallWatch()
        self.initial_balance = self.account.wallet_balance

    # ------------------------------------------------------------------ helpers

    @property
    def mark(self) -> Decimal:
        return self._price()

    def _check_symbol(self, params: dict[str, str], required: bool = True) -> None:
        symbol = params.get("symbol", "")
        if not symbol:
            if required:
                raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "symbol")
            return
        if symbol != self.symbol:
            raise ApiError(BinanceError.BAD_SYMBOL)

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.is_open]

    def find_order(self, params: dict[str, str]) -> SimOrder:
        """By ``orderId`` or the latest order with ``origClientOrderId``; -2013 if none."""
        self._check_symbol(params)
        order_id, client_id = params.get("orderId", ""), params.get("origClientOrderId", "")
        if not order_id and not client_id:
            raise ApiError(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        order = None
        if order_id:
            if not order_id.isdigit():
                raise ApiError.of(BinanceError.ILLEGAL_CHARS, "orderId", "^[0-9]{1,20}$")
            order = self.orders.get(int(order_id))
            if order is not None and client_id and order.client_order_id != client_id:
                order = None
        else:
            ids = self._by_client_id.get(client_id)
            order = self.orders[ids[-1]] if ids else None
        if order is None:
            raise ApiError(BinanceError.NO_SUCH_ORDER)
        return order

    # ------------------------------------------------------------------ orders

    def place_order(self, params: dict[str, str]) -> SimOrder:
        """Validate in Binance's order, then fill (MARKET, marketable LIMIT) or rest (LIMIT)."""
        self._check_symbol(params)
        side = params.get("side", "")
        if not side:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "side")
        if side not in ("BUY", "SELL"):
            raise ApiError(BinanceError.INVALID_SIDE)
        order_type = params.get("type", "")
        if not order_type:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "type")
        if order_type in CONDITIONAL_TYPES:
            raise ApiError(BinanceError.ALGO_ORDER_TYPE)
        if order_type not in ("MARKET", "LIMIT"):
            raise ApiError(BinanceError.INVALID_ORDER_TYPE)
        if params.get("positionSide", "BOTH") != "BOTH":
            raise ApiError(BinanceError.POSITION_SIDE_NOT_MATCH)
        reduce_only = _bool_param(params, "reduceOnly")
        resp_type = params.get("newOrderRespType", "ACK")
        if resp_type not in ("ACK", "RESULT"):
            raise ApiError.of(BinanceError.INVALID_PARAMETER, "newOrderRespType")
        quantity = _decimal_param(params, "quantity")
        mark = self.mark
        price = ZERO
        tif = "GTC"
        if order_type == "LIMIT":
            tif = params.get("timeInForce", "")
            if not tif:
                raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "timeInForce")
            if tif != "GTC":
                raise ApiError(BinanceError.INVALID_TIME_IN_FORCE, "Invalid timeInForce: the simulator rests LIMIT orders as GTC only.")
            price = _decimal_param(params, "price")
            if price <= 0:
                raise ApiError.of(BinanceError.INVALID_PARAMETER, "price")
            if self.filters.round_price(price) != price:
                raise ApiError(BinanceError.PRICE_NOT_ON_TICK)
        code = self.filters.check_market_order(quantity, price if order_type == "LIMIT" else mark, reduce_only)
        if code is not None:
            if code == BinanceError.MIN_NOTIONAL:
                raise ApiError.of(code, fixed(self.filters.min_notional))
            raise ApiError(code)
        signed = quantity if side == "BUY" else -quantity
        position = self.account.position_qty
        if reduce_only and not opposes(position, signed):
            raise ApiError(BinanceError.REDUCE_ONLY_REJECT)
        marketable = order_type == "MARKET" or (
            (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)
        )
        exec_price = mark if marketable else price
        fill_qty = min(quantity, abs(position)) if reduce_only else quantity
        fill_signed = fill_qty if side == "BUY" else -fill_qty
        if not self.account.can_afford(fill_signed, exec_price):
            raise ApiError(BinanceError.MARGIN_NOT_SUFFICIENT)
        client_id = params.get("newClientOrderId", "")
        if client_id:
            if not _CLIENT_ID.match(client_id):
                raise ApiError(BinanceError.INVALID_CLIENT_ORDER_ID)
            if any(self.orders[i].is_open for i in self._by_client_id.get(client_id, ())):
                raise ApiError(BinanceError.DUPLICATED_CLIENT_ORDER_ID)
        else:
            client_id = "x-" + secrets.token_hex(11)

        now = self._clock_ms()
        order = SimOrder(
            order_id=self._next_order_id, client_order_id=client_id, symbol=self.symbol, side=side,
            order_type=order_type, quantity=quantity, price=price, time_in_force=tif,
            reduce_only=reduce_only, created_ms=now, update_ms=now, resp_type=resp_type,
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self._by_client_id.setdefault(client_id, []).append(order.order_id)
        if not marketable:
            self._emit(self.render.trade_update(order, "NEW", now))
            return order
        fraction = self._fill_fraction(client_id) if order_type == "MARKET" else None
        if fraction is None:
            self._execute(order, fill_qty, exec_price, maker=False)
            return order
        part = self.filters.round_qty_down(fill_qty * fraction)
        if part > 0:
            self._execute(order, part, exec_price, maker=False, status="PARTIALLY_FILLED")
        if order.status != "EXPIRED":
            self._expire(order)
        return order

    def _expire(self, order: SimOrder) -> None:
        """End an order whose remainder will not execute (EXPIRED, what executed stays)."""
        order.status = "EXPIRED"
        order.update_ms = self._clock_ms()
        self._emit(self.render.trade_update(order, "EXPIRED", order.update_ms))

    def _execute(
        self, order: SimOrder, quantity: Decimal, price: Decimal, maker: bool, status: str = "FILLED",
    ) -> Fill | None:
        """Fill ``quantity`` of ``order`` at ``price`` through the shared accounting; the
        order's status becomes ``status`` (PARTIALLY_FILLED when more may follow)."""
        signed = quantity if order.side == "BUY" else -quantity
        closing = opposes(self.account.position_qty, signed)
        fill, _status = self.account.try_fill(signed, price)
        now = self._clock_ms()
        order.update_ms = now
        if fill is None:  # margin vanished while resting
            self._expire(order)
            return None
        order.executed_qty += quantity
        order.cum_quote += quantity * price
        order.avg_price = order.cum_quote / order.executed_qty
        order.fees.append(fill.fee)
        order.status = status
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        self.update_ms = now
        self.ledger.record_fill(TradeRow(trade_id, order.order_id, order.side, price, quantity, fill.fee,
                                         fill.realized_pnl, maker, now), closing)
        self._emit(self.render.trade_update(
            order, "TRADE", now, last_qty=quantity, last_price=price, fee=fill.fee,
            realized=fill.realized_pnl, trade_id=trade_id, maker=maker,
        ))
        self._emit(self.account_update("ORDER", now))
        self.check_margin()
        return fill

    def cancel_order(self, params: dict[str, str]) -> SimOrder:
        order = self.find_order(params)
        if not order.is_open:
            raise ApiError(BinanceError.CANCEL_REJECTED)
        self._cancel(order)
        return order

    def _cancel(self, order: SimOrder) -> None:
        now = self._clock_ms()
        order.status = "CANCELED"
        order.update_ms = now
        self._emit(self.render.trade_update(order, "CANCELED", now))

    def cancel_all(self, params: dict[str, str]) -> int:
        self._check_symbol(params)
        orders = self.open_orders()
        for order in orders:
            self._cancel(order)
        return len(orders)

    def match_resting(self, high: Decimal, low: Decimal) -> None:
        """Fill resting LIMIT orders the traded range [low, high] has reached, at their price."""
        for order in self.open_orders():
            if order.order_type != "LIMIT":
                continue
            crossed = low <= order.price if order.side == "BUY" else high >= order.price
            if not crossed:
                continue
            quantity = order.quantity
            if order.reduce_only:
                position = self.account.position_qty
                if not opposes(position, order.signed_quantity):
                    self._expire(order)
                    continue
                quantity = min(quantity, abs(position))
            self._execute(order, quantity, order.price, maker=True)

    def apply_funding(self, rate: Decimal, mark: Decimal) -> Decimal:
        """Settle one funding payment through the shared accounting; tells the user stream
        (``ACCOUNT_UPDATE`` FUNDING_FEE: only the balance, as Binance does for a cross
        position) and writes the FUNDING_FEE income. Returns what the account paid."""
        payment = self.account.apply_funding(rate, mark)
        if payment != 0:
            now = self._clock_ms()
            self.update_ms = now
            self.ledger.record_funding(-payment, now)
            event = self.account_update("FUNDING_FEE", now, balance_change=-payment)
            event["a"]["P"] = []
            self._emit(event)
            self.check_margin()
        return payment

    # ------------------------------------------------------------------ margin call

    def check_margin(self) -> bool:
        """Send ``MARGIN_CALL`` if the account has just entered the margin-call zone
        (``margin_call``); call after anything that moves the mark or the account."""
        n = self._position_numbers()
        if not self.margin_watch.crossed(n["qty"], n["mm"], self.account.equity(n["mark"])):
            return False
        self._emit(self.margin_call_event(self._clock_ms()))
        return True

    def margin_call_event(self, event_ms: int) -> dict:
        """``MARGIN_CALL`` (reference §7) for the one cross position."""
        n = self._position_numbers()
        return {
            "e": "MARGIN_CALL",
            "E": event_ms,
            "cw": exact(self.account.wallet_balance),
            "p": [{
                "s": self.symbol,
                "ps": "BOTH",
                "pa": fixed(n["qty"], shown_places(self.filters.step_size)),
                "mt": self.margin_type,
                "iw": "0",
                "mp": money(n["mark"]),
                "up": money(n["upnl"]),
                "mm": money(n["mm"]),
            }],
        }

    def commission_rate(self, params: dict[str, str]) -> dict:
        """``commissionRate``: maker and taker are the account's one fee rate."""
        self._check_symbol(params)
        rate = fixed(self.account.fee_rate, 4)
        return {"symbol": self.symbol, "makerCommissionRate": rate, "takerCommissionRate": rate}

    # ------------------------------------------------------------------ settings

    def change_leverage(self, params: dict[str, str]) -> dict:
        self._check_symbol(params)
        raw = params.get("leverage", "")
        if not raw:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LEVERAGE:
            raise ApiError(BinanceError.INVALID_LEVERAGE, f"Leverage {raw} is not valid")
        self.account.leverage = int(raw)
        now = self._clock_ms()
        self._emit({"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now,
                    "ac": {"s": self.symbol, "l": self.account.leverage}})
        return {"leverage": self.account.leverage,
                "maxNotionalValue": str(max_notional_for(self.account.leverage)), "symbol": self.symbol}

    def change_margin_type(self, params: dict[str, str]) -> dict:
        self._check_symbol(params)
        wanted = params.get("marginType", "").upper()
        if not wanted:
            raise ApiError.of(BinanceError.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "marginType")
        if wanted not in ("ISOLATED", "CROSSED"):
            raise ApiError.of(BinanceError.INVALID_PARAMETER, "marginType")
        if wanted == self.margin_type:
            raise ApiError(BinanceError.NO_NEED_TO_CHANGE_MARGIN_TYPE)
        if self.account.position_qty != 0 or self.open_orders():
            raise ApiError(BinanceError.MARGIN_TYPE_CHANGE_WITH_POSITION)
        self.margin_type = wanted
        return {"code": 200, "msg": "success"}

    @property
    def _mt(self) -> str:
        return "cross" if self.margin_type == "CROSSED" else "isolated"

    # ------------------------------------------------------------------ reports

    def _position_numbers(self) -> dict[str, Decimal]:
        acc, mark = self.account, self.mark
        notional = acc.position_notional(mark)
        return {
            "qty": acc.position_qty, "entry": acc.entry_price, "mark": mark,
            "upnl": acc.unrealized_pnl(mark), "notional": notional,
            "im": acc.initial_margin(mark), "mm": abs(notional) * MAINTENANCE_MARGIN_RATE,
        }

    def break_even(self) -> Decimal:
        """Entry moved by the opening fee, like Binance's ``breakEvenPrice``."""
        acc = self.account
        if acc.position_qty == 0:
            return ZERO
        sign = 1 if acc.position_qty > 0 else -1
        return acc.entry_price * (1 + sign * acc.fee_rate)

    def _totals(self) -> dict:
        acc, n = self.account, self._position_numbers()
        wallet = acc.wallet_balance
        available = acc.available_balance(n["mark"])
        return {
            "totalInitialMargin": money(n["im"]),
            "totalMaintMargin": money(n["mm"]),
            "totalWalletBalance": exact(wallet),
            "totalUnrealizedProfit": money(n["upnl"]),
            "totalMarginBalance": money(acc.equity(n["mark"])),
            "totalPositionInitialMargin": money(n["im"]),
            "totalOpenOrderInitialMargin": money(ZERO),
            "totalCrossWalletBalance": exact(wallet),
            "totalCrossUnPnl": money(n["upnl"]),
            "availableBalance": money(available),
            "maxWithdrawAmount": money(min(available, wallet)),
        }

    def _asset(self) -> dict:
        acc, n = self.account, self._position_numbers()
        available = acc.available_balance(n["mark"])
        return {
            "asset": "USDT",
            "walletBalance": exact(acc.wallet_balance),
            "unrealizedProfit": money(n["upnl"]),
            "marginBalance": money(acc.equity(n["mark"])),
            "maintMargin": money(n["mm"]),
            "initialMargin": money(n["im"]),
            "positionInitialMargin": money(n["im"]),
            "openOrderInitialMargin": money(ZERO),
            "crossWalletBalance": exact(acc.wallet_balance),
            "crossUnPnl": money(n["upnl"]),
            "availableBalance": money(available),
            "maxWithdrawAmount": money(min(available, acc.wallet_balance)),
            "marginAvailable": True,
            "updateTime": self.update_ms,
        }

    def account_v2(self) -> dict:
        n = self._position_numbers()
        body = {"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1}
        body.update(self._totals())
        body["assets"] = [self._asset()]
        body["positions"] = [{
            "symbol": self.symbol,
            "initialMargin": money(n["im"]),
            "maintMargin": money(n["mm"]),
            "unrealizedProfit": money(n["upnl"]),
            "positionInitialMargin": money(n["im"]),
            "openOrderInitialMargin": money(ZERO),
            "leverage": str(self.account.leverage),
            "isolated": self.margin_type == "ISOLATED",
            "entryPrice": compact(n["entry"]),
            "breakEvenPrice": compact(self.break_even()),
            "maxNotional": str(max_notional_for(self.account.leverage)),
            "bidNotional": "0",
            "askNotional": "0",
            "positionSide": "BOTH",
            "positionAmt": fixed(n["qty"], shown_places(self.filters.step_size)),
            "updateTime": self.update_ms,
        }]
        return body

    def account_v3(self) -> dict:
        n = self._position_numbers()
        body = self._totals()
        body["assets"] = [self._asset()]
        body["positions"] = [] if n["qty"] == 0 else [{
            "symbol": self.symbol,
            "positionSide": "BOTH",
            "positionAmt": fixed(n["qty"], shown_places(self.filters.step_size)),
            "unrealizedProfit": money(n["upnl"]),
            "isolatedMargin": money(ZERO),
            "notional": money(n["notional"]),
            "isolatedWallet": "0",
            "initialMargin": money(n["im"]),
            "maintMargin": money(n["mm"]),
            "updateTime": self.update_ms,
        }]
        return body

    def balance(self) -> list[dict]:
        acc, n = self.account, self._position_numbers()
        available = acc.available_balance(n["mark"])
        return [{
            "accountAlias": ACCOUNT_ALIAS,
            "asset": "USDT",
            "balance": exact(acc.wallet_balance),
            "crossWalletBalance": exact(acc.wallet_balance),
            "crossUnPnl": money(n["upnl"]),
            "availableBalance": money(available),
            "maxWithdrawAmount": money(min(available, acc.wallet_balance)),
            "marginAvailable": True,
            "updateTime": self.update_ms,
        }]

    def _liquidation(self) -> str:
        price = self.account.liquidation_price()
        return money(price) if price is not None else "0"

    def position_risk_v2(self, params: dict[str, str]) -> list[dict]:
        self._check_symbol(params, required=False)
        n = self._position_numbers()
        return [{
            "symbol": self.symbol,
            "positionAmt": fixed(n["qty"], shown_places(self.filters.step_size)),
            "entryPrice": compact(n["entry"]),
            "breakEvenPrice": compact(self.break_even()),
            "markPrice": money(n["mark"]),
            "unRealizedProfit": money(n["upnl"]),
            "liquidationPrice": self._liquidation(),
            "leverage": str(self.account.leverage),
            "maxNotionalValue": str(max_notional_for(self.account.leverage)),
            "marginType": self._mt,
            "isolatedMargin": money(ZERO),
            "isAutoAddMargin": "false",
            "positionSide": "BOTH",
            "notional": money(n["notional"]),
            "isolatedWallet": "0",
            "updateTime": self.update_ms,
        }]

    def position_risk_v3(self, params: dict[str, str]) -> list[dict]:
        self._check_symbol(params, required=False)
        n = self._position_numbers()
        if n["qty"] == 0 and not self.open_orders():
            return []
        return [{
            "symbol": self.symbol,
            "positionSide": "BOTH",
            "positionAmt": fixed(n["qty"], shown_places(self.filters.step_size)),
            "entryPrice": compact(n["entry"]),
            "breakEvenPrice": compact(self.break_even()),
            "markPrice": money(n["mark"]),
            "unRealizedProfit": money(n["upnl"]),
            "liquidationPrice": self._liquidation(),
            "isolatedMargin": money(ZERO),
            "notional": money(n["notional"]),
            "marginAsset": "USDT",
            "isolatedWallet": "0",
            "initialMargin": money(n["im"]),
            "maintMargin": money(n["mm"]),
            "positionInitialMargin": money(n["im"]),
            "openOrderInitialMargin": money(ZERO),
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": self.update_ms,
        }]

    def symbol_config(self, params: dict[str, str]) -> list[dict]:
        self._check_symbol(params, required=False)
        return [{"symbol": self.symbol, "marginType": self.margin_type, "isAutoAddMargin": "false",
                 "leverage": self.account.leverage,
                 "maxNotionalValue": str(max_notional_for(self.account.leverage))}]

    def account_update(self, reason: str, event_ms: int, balance_change: Decimal = ZERO) -> dict:
        """ACCOUNT_UPDATE with the USDT wallet and this symbol's position."""
        acc, n = self.account, self._position_numbers()
        return {
            "e": "ACCOUNT_UPDATE",
            "E": event_ms,
            "T": event_ms,
            "a": {
                "m": reason,
                "B": [{"a": "USDT", "wb": exact(acc.wallet_balance), "cw": exact(acc.wallet_balance),
                       "bc": exact(balance_change)}],
                "P": [{
                    "s": self.symbol,
                    "pa": fixed(n["qty"], shown_places(self.filters.step_size)),
                    "ep": compact(n["entry"]),
                    "bep": compact(self.break_even()),
                    "cr": exact(acc.realized_pnl),
                    "up": money(n["upnl"]),
                    "mt": self._mt,
                    "iw": "0",
                    "ps": "BOTH",
                    "ma": "USDT",
                }],
            },
        }
