"""kill -9 of the real ``sactui`` process - after a journal row, between an order and its row,
in the middle of an emergency - then a restart: nothing lost, nothing done twice.

The simulator runs here, in the test process, so the "exchange" outlives the trader as
Binance would; ``sactui`` runs as a real subprocess in testnet mode pointed at it with
``--endpoint`` and is killed with SIGKILL. The books are audited against the simulator's
own order book (``support.audit_books``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from support import SIM_KEY, SIM_SECRET, audit_books, make_connector, session_journal

from trader_core.review.sessions import list_sessions

SACTUI = str(Path(sys.executable).parent / "sactui")


def start_trader(runs_dir, train_id, sim, log, config=None):
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET)
    args = [SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless", "--endpoint", sim.rest_base]
    if config is not None:
        args += ["--config", str(config)]
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_for(predicate, timeout=60.0, what="condition"):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def exit_code(proc, timeout=30.0) -> int:
    """The process's exit code, waiting without blocking the loop the simulator serves from."""
    await wait_for(lambda: proc.poll() is not None, timeout, f"process {proc.pid} to exit")
    return proc.returncode


def journal_rows(production):
    return session_journal(production)[0]


def emergency_rows(production):
    return session_journal(production)[1]


def ready_count(log_path):
    return log_path.read_text().count(": ready")


async def until_ready(sim, log_path, count, proc):
    """The trader printed its count-th "ready" and its market stream is subscribed."""
    await wait_for(lambda: ready_count(log_path) >= count or proc.poll() is not None, 90, "the trader to be ready")
    assert proc.poll() is None, f"the trader exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}"
    await wait_for(lambda: len(sim.streams.market_connections) > 0, 30, "the market subscription")


async def step_until_rows(sim, production, count, proc):
    """Close candles one at a time, each journaled before the next, until ``count`` rows."""
    while len(journal_rows(production)) < count:
        assert proc.poll() is None, "trader exited early"
        before = len(journal_rows(production))
        await sim.step()
        await wait_for(lambda: len(journal_rows(production)) > before, 15, "the row of the candle just closed")


def config_file(tmp_path, streams=False, **risk):
    """Operator settings for a crash test. Without the account streams every step reads REST, so a
    failed account read is the way these tests start the emergency protocol."""
    lines = ["[risk]"] + [f"{k} = {v}" for k, v in risk.items()]
    lines += ["[retries]", "attempts = 3", "delay_seconds = 0.05", "[trading]", "adopt_unknown_position = true"]
    lines += ["[streams]", f"enabled = {'true' if streams else 'false'}"]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def session_file(production):
    return json.loads((production / "session.json").read_text())


@pytest.fixture()
def trader_log(tmp_path):
    path = tmp_path / "trader.log"
    with open(path, "w") as log:
        yield path, log


async def test_kill_9_after_a_row_then_restart_keeps_the_journal_and_never_acts_twice(
        sim, tiny_run_copy, trader_log, procs):
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path, log = trader_log
    first = start_trader(runs_dir, train_id, sim, log)
    procs.append(first)
    await until_ready(sim, log_path, 1, first)
    await step_until_rows(sim, production, 15, first)
    before_kill = journal_rows(production)
    os.kill(first.pid, signal.SIGKILL)
    await exit_code(first, 10)
    await sim.step(2)  # the exchange keeps going while the trader is down
    second = start_trader(runs_dir, train_id, sim, log)
    procs.append(second)
    await until_ready(sim, log_path, 2, second)
    await step_until_rows(sim, production, len(before_kill) + 2 + 10, second)
    second.send_signal(signal.SIGTERM)
    assert await exit_code(second) == 0
    output = log_path.read_text()
    rows = journal_rows(production)
    assert len(list(production.glob("registro_*.csv"))) == 1
    assert rows[: len(before_kill)] == before_kill  # every row from before the kill, unchanged
    down = rows[len(before_kill): len(before_kill) + 2]
    assert [r["order_status"] for r in down] == ["SKIPPED:down", "SKIPPED:down"]
    assert audit_books(sim, rows, emergency_rows(production)) == []
    assert "resumed after an unclean stop" in output and "session statistics:" in output
    assert session_file(production)["status"] == "stopped"


async def test_kill_9_between_the_order_and_its_row_finds_the_order_on_restart(
        sim, tiny_run_copy, trader_log, procs):
    """The simulator holds the answer of the first order, so the kill lands after the POST and
    before the journal row; the restart finds the order by its deterministic id, journals it,
    journals the candles that closed while the trader was down, and never sends it again."""
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path, log = trader_log
    earlier = {s.session_id for s in list_sessions(runs_dir, train_id)}  # the shared run's, from other tests
    first = start_trader(runs_dir, train_id, sim, log)
    procs.append(first)
    await until_ready(sim, log_path, 1, first)
    sim.faults.hold_order_responses(1)  # the first order's answer waits until released
    for _ in range(300):
        before = len(journal_rows(production))
        await sim.step()
        await wait_for(lambda: sim.faults.held_orders or len(journal_rows(production)) > before, 15,
                       "a row or a held order")
        if sim.faults.held_orders:
            break
    else:
        raise AssertionError("the run's policy sent no order in 300 candles")
    held = sim.faults.held_orders[0]
    journaled = journal_rows(production)
    assert held not in {r["client_order_id"] for r in journaled}  # the kill lands before its row
    os.kill(first.pid, signal.SIGKILL)
    await exit_code(first, 10)
    sim.faults.release_holds()
    await sim.step(2)
    second = start_trader(runs_dir, train_id, sim, log)
    procs.append(second)
    await until_ready(sim, log_path, 2, second)
    await step_until_rows(sim, production, len(journaled) + 3 + 5, second)
    second.send_signal(signal.SIGTERM)
    assert await exit_code(second) == 0
    rows = journal_rows(production)
    recovered = [r for r in rows if r["client_order_id"] == held]
    assert len(recovered) == 1 and recovered[0]["order_status"].endswith(":recovered")
    assert recovered[0]["order_qty"] != "0"
    after = rows[len(journaled) + 1: len(journaled) + 3]
    assert [r["order_status"] for r in after] == ["SKIPPED:down", "SKIPPED:down"]
    assert [r.client_order_id for r in sim.orders_received].count(held) == 1  # never resent
    assert audit_books(sim, rows, emergency_rows(production)) == []
    assert f"found order {held}" in log_path.read_text()
    # sactui sessions tells the story: one session, crashed and resumed, then stopped
    (only,) = [s for s in list_sessions(runs_dir, train_id) if s.session_id not in earlier]
    assert only.status == "stopped" and only.resumed, only
    assert "crashed and resumed (2 candle(s) down, 1 order(s) recovered)" in only.ending, only.ending


async def test_kill_9_in_the_middle_of_an_emergency_is_recovered_from_its_close_ids(
        sim, tiny_run_copy, trader_log, procs, tmp_path):
    """An adopted position, then a failure that starts the emergency protocol; the close
    order's answer is held and the trader killed. The restart finds the close by the
    emergency's deterministic id and journals it as an emergency row."""
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path, log = trader_log
    config = config_file(tmp_path, max_consecutive_failures=1)
    operator = make_connector(sim)
    await operator.connect()
    await operator.client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.04",
                                               newClientOrderId="operator-manual-1")
    await operator.close()
    first = start_trader(runs_dir, train_id, sim, log, config)
    procs.append(first)
    await until_ready(sim, log_path, 1, first)
    assert session_file(production)["start_position"] == "0.04"
    sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
    sim.faults.hold_order_responses(1)
    await sim.step()
    held = await sim.faults.wait_for_held_order(timeout=30)
    assert "-e1f-" in held  # the emergency's first close order (connection_failures)
    os.kill(first.pid, signal.SIGKILL)
    await exit_code(first, 10)
    sim.faults.release_holds()
    assert sim.exchange.account.position_qty == 0  # the close was processed before the kill
    second = start_trader(runs_dir, train_id, sim, log, config)
    procs.append(second)
    await until_ready(sim, log_path, 2, second)
    await step_until_rows(sim, production, 3, second)
    second.send_signal(signal.SIGTERM)
    assert await exit_code(second) == 0
    emergencies = emergency_rows(production)
    assert len(emergencies) == 1 and emergencies[0]["close_orders"] == held
    assert emergencies[0]["trigger"] == "connection_failures" and emergencies[0]["flat"] == "true"
    assert emergencies[0]["closed_qty"] == "-0.04" and emergencies[0]["position_before"] == "0.04"
    rows = journal_rows(production)
    assert rows[0]["order_status"] == "SKIPPED:down"  # the candle the crash cut off
    assert audit_books(sim, rows, emergencies) == []


async def test_restart_after_an_emergency_works_the_first_time(sim, tiny_run_copy, trader_log, procs, tmp_path):
    """An emergency ends the session HALTED (exit 7) with session.json 'halted'; the next start
    is a new session that finds the exchange flat, as the journal says - no refusal."""
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path, log = trader_log
    config = config_file(tmp_path, max_consecutive_failures=1)
    earlier = {s.session_id for s in list_sessions(runs_dir, train_id)}  # the shared run's, from other tests
    first = start_trader(runs_dir, train_id, sim, log, config)
    procs.append(first)
    await until_ready(sim, log_path, 1, first)
    await step_until_rows(sim, production, 3, first)
    sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
    await sim.step()
    assert await exit_code(first) == 7
    status = session_file(production)
    assert status["status"] == "halted" and status["end_reason"].startswith("connection_failures")
    second = start_trader(runs_dir, train_id, sim, log, config)
    procs.append(second)
    await until_ready(sim, log_path, 2, second)
    await step_until_rows(sim, production, 2, second)  # the new session trades (and so is listed)
    second.send_signal(signal.SIGTERM)
    assert await exit_code(second) == 0
    output = log_path.read_text()
    assert "refusing to trade" not in output
    assert session_file(production)["session_tag"] != status["session_tag"]
    halted, restarted = [s for s in list_sessions(runs_dir, train_id) if s.session_id not in earlier]
    assert halted.status == "halted" and halted.ending.startswith("halted by the emergency protocol "
                                                                  "(connection_failures)"), halted.ending
    assert restarted.status == "stopped" and restarted.ending == "stopped", restarted.ending
    assert Decimal(journal_rows(production)[-1]["position_qty"] if journal_rows(production) else "0") == \
        sim.exchange.account.position_qty
