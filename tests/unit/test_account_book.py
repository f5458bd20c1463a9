"""The pushed account: every message type changes the book as Binance means it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trader_core.errors import MalformedResponse
from trader_core.exchanges.account_book import AccountBook
from trader_core.exchanges.base import AccountState, PositionState


def account_update(wallet, qty, entry, reason="ORDER", t=2_000, change="0"):
    return {"e": "ACCOUNT_UPDATE", "E": t, "T": t, "a": {"m": reason,
            "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": change}],
            "P": [{"s": "BTCUSDT", "pa": qty, "ep": entry, "bep": entry, "cr": "0", "up": "0", "mt": "cross",
                   "iw": "0", "ps": "BOTH", "ma": "USDT"}]}}


def trade(cid, side, qty, price, fee, rp, trade_id, status="FILLED"):
    return {"e": "ORDER_TRADE_UPDATE", "E": 3_000, "T": 3_000, "o": {
        "s": "BTCUSDT", "c": cid, "S": side, "o": "MARKET", "x": "TRADE", "X": status, "i": 9, "l": qty,
        "L": price, "z": qty, "n": fee, "N": "USDT", "rp": rp, "t": trade_id, "T": 3_000}}


def synced_book():
    book = AccountBook("BTCUSDT", leverage=2)
    book.resync(AccountState(D("10000"), D("10000"), D("10000"), D(0), update_time_ms=1_000),
                PositionState("BTCUSDT", D(0), D(0), D("50000"), D(0), update_time_ms=500))
    return book


def test_a_fill_and_its_account_update_move_the_book():
    book = synced_book()
    book.apply(trade("sac-a-1-t", "BUY", "0.1", "50000", "2.5", "0", 1))
    book.apply(account_update("9997.5", "0.1", "50000"))
    book.on_mark({"e": "markPriceUpdate", "E": 4_000, "s": "BTCUSDT", "p": "49000"})
    account, position = book.account_state(), book.position_state()
    assert position.quantity == D("0.1") and position.entry_price == D("50000")
    assert account.unrealized_pnl == D("-100") and account.equity == D("9897.5")
    assert account.available_balance == D("9897.5") - D("0.1") * D("49000") / 2
    fills = book.fills_of("sac-a-1-t")
    assert fills.quantity == D("0.1") and fills.commission == D("2.5") and fills.average_price == D("50000")


def test_a_replayed_trade_is_counted_once_and_partial_fills_add_up():
    book = synced_book()
    for message in (trade("c", "SELL", "0.04", "50000", "1", "3", 7), trade("c", "SELL", "0.04", "50000", "1", "3", 7),
                    trade("c", "SELL", "0.06", "50010", "1.5", "4", 8)):
        book.apply(message)
    fills = book.fills_of("c")
    assert fills.quantity == D("-0.10") and fills.commission == D("2.5") and fills.realized_pnl == D("7")
    assert fills.average_price == (D("0.04") * 50000 + D("0.06") * 50010) / D("0.10")


def test_funding_is_taken_once_for_the_journal():
    book = synced_book()
    book.apply(account_update("9990", "0", "0", reason="FUNDING_FEE", change="-10"))
    assert book.take_funding() == D("-10") and book.take_funding() == 0 and book.funding_total == D("-10")
    assert book.wallet == D("9990")


def test_an_update_older_than_the_rest_resync_is_ignored():
    book = synced_book()
    book.apply(account_update("123", "5", "1", t=999))  # before the snapshot taken at 1,000
    assert book.wallet == D("10000") and book.position_qty == 0


def test_margin_calls_and_config_updates_are_counted():
    book = synced_book()
    kinds = []
    book.subscribe(kinds.append)
    book.apply({"e": "MARGIN_CALL", "E": 5_000, "cw": "3", "p": []})
    book.apply({"e": "ACCOUNT_CONFIG_UPDATE", "E": 5_000, "ac": {"s": "BTCUSDT", "l": 5}})
    assert book.margin_calls == 1 and book.leverage == 5 and kinds == ["margin_call", "account"]


@pytest.mark.parametrize("message", [
    {"e": "ACCOUNT_UPDATE", "E": 2_000, "T": 2_000, "a": {"B": [{"a": "USDT", "wb": "abc"}]}},
    {"e": "ACCOUNT_UPDATE", "E": 2_000, "T": 2_000, "a": []},
    {"e": "ORDER_TRADE_UPDATE", "E": 3_000, "o": {"s": "BTCUSDT", "x": "TRADE", "S": "UP", "l": "1", "L": "1"}},
])
def test_malformed_messages_raise_and_change_nothing(message):
    book = synced_book()
    with pytest.raises(MalformedResponse):
        book.apply(message)
    assert book.wallet == D("10000") and book.position_qty == 0


async def test_waiting_for_a_fill_wakes_on_the_message():
    import asyncio

    book = synced_book()

    async def later():
        await asyncio.sleep(0.01)
        book.apply(trade("w", "BUY", "0.1", "50000", "2.5", "0", 1))

    task = asyncio.ensure_future(later())
    assert await book.wait_until(lambda: book.fills_of("w").quantity == D("0.1"), 5.0)
    await task
    assert not await book.wait_until(lambda: book.fills_of("nope").quantity > 0, 0.05)
