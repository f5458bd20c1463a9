"""Hand-computed checks of the shared futures accounting (trader_core.accounting)."""

from decimal import Decimal as D

import pytest

from trader_core.accounting import AccountSnapshot, Fill, FuturesAccount


def test_open_charges_taker_fee_and_sets_entry():
    acct = FuturesAccount(D("10000"))  # default fee_rate 0.0005, leverage 1
    fill = acct.fill(D("0.1"), D("50000"))
    # notional = 0.1 * 50000 = 5000; fee = 5000 * 0.0005 = 2.5
    assert isinstance(fill, Fill)
    assert fill.fee == D("2.5")
    assert fill.notional == D("5000")
    assert fill.side == "BUY"
    assert fill.realized_pnl == 0
    assert fill.position_after == D("0.1")
    assert fill.entry_price_after == D("50000")
    # wallet = 10000 - 2.5 = 9997.5
    assert acct.wallet_balance == D("9997.5")
    assert acct.position_qty == D("0.1")
    assert acct.entry_price == D("50000")
    assert acct.fees_paid == D("2.5")
    assert acct.realized_pnl == 0
    assert acct.trade_count == 1


def test_entry_price_is_volume_weighted_after_two_adds():
    acct = FuturesAccount(D("10000"))
    acct.fill(D("0.1"), D("50000"))  # fee 0.1*50000*0.0005 = 2.5
    acct.fill(D("0.3"), D("60000"))  # fee 0.3*60000*0.0005 = 9
    # entry = (0.1*50000 + 0.3*60000) / 0.4 = (5000 + 18000) / 0.4 = 57500
    assert acct.entry_price == D("57500")
    assert acct.position_qty == D("0.4")
    # fees = 2.5 + 9 = 11.5; wallet = 10000 - 11.5 = 9988.5 (adding realises nothing)
    assert acct.fees_paid == D("11.5")
    assert acct.wallet_balance == D("9988.5")
    assert acct.realized_pnl == 0
    assert acct.trade_count == 2


def test_partial_close_then_full_close():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"))
    acct.fill(D("1"), D("100"))  # fee 1*100*0.001 = 0.1 -> wallet 999.9

    part = acct.fill(D("-0.4"), D("110"))
    # realized = (110 - 100) * 0.4 * (+1) = 4; fee = 0.4*110*0.001 = 0.044
    # wallet = 999.9 + 4 - 0.044 = 1003.856; entry unchanged on a reduce
    assert part.side == "SELL"
    assert part.realized_pnl == D("4")
    assert part.fee == D("0.044")
    assert acct.wallet_balance == D("1003.856")
    assert acct.position_qty == D("0.6")
    assert acct.entry_price == D("100")

    full = acct.fill(D("-0.6"), D("90"))
    # realized = (90 - 100) * 0.6 = -6; fee = 0.6*90*0.001 = 0.054
    # wallet = 1003.856 - 6 - 0.054 = 997.802 (= 1000 + (4 - 6) - 0.198)
    assert full.realized_pnl == D("-6")
    assert full.fee == D("0.054")
    assert full.position_after == 0
    assert full.entry_price_after == 0
    assert acct.wallet_balance == D("997.802")
    assert acct.position_qty == 0
    assert acct.entry_price == 0
    assert acct.realized_pnl == D("-2")  # 4 - 6
    assert acct.fees_paid == D("0.198")  # 0.1 + 0.044 + 0.054
    assert acct.trade_count == 3


def test_flip_long_to_short_closes_old_and_opens_remainder_at_fill_price():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"))
    acct.fill(D("1"), D("100"))  # fee 0.1 -> wallet 999.9
    flip = acct.fill(D("-3"), D("120"))
    # the whole long closes: realized = (120 - 100) * 1 = 20
    # fee on the full 3: 3*120*0.001 = 0.36
    # wallet = 999.9 + 20 - 0.36 = 1019.54; remainder -2 opened at 120
    assert flip.realized_pnl == D("20")
    assert flip.fee == D("0.36")
    assert flip.position_after == D("-2")
    assert flip.entry_price_after == D("120")
    assert acct.position_qty < 0
    assert acct.position_qty == D("-2")
    assert acct.entry_price == D("120")
    assert acct.wallet_balance == D("1019.54")
    # the new short gains when price falls: (110 - 120) * -2 = +20
    assert acct.unrealized_pnl(D("110")) == D("20")


def test_short_pnl_unrealized_and_realized():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"))
    acct.fill(D("-2"), D("100"))  # fee 2*100*0.001 = 0.2 -> wallet 999.8
    assert acct.entry_price == D("100")
    # unrealized at 90 = (90 - 100) * -2 = +20; at 105 = (105 - 100) * -2 = -10
    assert acct.unrealized_pnl(D("90")) == D("20")
    assert acct.unrealized_pnl(D("105")) == D("-10")
    close = acct.fill(D("2"), D("95"))
    # realized = (95 - 100) * 2 * sign(-2) = +10; fee = 2*95*0.001 = 0.19
    # wallet = 999.8 + 10 - 0.19 = 1009.61
    assert close.realized_pnl == D("10")
    assert acct.wallet_balance == D("1009.61")
    assert acct.position_qty == 0


def test_funding_paid_by_long_and_received_by_short():
    long_acct = FuturesAccount(D("1000"), fee_rate=D("0"))
    long_acct.fill(D("1"), D("100"))
    paid = long_acct.apply_funding(D("0.0001"), D("200"))
    # payment = 1 * 200 * 0.0001 = 0.02, paid out by the long
    assert paid == D("0.02")
    assert long_acct.wallet_balance == D("999.98")
    assert long_acct.funding_paid == D("0.02")

    short_acct = FuturesAccount(D("1000"), fee_rate=D("0"))
    short_acct.fill(D("-2"), D("100"))
    received = short_acct.apply_funding(D("0.0001"), D("100"))
    # payment = -2 * 100 * 0.0001 = -0.02 -> the short receives 0.02
    assert received == D("-0.02")
    assert short_acct.wallet_balance == D("1000.02")
    assert short_acct.funding_paid == D("-0.02")

    flat = FuturesAccount(D("1000"))
    assert flat.apply_funding(D("0.0001"), D("100")) == 0
    assert flat.wallet_balance == D("1000")
    assert flat.funding_paid == 0


def test_equity_initial_margin_and_available_at_mark():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"), leverage=5)
    acct.fill(D("2"), D("100"))  # fee 0.2 -> wallet 999.8
    mark = D("110")
    # unrealized = (110 - 100) * 2 = 20; equity = 999.8 + 20 = 1019.8
    # initial margin = 2 * 110 / 5 = 44; available = 1019.8 - 44 = 975.8
    assert acct.unrealized_pnl(mark) == D("20")
    assert acct.equity(mark) == D("1019.8")
    assert acct.position_notional(mark) == D("220")
    assert acct.initial_margin(mark) == D("44")
    assert acct.available_balance(mark) == D("975.8")

    snap = acct.snapshot(mark)
    assert isinstance(snap, AccountSnapshot)
    assert snap == AccountSnapshot(
        wallet_balance=D("999.8"), equity=D("1019.8"), unrealized_pnl=D("20"),
        available_balance=D("975.8"), position_qty=D("2"), entry_price=D("100"),
        mark_price=D("110"), realized_pnl=D("0"), fees_paid=D("0.2"),
        funding_paid=D("0"), trade_count=1,
    )


def test_available_balance_is_clamped_at_zero():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"), leverage=1)
    acct.fill(D("10"), D("100"))  # fee 1 -> wallet 999
    # equity at 100 = 999; initial margin = 10*100/1 = 1000; 999 - 1000 = -1 -> 0
    assert acct.equity(D("100")) == D("999")
    assert acct.available_balance(D("100")) == 0


def test_margin_required_counts_only_the_opening_part():
    acct = FuturesAccount(D("1000"), fee_rate=D("0.001"), leverage=2)
    # from flat: 1 * 100 / 2 = 50 margin + 1*100*0.001 = 0.1 fee -> 50.1
    assert acct.margin_required(D("1"), D("100")) == D("50.1")
    acct.fill(D("1"), D("100"))
    # reducing 0.5: fee only, 0.5*100*0.001 = 0.05
    assert acct.margin_required(D("-0.5"), D("100")) == D("0.05")
    # flip by selling 3: remainder 2 needs 2*100/2 = 100, fee 3*100*0.001 = 0.3 -> 100.3
    assert acct.margin_required(D("-3"), D("100")) == D("100.3")


def test_can_afford_rejects_insufficient_margin():
    acct = FuturesAccount(D("100"), fee_rate=D("0.0005"), leverage=2)
    # 1 @ 150: 150/2 + 150*0.0005 = 75 + 0.075 = 75.075 <= 100 -> affordable
    assert acct.can_afford(D("1"), D("150"))
    # 2 @ 100: 200/2 + 200*0.0005 = 100 + 0.1 = 100.1 > 100 -> not affordable
    assert acct.margin_required(D("2"), D("100")) == D("100.1")
    assert not acct.can_afford(D("2"), D("100"))


def test_can_afford_reducing_order_even_with_tiny_balance():
    acct = FuturesAccount(D("11"), fee_rate=D("0.0005"), leverage=10)
    acct.fill(D("1"), D("100"))  # fee 0.05 -> wallet 10.95
    # equity at 100 = 10.95; IM = 1*100/10 = 10; available = 0.95
    assert acct.available_balance(D("100")) == D("0.95")
    # adding 0.1: 0.1*100/10 + 0.1*100*0.0005 = 1 + 0.005 = 1.005 > 0.95
    assert not acct.can_afford(D("0.1"), D("100"))
    # closing the whole long needs no margin
    assert acct.can_afford(D("-1"), D("100"))
    assert acct.can_afford(D("-0.5"), D("100"))
    # a flip is judged after its closing part frees the long's margin (10):
    # -1.2 needs 0.2*100/10 + 1.2*100*0.0005 = 2 + 0.06 = 2.06 <= 0.95 + 10 -> affordable
    assert acct.can_afford(D("-1.2"), D("100"))
    # -3 needs 2*100/10 + 3*100*0.0005 = 20 + 0.15 = 20.15 > 10.95 -> -2019
    assert not acct.can_afford(D("-3"), D("100"))


def test_reducing_order_affordable_when_available_is_zero():
    acct = FuturesAccount(D("10"), fee_rate=D("0.0005"), leverage=10)
    acct.fill(D("1"), D("100"))  # fee 0.05 -> wallet 9.95
    # at 95: equity = 9.95 + (95 - 100) * 1 = 4.95; IM = 9.5 -> available 0
    assert acct.available_balance(D("95")) == 0
    # Binance lets a losing position be closed whatever the balance
    assert acct.can_afford(D("-1"), D("95"))
    assert not acct.can_afford(D("0.001"), D("95"))


def test_liquidation_price_estimates():
    acct = FuturesAccount(D("1000"), fee_rate=D("0"), leverage=10)
    assert acct.liquidation_price() is None  # flat
    acct.fill(D("1"), D("10000"))
    # long: 1000 + (p - 10000) * 1 = 0.004 * 1 * p  ->  p = 9000 / 0.996
    liq = acct.liquidation_price()
    assert liq == D("9000") / D("0.996")
    assert D("9036") < liq < D("9037")

    short = FuturesAccount(D("1000"), fee_rate=D("0"), leverage=10)
    short.fill(D("-1"), D("10000"))
    # short: 1000 + (p - 10000) * -1 = 0.004 * 1 * p  ->  p = 11000 / 1.004
    assert short.liquidation_price() == D("11000") / D("1.004")

    safe = FuturesAccount(D("20000"), fee_rate=D("0"))
    safe.fill(D("1"), D("10000"))
    # p = (20000 - 10000) / (0.004 - 1) < 0 -> never liquidated
    assert safe.liquidation_price() is None


def test_fill_zero_raises_and_floats_are_refused():
    acct = FuturesAccount(D("1000"))
    with pytest.raises(ValueError):
        acct.fill(D("0"), D("100"))
    with pytest.raises(TypeError):
        acct.fill(0.1, D("100"))  # type: ignore[arg-type]
    assert acct.trade_count == 0
    assert acct.wallet_balance == D("1000")


def test_one_drawdown_rule_for_every_peak():
    from trader_core.accounting import drawdown, drawdown_reached

    assert drawdown(D("9000"), D("10000")) == pytest.approx(0.1)
    assert drawdown(11_000.0, 10_000.0) == 0.0  # above the peak: nothing lost
    assert drawdown(10_000.0, 0.0) == 0.0  # no peak yet: the equity is the peak
    assert drawdown(0.0, 0.0) == 1.0 and drawdown(-5.0, 10.0) == 1.0 + 0.5  # everything (and more) lost
    assert drawdown(D("-1"), D("0")) == 1.0
    assert drawdown_reached(D("9000"), D("10000"), 0.1) and not drawdown_reached(D("9000.01"), D("10000"), 0.1)
    assert drawdown_reached(0.0, 0.0, 0.5) and not drawdown_reached(10_000.0, 0.0, 0.5)


def test_reduces_opposes_and_the_margin_an_order_needs():
    from trader_core.accounting import affordable, margin_required, opening_quantity, opposes, reduces

    assert reduces(D("0.5"), D("-0.2")) and reduces(D("0.5"), D("-0.5")) and not reduces(D("0.5"), D("-0.7"))
    assert not reduces(D("0"), D("-0.1")) and not reduces(D("0.5"), D("0.1"))
    assert opposes(D("-0.5"), D("0.7")) and not opposes(D("0"), D("1"))
    assert opening_quantity(D("0.5"), D("-0.7")) == D("0.2") and opening_quantity(D("0.5"), D("0.1")) == D("0.1")
    # 0.2 BTC opening at 50,000 with leverage 2 and fee 0.05 % of the whole 0.7 traded
    assert margin_required(D("0.5"), D("-0.7"), D("50000"), 2, D("0.0005")) == D("5000") + D("17.5")
    assert affordable(D("0.5"), D("-0.5"), D("50000"), 2, D("0.0005"), D("0"))  # a close always fits
    # a flip frees the closed side's margin (12,500) before the remainder is checked
    assert affordable(D("0.5"), D("-0.7"), D("50000"), 2, D("0.0005"), D("0")) is True
    assert not affordable(D("0"), D("0.7"), D("50000"), 2, D("0.0005"), D("17000"))
