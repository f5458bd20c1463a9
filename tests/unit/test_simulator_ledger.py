"""The account ledger: entries per fill and settlement, and Binance's query windows."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.simulator.api_errors import ApiError, BinanceError
from trader_core.simulator.ledger import WEEK_MS, AccountLedger, TradeRow


def ledger() -> AccountLedger:
    return AccountLedger("BTCUSDT", "USDT", lambda p: f"{p:.2f}", lambda q: f"{q:.3f}", lambda x: f"{x:.5f}")


def fill(trade_id: int, time_ms: int, fee: str = "0.2", realized: str = "0", side: str = "BUY") -> TradeRow:
    return TradeRow(trade_id, 10 + trade_id, side, D("41721.2"), D("0.010"), D(fee), D(realized), False, time_ms)


def test_entries_per_fill_and_settlement_sum_to_the_money_moved():
    book = ledger()
    book.record_fill(fill(1, 1_000), closing=False)  # opening: commission only
    book.record_fill(fill(2, 2_000, realized="-0.3052", side="SELL"), closing=True)
    book.record_fill(fill(3, 3_000, fee="0", realized="0", side="SELL"), closing=True)  # no fee: no COMMISSION
    book.record_funding(D("-0.000005123456789"), 4_000)
    assert [(r.income_type, r.trade_id) for r in book.income] == [
        ("COMMISSION", "1"), ("REALIZED_PNL", "2"), ("COMMISSION", "2"), ("REALIZED_PNL", "3"), ("FUNDING_FEE", "")]
    assert book.total_income() == D("-0.2") - D("0.3052") - D("0.2") - D("0.000005123456789")
    rows = book.income_history({"startTime": "0"}, now_ms=5_000)
    assert rows[-1]["income"] == "-0.000005123456789"  # exact, never rounded to 8 decimals
    assert sum(D(r["income"]) for r in rows) == book.total_income()
    assert len({r["tranId"] for r in rows}) == 5


def test_user_trades_windows_and_refusals():
    book = ledger()
    for i in range(5):
        book.record_fill(fill(i + 1, i * 1_000), closing=False)
    now = 10_000
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(book.user_trades({}, now)) == [1, 2, 3, 4, 5]
    assert ids(book.user_trades({"limit": "2"}, now)) == [4, 5]  # no start: the latest
    assert ids(book.user_trades({"startTime": "1000", "limit": "2"}, now)) == [2, 3]
    assert ids(book.user_trades({"endTime": "1500"}, now)) == [1, 2]
    assert ids(book.user_trades({"fromId": "4"}, now)) == [4, 5]
    assert ids(book.user_trades({"orderId": "13"}, now)) == [3]
    assert book.user_trades({}, now + WEEK_MS) == []  # older than a week: outside the default window
    for params, code in (({"fromId": "1", "startTime": "0"}, BinanceError.OPTIONAL_PARAMS_BAD_COMBO),
                         ({"startTime": "0", "endTime": str(WEEK_MS + 1)}, BinanceError.LOOKUP_INTERVAL_TOO_BIG),
                         ({"limit": "0"}, BinanceError.INVALID_PARAMETER),
                         ({"limit": "1001"}, BinanceError.INVALID_PARAMETER),
                         ({"fromId": "x"}, BinanceError.ILLEGAL_CHARS)):
        with pytest.raises(ApiError) as refused:
            book.user_trades(params, now)
        assert refused.value.code == code, params


def test_income_pages_and_types():
    book = ledger()
    for i in range(7):
        book.record_fill(fill(i + 1, i * 1_000), closing=False)
    tran = lambda rows: [r["tradeId"] for r in rows]  # noqa: E731
    assert tran(book.income_history({"startTime": "0", "limit": "3"}, 10_000)) == ["1", "2", "3"]
    assert tran(book.income_history({"startTime": "0", "limit": "3", "page": "2"}, 10_000)) == ["4", "5", "6"]
    assert tran(book.income_history({"limit": "3"}, 10_000)) == ["5", "6", "7"]
    assert book.income_history({"incomeType": "FUNDING_FEE"}, 10_000) == []
    assert len(book.income_history({}, 10_000)) == 7  # default limit 100
