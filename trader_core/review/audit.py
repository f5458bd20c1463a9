"""The live-vs-model audit: did the session do what the model, on the backtest path, would have done?

Why: decisions that differ between backtest and live are found by accident on other
platforms. Here every session can be checked: its own journaled candles go through the
backtest path - ``TradingEngine`` on the in-process paper exchange, the very code of
``sactui backtest`` - after the same warm-up history, and each replayed row is compared
with the journal's row for that candle: action, target exposure, order (side, quantity,
status), and the fill price beside it.

Before each candle the paper account is set to the state the live session was in when
it decided (position, entry, wallet, the drawdown guard's peak, all read back from the
journal row), so a difference on one candle - an F9, a rejected order, a fill at another
price - never spills into the next: each row is judged on its own. A difference is then
explained from what the journal says happened (stale or backfilled candle, paused,
rejected, emergency, operator flatten, a crash the session resumed from, a partial fill,
the exchange's margin, a fill price). What nothing explains is reported as UNEXPLAINED:
that is what this exists to find.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..candles import load_candles
from ..errors import DataError, FeedExhausted, SactuiError
from ..journal import read_emergencies, read_steps
from ..states import EngineState
from ..step_record import StepRecord
from ..time_utils import interval_ms, iso_ms
from .report import session_frame
from .sessions import SessionInfo

#: Two actions closer than this are the same decision (observations are float32; the live path
#: reads money with the exchange's 8 decimals, the paper account exactly).
ACTION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class RowAudit:
    """One journaled candle, live against the model on the backtest path."""

    candle_open_ms: int
    live_status: str
    model_status: str
    live_action: float
    model_action: float
    live_order: str  # signed quantity, "0" when none
    model_order: str
    same_action: bool
    same_target: bool
    same_order: bool
    live_price: str = ""
    model_price: str = ""
    explanation: str = ""  # why it differs ("" when identical)
    cause: str = ""  # a short key: paused, stale, rejected, ... or "unexplained"

    @property
    def identical(self) -> bool:
        return self.same_action and self.same_target and self.same_order

    @property
    def price_differs(self) -> bool:
        return bool(self.live_price and self.model_price) and Decimal(self.live_price) != Decimal(self.model_price)


@dataclass(frozen=True)
class AuditResult:
    session_id: str
    rows: tuple[RowAudit, ...]
    warmup: str  # where the warm-up history came from
    not_audited: int = 0  # live rows the replay never reached (it halted first)
    notes: tuple[str, ...] = field(default=())

    @property
    def audited(self) -> int:
        return len(self.rows)

    def count(self, attribute: str) -> int:
        return sum(1 for r in self.rows if getattr(r, attribute))

    @property
    def identical(self) -> int:
        return self.count("identical")

    @property
    def share(self) -> float:
        return self.identical / self.audited if self.audited else 0.0

    @property
    def differences(self) -> tuple[RowAudit, ...]:
        return tuple(r for r in self.rows if not r.identical)

    @property
    def unexplained(self) -> tuple[RowAudit, ...]:
        return tuple(r for r in self.rows if r.cause == "unexplained")

    @property
    def worst_action_difference(self) -> float:
        gaps = [abs(r.live_action - r.model_action) for r in self.rows
                if not (math.isnan(r.live_action) or math.isnan(r.model_action))]
        return max(gaps, default=0.0)

    def causes(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for r in self.differences:
            found[r.cause] = found.get(r.cause, 0) + 1
        return dict(sorted(found.items(), key=lambda item: -item[1]))

    def line(self) -> str:
        """The one-line result (the end-of-session summary prints it)."""
        head = (f"audit: {self.identical:,} of {self.audited:,} decisions identical ({self.share:.2%}); "
                f"actions {self.count('same_action') / max(1, self.audited):.2%}, "
                f"orders {self.count('same_order') / max(1, self.audited):.2%}")
        if not self.differences:
            tail = "no difference"
        else:
            causes = ", ".join(f"{cause} {n}" for cause, n in self.causes().items())
            unexplained = len(self.unexplained)
            tail = (f"{len(self.differences)} difference(s): {causes}"
                    + (f" - {unexplained} UNEXPLAINED" if unexplained else ", all explained"))
        prices = self.count("price_differs")
        extra = f"; {prices} fill(s) at another price" if prices else ""
        skipped = f"; {self.not_audited} row(s) not audited" if self.not_audited else ""
        return f"{head} - {tail}{extra}{skipped}"


# ---------------------------------------------------------------------------------------------
# the warm-up history


def _contiguous(frame: pd.DataFrame, step_ms: int) -> bool:
    return bool(len(frame) < 2 or (frame["open_time"].diff().iloc[1:] == step_ms).all())


def history_before(candidates: Iterable[Path], first_open_ms: int, count: int, step_ms: int,
                   first_close: float) -> tuple[pd.DataFrame, Path] | None:
    """The ``count`` candles just before ``first_open_ms`` from the first candidate file that has
    them contiguous - and, when it also has the session's first candle, agrees on its close
    (the same market, not just the same times)."""
    for path in candidates:
        try:
            frame = load_candles(path)
        except SactuiError:
            continue
        before = frame[frame["open_time"] < first_open_ms].tail(count)
        if len(before) < count or int(before["open_time"].iloc[-1]) != first_open_ms - step_ms:
            continue
        if not _contiguous(before, step_ms):
            continue
        same = frame[frame["open_time"] == first_open_ms]
        if len(same) and float(same["close"].iloc[0]) != first_close:
            continue
        return before.reset_index(drop=True), Path(path)
    return None


def candle_files(run, extra: Iterable[Path] = ()) -> list[Path]:
    """Where a session's warm-up history may be: files given, the run's replay candles, the run's
    training data file (next to the run or in the repository's ``data/<symbol>/``)."""
    found: list[Path] = [Path(p) for p in extra]
    try:
        replay = run.replay_candles_path
    except SactuiError:
        replay = None
    if replay is not None:
        found.append(replay)
    name = (run.metadata.get("data") or {}).get("file")
    if name:
        for folder in (run.path, run.path.parent.parent / "data" / run.symbol.lower(), Path("data") / run.symbol.lower()):
            if (folder / name).is_file():
                found.append(folder / name)
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# the live state before each row, read back from the journal


def _dec(text: str | float) -> Decimal:
    return Decimal(text if isinstance(text, str) else repr(float(text)))


@dataclass(frozen=True)
class LiveState:
    """What the live engine held when it decided on a candle (before the candle's own order)."""

    position: Decimal
    entry: Decimal
    wallet: Decimal
    peak: Decimal
    mark: Decimal | None = None  # the price the exchange valued the position at (None: flat, or unknown)
    mark_guessed: bool = False  # the row does not say it (its order closed the position): the last one known


def _peak(row: dict) -> Decimal:
    """The drawdown guard's peak when the row was written: equity / (1 - drawdown)."""
    equity = _dec(row["equity"])
    dd = _dec(row["drawdown"]) if row["drawdown"] not in ("", "nan") else Decimal(0)
    return equity / (1 - dd) if 0 < dd < 1 else equity


def live_states(rows: list[dict]) -> list[LiveState]:
    states = []
    previous: dict | None = None
    for row in rows:
        qty = _dec(row["order_qty"] or "0")
        position_after = _dec(row["position_qty"] or "0")
        position = position_after - qty
        entry_after = _dec(row["entry_price"] or "0")
        if qty == 0:
            entry = entry_after
        elif position == 0:
            entry = Decimal(0)
        elif previous is not None and _dec(previous["position_qty"] or "0") == position:
            entry = _dec(previous["entry_price"] or "0")
        elif (position > 0) == (position_after > 0) and abs(position_after) < abs(position):
            entry = entry_after  # a reduction keeps the entry
        elif (position > 0) == (position_after > 0) and row["order_avg_price"]:
            entry = (entry_after * position_after - _dec(row["order_avg_price"]) * qty) / position  # an addition
        else:
            entry = _dec(row["close"])  # a flip of a position nothing else tells: the close is the best guess
        wallet = _dec(row["wallet"])
        if qty != 0:
            wallet = wallet - _dec(row["fill_realized_pnl"] or "0") + _dec(row["order_fee"] or "0")
        peak = _peak(row)
        if qty != 0 and previous is not None:
            # the row's peak may include its own order's equity; the decision saw the one before it (the
            # replay's guard then observes the equity it decides on, as the live guard did)
            peak = _peak(previous)
        mark = None
        if position_after != 0 and row["unrealized_pnl"] not in ("", "nan"):  # upnl = (mark - entry) x position
            mark = entry_after + _dec(row["unrealized_pnl"]) / position_after
        if mark is None and position != 0 and states and states[-1].mark is not None:
            mark = states[-1].mark  # the order closed the position: the last mark known is the best guess
            guessed = True
        else:
            guessed = False
        states.append(LiveState(position, entry, wallet, peak, mark, guessed))
        previous = row
    return states


# ---------------------------------------------------------------------------------------------
# comparing and explaining


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= ACTION_TOLERANCE


def _order_key(status: str, qty: str) -> tuple[bool, Decimal]:
    """What was done about an order: sent or not, and the quantity executed. A candle skipped as
    paused and one skipped in the deadband both sent nothing: the same order."""
    return not status.startswith("SKIPPED"), _dec(qty or "0")


def _emergency_before(emergencies: list[dict], time_iso: str) -> dict | None:
    earlier = [e for e in emergencies if e.get("time", "") <= time_iso]
    return earlier[-1] if earlier else None


def explain(live: dict, model: StepRecord | None, emergencies: list[dict], same_action: bool,
            mark_guessed: bool = False) -> tuple[str, str]:
    """(cause, explanation) of a row where live and model differ."""
    status, state = live["order_status"], live["state"]
    if status == "SKIPPED:down":
        return "resumed crash", "the candle closed while the session was down (journaled on resume, not traded)"
    if status.endswith(":recovered"):
        return "resumed crash", "the order was sent before a crash and found on the exchange at resume"
    if status == "SKIPPED:stale":
        return "stale skip", "the candle arrived after its close plus the stale grace: the order was not sent"
    if status == "SKIPPED:backfilled":
        return "stale skip", "the candle was fetched by REST after a gap or reconnect: backfilled candles never trade"
    if status == "SKIPPED:paused" or state == EngineState.PAUSED:
        last = _emergency_before(emergencies, live["time"])
        after = " after an operator flatten (F9)" if last is not None and last.get("trigger") == "operator_flatten" else ""
        return "paused", f"the engine was paused{after}: no new orders"
    if status.startswith("REJECTED"):
        return "rejected", f"the exchange rejected the order ({status.split(':', 1)[-1]})"
    if status == "SKIPPED:banned":
        return "banned", "an IP ban held trading"
    if status in ("UNKNOWN", "NOT_FOUND") or status.startswith("ERROR"):
        return "exchange error", f"the order or the account read failed ({status})"
    if status == "SKIPPED:emergency" or state in (EngineState.HALTED, EngineState.REDUCING):
        last = _emergency_before(emergencies, live["time"])
        trigger = last.get("trigger") if last else "the emergency protocol"
        return "emergency", f"emergency ({trigger}): no new orders"
    if status == "EXPIRED":
        return "partial fill", "the exchange filled only part of the order (EXPIRED)"
    if status == "SKIPPED:insufficient_margin" or (model is not None and model.order_status == "SKIPPED:insufficient_margin"):
        return "margin", "the exchange's available balance and the paper account's differed at the margin check"
    if mark_guessed:
        return "mark price", ("the exchange valued the position at its mark price, which this row does not record "
                              "(its order closed the position); the replay used the last mark journaled")
    if same_action and model is not None:
        return "fill price", ("same action, another quantity: the account was valued at the exchange's mark or "
                              "fill prices, the paper account at the candle close")
    return "unexplained", "the model decided differently on the same candle and state - investigate"


def compare_row(live: dict, model: StepRecord | None, emergencies: list[dict], mark_guessed: bool = False) -> RowAudit:
    live_action, live_target = _float(live["raw_action"]), _float(live["target_exposure"])
    model_action = model.raw_action if model is not None else float("nan")
    model_target = model.target_exposure if model is not None else float("nan")
    same_action, same_target = _same(live_action, model_action), _same(live_target, model_target)
    model_status = model.order_status if model is not None else "(not replayed)"
    model_qty = model.order_qty if model is not None else "0"
    same_order = _order_key(live["order_status"], live["order_qty"]) == _order_key(model_status, model_qty)
    row = RowAudit(
        candle_open_ms=int(live["candle_open_time"]), live_status=live["order_status"], model_status=model_status,
        live_action=live_action, model_action=model_action, live_order=live["order_qty"] or "0",
        model_order=model_qty, same_action=same_action, same_target=same_target, same_order=same_order,
        live_price=live["order_avg_price"], model_price=model.order_avg_price if model is not None else "",
    )
    if row.identical:
        return row
    cause, words = explain(live, model, emergencies, same_action, mark_guessed)
    return RowAudit(**{**row.__dict__, "cause": cause, "explanation": words})


# ---------------------------------------------------------------------------------------------
# the replay


def _marked_paper(run, start_wallet: Decimal):
    """The paper exchange, valuing the account at the live session's mark when one is set.

    Why: the live engine's account (and with it the observation's equity, exposure and
    unrealised PnL) is valued at the exchange's mark price, the backtest's at the candle
    close. Orders still fill at the close, as in every backtest."""
    from ..exchanges.base import AccountState, PositionState
    from ..exchanges.paper import PaperExchange

    class MarkedPaper(PaperExchange):
        mark: Decimal | None = None

        def _valued_at(self) -> Decimal:
            return self.mark if self.mark is not None else (self.price if self.price is not None else Decimal(0))

        async def account(self) -> AccountState:
            book, mark = self.account_book, self._valued_at()
            unrealized = book.unrealized_pnl(mark)
            return AccountState(wallet_balance=book.wallet_balance, equity=book.wallet_balance + unrealized,
                                available_balance=book.available_balance(mark), unrealized_pnl=unrealized)

        async def position(self) -> PositionState:
            book, mark = self.account_book, self._valued_at()
            return PositionState(symbol=self.symbol, quantity=book.position_qty, entry_price=book.entry_price,
                                 mark_price=mark, unrealized_pnl=book.unrealized_pnl(mark),
                                 liquidation_price=book.liquidation_price(), leverage=book.leverage)

    return MarkedPaper(run.symbol, run.filters, start_wallet, run.fee_rate, run.leverage)


class _SyncedReplay:
    """The backtest feed (``ClockedReplay``) that, before each audited candle, puts the live
    session's state into the paper account and the engine's drawdown guard."""

    in_process = True

    def __init__(self, inner, exchange, states: dict[int, LiveState], budget_s: float | None = None) -> None:
        import time

        self._monotonic = time.monotonic
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        self.out_of_time = False
        self._inner = inner
        self._exchange = exchange
        self._states = states
        self.engine = None
        self.connected = True
        self.forming = None

    async def history(self, count: int):
        return await self._inner.history(count)

    def start(self) -> None:
        self._inner.start()

    async def next_closed(self):
        if self.deadline is not None and self._monotonic() > self.deadline:
            self.out_of_time = True
            raise FeedExhausted("the audit's time budget is spent")
        candle = await self._inner.next_closed()
        state = self._states.get(candle.open_time)
        if state is not None:
            book = self._exchange.account_book
            book.position_qty, book.entry_price, book.wallet_balance = state.position, state.entry, state.wallet
            self._exchange.mark = state.mark
            if self.engine is not None:
                self.engine.guard.peak = state.peak
        return candle

    async def closed_between(self, start_ms: int, end_ms: int):
        return await self._inner.closed_between(start_ms, end_ms)

    async def stop(self) -> None:
        await self._inner.stop()

    def message_age_s(self) -> float:
        return 0.0


async def replay_rows(run, agent, settings, frame: pd.DataFrame, history: int, states: dict[int, LiveState],
                      start_wallet: Decimal, budget_s: float | None = None) -> tuple[dict[int, StepRecord], bool]:
    """Run the backtest engine over ``frame`` (its first ``history`` rows warm up) and return its
    rows by candle open time, and whether it stopped at ``budget_s`` seconds. Its journal goes to a
    temporary folder and is discarded."""
    from ..clock import CandleClock
    from ..engine import TradingEngine
    from ..events import EventLog
    from ..feeds.clocked_replay import ClockedReplay
    from ..feeds.replay_feed import ReplayFeed
    from ..session import SessionStore

    records: dict[int, StepRecord] = {}
    clock = CandleClock()
    exchange = _marked_paper(run, start_wallet)
    feed = _SyncedReplay(ClockedReplay(ReplayFeed(frame, history), clock, exchange, run.interval), exchange, states,
                         budget_s)
    with tempfile.TemporaryDirectory(prefix="sactui-audit-") as folder:
        store = SessionStore(Path(folder))
        session = store.begin("backtest", None, datetime.now(timezone.utc), durable=False, resumable=False)
        engine = TradingEngine(
            run, agent, exchange, feed, settings, session, Path(folder), mode="backtest", clock=clock,
            market_clock=clock, durable_journal=False, events=EventLog(clock),
            on_step=lambda record: records.__setitem__(record.candle_open_time, record), latching=False,
        )
        feed.engine = engine
        try:
            await engine.run()
        finally:
            session.journal.close()
    return records, feed.out_of_time


async def audit_session(run, agent, settings, session: SessionInfo, candle_files_: Iterable[Path] = (),
                        budget_s: float | None = None) -> AuditResult:
    """Audit ``session`` of ``run`` (see the module). ``candle_files_``: where to look for the warm-up
    history first (the session's own data file, ``--data``); the run's files are searched after.
    ``budget_s``: stop replaying after that many seconds (the end-of-session summary must not keep
    a stopping process waiting); the rows not reached are counted as not audited."""
    rows = read_steps(session.steps_path)
    if not rows:
        raise DataError(f"session {session.session_id} has no journaled row to audit")
    emergencies = read_emergencies(session.emergencies_path)
    step = interval_ms(run.interval)
    need = run.history_needed
    journal = session_frame(rows)
    notes: list[str] = []
    found = history_before(candle_files(run, candle_files_), int(rows[0]["candle_open_time"]), need, step,
                           float(rows[0]["close"]))
    if found is not None:
        warm, path = found
        frame = pd.concat([warm, journal], ignore_index=True)
        audited_rows = rows
        warmup = f"the {need} candles before {iso_ms(int(rows[0]['candle_open_time']))} from {path}"
    elif len(rows) > need:
        frame, audited_rows = journal, rows[need:]
        warmup = (f"the session's own first {need} journaled candles (no candle file has the history before "
                  f"{iso_ms(int(rows[0]['candle_open_time']))}); rows from the {need + 1}th on are audited")
    else:
        raise DataError(
            f"the audit of {session.session_id} needs the {need} candles before "
            f"{iso_ms(int(rows[0]['candle_open_time']))} to warm up the indicators, and no candle file has them: "
            "pass --data FILE with them"
        )
    if not _contiguous(journal, step):
        notes.append("the journaled candles are not contiguous: indicators after a gap are compared as replayed")
    states = {int(r["candle_open_time"]): s for r, s in zip(rows, live_states(rows))}
    first_state = states[int(audited_rows[0]["candle_open_time"])]
    start_wallet = first_state.wallet if first_state.wallet > 0 else Decimal(str(run.trading["initial_balance"]))
    records, out_of_time = await replay_rows(run, agent, settings, frame, len(frame) - len(audited_rows), states,
                                             start_wallet, budget_s)
    compared, missing = [], 0
    for live in audited_rows:
        model = records.get(int(live["candle_open_time"]))
        if model is None:
            missing += 1
            continue
        compared.append(compare_row(live, model, emergencies, states[int(live["candle_open_time"])].mark_guessed))
    marked = [(abs(s.mark / _dec(r["close"]) - 1), r) for r, s in zip(rows, states.values())
              if s.mark is not None and s.position != 0 and s.mark != _dec(r["close"])]
    if marked:
        gap = max(g for g, _ in marked)
        notes.append(f"{len(marked)} row(s) decided on an account valued at the exchange's mark price, not the "
                     f"candle close (largest gap {gap:.3%}); the replay valued them the same way")
    if missing and out_of_time:
        notes.append(f"{missing} row(s) not replayed within the {budget_s:g} s budget: 'sactui audit' audits them all")
    elif missing:
        notes.append(f"{missing} row(s) were not replayed: the replay's engine stopped first (its own emergency)")
    return AuditResult(session.session_id, tuple(compared), warmup, missing, tuple(notes))
