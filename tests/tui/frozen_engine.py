"""A read-side double of the trading engine for screenshots: one fixed snapshot.

Why: snapshot tests need pixels that never change. The snapshot is built from real
candles of the shared BTCUSDT 1h file and fixed ``StepRecord``s made by the
engine's own ``record_step`` (so the table shows what a journal row holds), with
fixed times. The commands only change the state word, as the real ones would.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from trader_core.accounting import Fill
from trader_core.candles import Candle, load_candles
from trader_core.engine import EngineEvent, EngineSnapshot
from trader_core.exchanges.base import AccountState, PositionState
from trader_core.journal import EmergencyRecord
from trader_core.step_record import AccountFigures, record_step

FROZEN_MS = 1_717_243_200_000  # 2024-06-01T12:00:00Z: the header clock in every screenshot
TRAIN_ID = "train_BTCUSDT_20240301_20240601_lr3e-4_bs64_ws8_20240601_120000"
FIRST_ROW = 3600  # a fixed stretch of the real file (late May 2024)


def fixed_candles(path, count: int = 100) -> list[Candle]:
    frame = load_candles(path).iloc[FIRST_ROW:FIRST_ROW + count + 1]
    return [Candle(int(r.open_time), float(r.open), float(r.high), float(r.low), float(r.close), float(r.volume))
            for r in frame.itertuples(index=False)]


def fixed_steps(candles: list[Candle], count: int = 24):
    """Steps on the last ``count`` closed candles: a long opened, added to, then held."""
    steps = []
    position = D(0)
    equity = 10_000.0
    actions = [0.02, 0.41, 0.43, 0.12, -0.03, 0.61, 0.60, 0.58]
    for i, candle in enumerate(candles[-count:]):
        action = actions[i % len(actions)]
        target = 0.0 if abs(action) < 0.05 else round(action, 2)
        fill = None
        status = "SKIPPED:deadband" if target == 0.0 else "SKIPPED:on_target"
        if i in (5, 13, 21):
            qty = D("0.025") if i != 21 else D("-0.010")
            fill = Fill(qty, D(str(round(candle.close, 1))), D("0.48"), D(0), D(0), D(0))
            status = "FILLED"
            position += qty
        equity += (i % 5 - 2) * 3.7
        figures = AccountFigures(D("10000"), D(str(round(equity, 2))), D(str(round(equity - 10000, 2))),
                                 D("-1.44") if i > 13 else D(0), position, D("67850.4") if position else D(0))
        steps.append(record_step(
            candle=candle, interval_ms=3_600_000, raw_action=action, target_exposure=target, fill=fill,
            status=status, figures=figures, peak_equity=10_042.0, mode="sim", state="RUNNING",
            client_order_id="", decision_latency_ms=3.2 + (i % 4) * 0.45, time="2024-06-01T12:00:00Z",
        ))
    return steps


def fixed_events():
    t = FROZEN_MS - 3_600_000
    return (
        EngineEvent(t, "info", "start", "sim session on BTCUSDT 1h: ready"),
        EngineEvent(t + 900_000, "warning", "retry", "GET /fapi/v2/account timed out; retry 1 of 3 in 1.0s"),
        EngineEvent(t + 1_500_000, "warning", "reconnect", "market stream reconnected (ws://127.0.0.1/market)"),
        EngineEvent(t + 1_560_000, "warning", "catch-up", "2 candle(s) closed while disconnected; fetched from REST"),
        EngineEvent(t + 3_000_000, "error", "order", "order failed: -1001 internal error; disconnected"),
    )


def frozen_snapshot(candles_path, mode: str = "sim", state: str = "RUNNING", drawdown: float = 0.0031) -> EngineSnapshot:
    candles = fixed_candles(candles_path)
    closed, forming_source = candles[:-1], candles[-1]
    forming = Candle(forming_source.open_time, forming_source.open, max(forming_source.open, forming_source.close),
                     min(forming_source.open, forming_source.close), forming_source.close, forming_source.volume / 3)
    steps = fixed_steps(closed)
    last = steps[-1]
    mark = D(str(round(closed[-1].close, 1)))
    quantity = D(last.position_qty)
    entry = D("67850.4")
    position = PositionState("BTCUSDT", quantity, entry, mark, (mark - entry) * quantity, D("41230.5"), 3)
    account = AccountState(D("9998.56"), D(str(last.equity)), D("9100.00"), position.unrealized_pnl)
    stats = {
        "start_equity": 10_000.0, "steps": 212, "trades": 9, "fees": 4.3212, "realized_pnl": -1.44,
        "equity": last.equity, "peak_equity": 10_042.0, "max_drawdown": 0.0047, "pnl": last.equity - 10_000.0,
        "last_candle_open_time": last.candle_open_time, "uptime_s": 5_025.0,
    }
    return EngineSnapshot(
        mode=mode, symbol="BTCUSDT", interval="1h", train_id=TRAIN_ID, state=state, connected=True,
        market_age_s=0.4, candles=tuple(closed), forming=forming, steps=tuple(steps), events=fixed_events(),
        position=position, account=account, peak_equity=10_042.0, drawdown=drawdown, max_drawdown=0.15,
        stats=stats,
    )


class FrozenEngine:
    """Exposes ``snapshot`` and the four commands, like ``TradingEngine``; never trades."""

    def __init__(self, snapshot: EngineSnapshot) -> None:
        self._snapshot = snapshot
        self.flattens = 0
        self.stopped = False

    @property
    def snapshot(self) -> EngineSnapshot:
        return self._snapshot

    def pause(self) -> None:
        if self._snapshot.state == "RUNNING":
            self._snapshot = replace(self._snapshot, state="PAUSED")

    def resume(self) -> None:
        if self._snapshot.state == "PAUSED":
            self._snapshot = replace(self._snapshot, state="RUNNING")

    async def flatten(self) -> EmergencyRecord:
        self.flattens += 1
        before = self._snapshot.position
        flat = replace(before, quantity=D(0), unrealized_pnl=D(0))
        self._snapshot = replace(self._snapshot, position=flat, state="PAUSED")
        return EmergencyRecord(
            time="2024-06-01T12:00:00Z", trigger="operator_flatten", detail="operator asked to flatten all",
            equity=float(self._snapshot.account.equity), peak_equity=self._snapshot.peak_equity, drawdown=0.0,
            position_before=str(before.quantity), position_after="0", cancelled_orders=0, close_orders="",
            flat=True, state_after="PAUSED", mode=self._snapshot.mode,
        )

    def stop(self) -> None:
        self.stopped = True
