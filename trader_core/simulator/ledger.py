"""The account's history: every fill and every income entry, as ``userTrades`` and ``income`` answer.

Why: a client journals fees, realised PnL and funding as the exchange reports them,
and reconciles what the user stream pushed against these two REST lists after a
reconnect. So each entry is written once, at the moment the money moved, from the
very ``Fill`` / funding payment ``FuturesAccount`` produced - nothing here computes
money - and both lists render from it. The sum of ``income`` (REALIZED_PNL +
COMMISSION + FUNDING_FEE) is then the wallet's change since the start, exactly.

Entries (Binance's rules, reference §7):

* a fill: one ``userTrades`` row; a COMMISSION income (negative: paid) when a
  commission was charged; a REALIZED_PNL income when the fill closed some of the
  position (an opening fill realises nothing and gets none; a closing fill at the
  entry price gets a zero entry, so "one per closing fill" holds).
* a funding settlement with a position: one FUNDING_FEE income, negative when paid.
* times are the server clock (orders, fills and user-stream events share it).
* ``tranId`` is unique across the account's income, ``tradeId`` is the fill's trade
  id as a string ("" for funding), ``info`` is the income type's name.

Queries keep Binance's windows: ``userTrades`` returns the last 7 days when given
no time, refuses a window over 7 days (-1127) and ``fromId`` with a time (-1128);
``income`` returns the last 7 days when given no time. Both answer ascending in
time; with ``startTime`` the first ``limit`` from it, otherwise the latest ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .api_errors import ApiError, BinanceError
from .formatting import exact

WEEK_MS = 7 * 24 * 3_600_000
DEFAULT_TRADES_LIMIT, MAX_TRADES_LIMIT = 500, 1000
DEFAULT_INCOME_LIMIT, MAX_INCOME_LIMIT = 100, 1000


@dataclass(frozen=True)
class TradeRow:
    """One fill of one order."""

    trade_id: int
    order_id: int
    side: str  # BUY / SELL
    price: Decimal
    qty: Decimal
    commission: Decimal  # paid, >= 0
    realized_pnl: Decimal
    maker: bool
    time_ms: int


@dataclass(frozen=True)
class IncomeRow:
    tran_id: int
    income_type: str  # REALIZED_PNL / COMMISSION / FUNDING_FEE
    income: Decimal  # signed: what the wallet received (paid is negative)
    trade_id: str
    time_ms: int


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return None
    if not raw.isdigit():
        raise ApiError.of(BinanceError.ILLEGAL_CHARS, name, "^[0-9]{1,20}$")
    return int(raw)


def _limit(params: dict[str, str], default: int, largest: int) -> int:
    limit = _int_param(params, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= largest:
        raise ApiError.of(BinanceError.INVALID_PARAMETER, "limit")
    return limit


def _window(rows: list, start: int | None, limit: int, page: int = 1) -> list:
    """``rows`` are already filtered: the first ``limit`` (page ``page``) with a start, else the latest."""
    if start is not None:
        skip = (page - 1) * limit
        return rows[skip:skip + limit]
    end = len(rows) - (page - 1) * limit
    return rows[max(0, end - limit):max(0, end)]


class AccountLedger:
    """Fills and income entries of one account trading one symbol."""

    def __init__(self, symbol: str, asset: str, render_price: Callable[[Decimal], str],
                 render_qty: Callable[[Decimal], str], render_quote: Callable[[Decimal], str]) -> None:
        self.symbol = symbol
        self.asset = asset
        self.trades: list[TradeRow] = []
        self.income: list[IncomeRow] = []
        self._next_tran_id = 9_689_000_001
        self._p, self._q, self._quote = render_price, render_qty, render_quote

    # ------------------------------------------------------------------ recording

    def _add_income(self, income_type: str, amount: Decimal, trade_id: str, time_ms: int) -> None:
        self.income.append(IncomeRow(self._next_tran_id, income_type, amount, trade_id, time_ms))
        self._next_tran_id += 1

    def record_fill(self, row: TradeRow, closing: bool) -> None:
        """A fill, and the income it made: COMMISSION when charged, REALIZED_PNL when ``closing``."""
        self.trades.append(row)
        if closing:
            self._add_income("REALIZED_PNL", row.realized_pnl, str(row.trade_id), row.time_ms)
        if row.commission != 0:
            self._add_income("COMMISSION", -row.commission, str(row.trade_id), row.time_ms)

    def record_funding(self, received: Decimal, time_ms: int) -> None:
        """One settlement: ``received`` is the wallet's change (paid is negative)."""
        self._add_income("FUNDING_FEE", received, "", time_ms)

    def total_income(self) -> Decimal:
        return sum((row.income for row in self.income), Decimal(0))

    # ------------------------------------------------------------------ GET /fapi/v1/userTrades

    def user_trades(self, params: dict[str, str], now_ms: int) -> list[dict]:
        limit = _limit(params, DEFAULT_TRADES_LIMIT, MAX_TRADES_LIMIT)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        from_id, order_id = _int_param(params, "fromId"), _int_param(params, "orderId")
        rows = self.trades
        if order_id is not None:
            rows = [r for r in rows if r.order_id == order_id]
        if from_id is not None:
            if start is not None or end is not None:
                raise ApiError(BinanceError.OPTIONAL_PARAMS_BAD_COMBO)
            return [self._trade(r) for r in rows if r.trade_id >= from_id][:limit]
        if start is not None and end is not None and end - start > WEEK_MS:
            raise ApiError.of(BinanceError.LOOKUP_INTERVAL_TOO_BIG, WEEK_MS // 3_600_000)
        if start is None and end is None and order_id is None:
            start_bound, end_bound = now_ms - WEEK_MS, now_ms
        else:
            start_bound = start if start is not None else (end - WEEK_MS if end is not None else None)
            end_bound = end if end is not None else (start + WEEK_MS if start is not None else None)
        rows = [r for r in rows if (start_bound is None or r.time_ms >= start_bound)
                and (end_bound is None or r.time_ms <= end_bound)]
        return [self._trade(r) for r in _window(rows, start, limit)]

    def _trade(self, r: TradeRow) -> dict:
        return {
            "buyer": r.side == "BUY",
            "commission": exact(r.commission),
            "commissionAsset": self.asset,
            "id": r.trade_id,
            "maker": r.maker,
            "orderId": r.order_id,
            "price": self._p(r.price),
            "qty": self._q(r.qty),
            "quoteQty": self._quote(r.qty * r.price),
            "realizedPnl": exact(r.realized_pnl),
            "side": r.side,
            "positionSide": "BOTH",
            "symbol": self.symbol,
            "time": r.time_ms,
            "marginAsset": self.asset,
        }

    # ------------------------------------------------------------------ GET /fapi/v1/income

    def income_history(self, params: dict[str, str], now_ms: int) -> list[dict]:
        limit = _limit(params, DEFAULT_INCOME_LIMIT, MAX_INCOME_LIMIT)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        page = _int_param(params, "page") or 1
        wanted = params.get("incomeType", "")
        if start is None and end is None:
            start_bound, end_bound = now_ms - WEEK_MS, None
        else:
            start_bound, end_bound = start, end
        rows = [r for r in self.income if (not wanted or r.income_type == wanted)
                and (start_bound is None or r.time_ms >= start_bound)
                and (end_bound is None or r.time_ms <= end_bound)]
        return [self._income(r) for r in _window(rows, start, limit, page)]

    def _income(self, r: IncomeRow) -> dict:
        return {
            "symbol": self.symbol,
            "incomeType": r.income_type,
            "income": exact(r.income),
            "asset": self.asset,
            "info": r.income_type,
            "time": r.time_ms,
            "tranId": r.tran_id,
            "tradeId": r.trade_id,
        }
