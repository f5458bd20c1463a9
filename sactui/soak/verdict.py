"""The end of a soak: collect the exchange's records and every journal, and judge.

Why here and not in the harness: the verdict reads only what outlives the trader - the
simulator's order book, trades and income, the journal files of every session, the log
files - so it is written as a function of those, and the harness only hands them over.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from trader_core.books import income_totals
from trader_core.journal import read_emergencies, read_steps
from trader_core.simulator import LoopbackExchange

from . import invariants as inv
from .attribution import Attribution, FaultOutcome
from .schedule import FaultKind, ScheduledFault
from .settings import SoakOptions
from .trader import ResourceSample, TraderProcess

#: USDT: journal and exchange money may differ by rounding below this, never more.
TOLERANCE = Decimal("0.01")
#: Files the soak writes that a secret must never be in.
TEXT_SUFFIXES = (".csv", ".json", ".log", ".toml", ".md", ".txt")


def exchange_facts(sim: LoopbackExchange) -> inv.ExchangeFacts:
    """The simulator's own records: accepted orders, order POSTs, position, wallet, income."""
    ex = sim.exchange
    orders = tuple(inv.ExchangeOrder(o.client_order_id, o.status, o.executed_qty if o.side == "BUY" else -o.executed_qty)
                   for o in ex.orders.values())
    income = income_totals((r.income_type, r.income, r.time_ms) for r in ex.ledger.income)
    return inv.ExchangeFacts(orders, tuple(r.client_order_id for r in sim.orders_received), ex.account.position_qty,
                             ex.account.wallet_balance, ex.initial_balance, income)


def read_journals(folder: Path) -> inv.Journals:
    """Every row of every session's journal files in ``folder``, tagged with its file name."""
    steps, emergencies = [], []
    for path in sorted(Path(folder).glob("registro_*.csv")):
        steps += [dict(r, _file=path.name) for r in read_steps(path)]
    for path in sorted(Path(folder).glob("emergencias_*.csv")):
        emergencies += [dict(r, _file=path.name) for r in read_emergencies(path)]
    steps.sort(key=lambda r: (int(r["candle_open_time"]), r["_file"]))
    return inv.Journals(tuple(steps), tuple(emergencies))


def judge(*, options: SoakOptions, sim: LoopbackExchange, facts: inv.ExchangeFacts, journals: inv.Journals,
          schedule: tuple[ScheduledFault, ...], outcomes: list[FaultOutcome], processes: list[TraderProcess],
          span: list[int], step_ms: int, latched: list[inv.LatchedStretch], seen_wall: dict[int, float],
          samples: list[ResourceSample], exits_unexpected: list[str], secrets: list[str], workdir: Path,
          ) -> tuple[inv.Verdict, list[inv.Trend], dict]:
    """Every invariant of the soak, the resource trends and the figures of the report."""
    attribution = Attribution(outcomes, processes, span, latched, seen_wall)
    attribution.attribute(sim.faults.injected, sim.rest.requests, journals)
    unexplained_log, explained_log = attribution.serious_log_lines()
    unexplained_rows, explained_rows = attribution.serious_rows(journals)
    provoked = ["max_drawdown" for o in outcomes if o.fault.kind is FaultKind.DRAWDOWN_BREACH]
    found = inv.trends(samples, options.warmup_candles, {p.number: p.start_candle for p in processes})
    verdict = inv.Verdict()
    for result in (
        inv.candles_once(span, latched, journals),
        inv.latch_explained(latched, journals, step_ms),
        inv.orders_journaled_once(facts, journals),
        inv.no_duplicate_orders(facts),
        inv.position_and_wallet(facts, journals, TOLERANCE),
        inv.books_match_income(facts, journals, TOLERANCE),
        inv.emergencies_provoked_only(journals, provoked),
        inv.nothing_unexplained("no unexplained ERROR in the trader's logs", unexplained_log,
                                f"{explained_log} ERROR/EMERGENCY lines, each explained by a scheduled fault"),
        inv.nothing_unexplained("no unexplained error, refusal or skip in the journals", unexplained_rows,
                                f"{explained_rows} such rows, each explained by a scheduled fault"),
        inv.nothing_unexplained("every exit of the trader caused by the harness", exits_unexpected,
                                f"{len(processes)} processes, each ended by a kill, the breach or the stop"),
        inv.nothing_unexplained("every scheduled fault fired", [
            f"{o.fault.describe()} at candle {o.armed_candle}" for o in outcomes if not o.fired],
            f"{len(outcomes)} of {len(schedule)} faults injected, each seen in the simulator's records"),
        inv.resources_flat(found, options.flat_tolerance) if options.profile.judge_resources else
        inv.InvariantResult("memory, descriptors and tasks flat", True,
                            "not judged: no process of a short soak lives long enough to show a trend "
                            "(the full soak judges it)"),
        inv.secrets_absent([p for p in Path(workdir).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES],
                           secrets),
    ):
        verdict.add(result)
    figures = {
        "orders_accepted": len(facts.orders), "order_posts": len(facts.posted_ids),
        "rows": len(journals.steps), "emergency_rows": len(journals.emergencies), "trader_processes": len(processes),
        "rest_requests": len(sim.rest.requests),
        "rest_weight_per_market_hour": round(sum(sim.rest.request_weights) / max(1, len(span)) * 60),
        "final_position": str(facts.position), "final_wallet": str(facts.wallet),
        "statuses": dict(Counter(r["order_status"] for r in journals.steps).most_common()),
    }
    return verdict, found, figures
