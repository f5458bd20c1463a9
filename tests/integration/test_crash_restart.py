"""kill -9 in the middle of a session, then a restart: nothing lost, nothing done twice.

The simulator runs here, in the test process, so the "exchange" outlives the trader
as Binance would; ``sactui`` runs as a real subprocess in testnet mode pointed at it
with ``--endpoint`` and is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from support import SIM_KEY, SIM_SECRET
from trader_core.journal import read_steps

SACTUI = str(Path(sys.executable).parent / "sactui")


def start_trader(runs_dir, train_id, sim, log):
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET)
    return subprocess.Popen(
        [SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless", "--endpoint", sim.rest_base],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )


async def wait_for(predicate, timeout=60.0):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def journal_rows(production):
    files = sorted(production.glob("registro_*.csv"))
    return read_steps(files[-1]) if files else []


async def step_until_rows(sim, production, count, proc):
    for _ in range(count * 3):
        if len(journal_rows(production)) >= count:
            return
        assert proc.poll() is None, "trader exited early"
        before = len(journal_rows(production))
        await sim.step()
        try:
            await wait_for(lambda: len(journal_rows(production)) > before, timeout=5)
        except AssertionError:
            continue  # that close arrived before the trader subscribed: it became history
    raise AssertionError(f"journal did not reach {count} rows")


def ready_count(log_path):
    return log_path.read_text().count(": ready")


async def test_kill_9_then_restart_keeps_the_journal_and_never_acts_twice(sim, tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path = tmp_path / "trader.log"
    log = open(log_path, "w")
    first = start_trader(runs_dir, train_id, sim, log)
    try:
        await wait_for(lambda: ready_count(log_path) == 1, timeout=90)
        await asyncio.sleep(1.0)  # "ready" is printed just before the stream subscribes
        await step_until_rows(sim, production, 15, first)
        before_kill = journal_rows(production)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        # The exchange keeps going while the trader is down.
        await sim.step(2)
        second = start_trader(runs_dir, train_id, sim, log)
        await wait_for(lambda: ready_count(log_path) == 2, timeout=90)
        await asyncio.sleep(1.0)
        await step_until_rows(sim, production, len(before_kill) + 10, second)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
        log.close()
    output = log_path.read_text()
    rows = journal_rows(production)
    # One journal, intact: every row from before the kill is still there, unchanged.
    assert len(list(production.glob("registro_*.csv"))) == 1
    assert rows[: len(before_kill)] == before_kill
    # No candle acted on twice, in order.
    times = [int(r["candle_open_time"]) for r in rows]
    assert times == sorted(set(times))
    # Orders: one per filled row, client ids never reused, and the exchange agrees with the journal.
    accepted = [o for o in sim.orders_received if o.accepted]
    assert len({o.client_order_id for o in accepted}) == len(accepted)
    assert len(accepted) == sum(r["order_status"] == "FILLED" for r in rows)
    position = sum((o.quantity if o.side == "BUY" else -o.quantity for o in accepted), Decimal(0))
    assert Decimal(rows[-1]["position_qty"]) == position
    assert "resumed after an unclean stop" in output
    assert "session statistics:" in output
