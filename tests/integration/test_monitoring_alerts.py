"""Alerts through apprise to a real HTTP receiver, from a real ``sactui`` process.

The simulator runs in the test (manual mode: the test closes each candle), ``sactui``
trades it in testnet mode with ``--endpoint``, and ``[alerts] urls`` points apprise's
JSON webhook at an aiohttp receiver on 127.0.0.1 with a token taken from the
environment (``${SACTUI_ALERT_TOKEN}``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
from pathlib import Path


from monitoring_support import SACTUI, Receiver, exit_code, wait_for, write_config
from support import SIM_KEY, SIM_SECRET, session_journal

TOKEN = "tok-7f3e9a51c2d84b6e"  # what must never appear anywhere but the receiver's header


def start(runs_dir, train_id, sim, log, config, token=TOKEN):
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET,
               SACTUI_ALERT_TOKEN=token)
    return subprocess.Popen([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless",
                             "--endpoint", sim.rest_base, "--config", str(config)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def rows(production: Path) -> list[dict]:
    return session_journal(production)[0]


async def until_ready(sim, log_path: Path, proc, count: int = 1):
    await wait_for(lambda: log_path.read_text().count(": ready") >= count or proc.poll() is not None, 90,
                   "the trader to be ready")
    assert proc.poll() is None, log_path.read_text()[-2000:]
    await wait_for(lambda: len(sim.streams.market_connections) > 0, 30, "the market subscription")


async def step_rows(sim, production: Path, count: int, proc) -> None:
    while len(rows(production)) < count:
        assert proc.poll() is None, "the trader exited early"
        before = len(rows(production))
        await sim.step()
        await wait_for(lambda: len(rows(production)) > before, 15, "the row of the candle just closed")


def every_file_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


async def test_an_emergency_reaches_a_real_webhook_with_its_figures_and_no_secret(
        sim, tiny_run_copy, tmp_path, procs):
    runs_dir, train_id = tiny_run_copy
    production = runs_dir / train_id / "produccion"
    log_path = tmp_path / "trader.log"
    async with Receiver() as receiver:
        url = f"json://127.0.0.1:{receiver.port}/sactui?+X-Sactui-Token=${{SACTUI_ALERT_TOKEN}}"
        config = write_config(tmp_path / "config.toml", urls=[url], risk={"max_consecutive_failures": 1},
                              streams={"enabled": False})  # every step reads REST: the failure lands
        with open(log_path, "w") as log:
            proc = start(runs_dir, train_id, sim, log, config)
            procs.append(proc)
            await until_ready(sim, log_path, proc)
            started = await receiver.wait_for(lambda j: j["title"] == "sactui session started", 10, "of the start")
            await step_rows(sim, production, 3, proc)
            sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
            provoked = asyncio.get_running_loop().time()
            await sim.step()
            emergency = await receiver.wait_for(lambda j: j["title"].startswith("sactui EMERGENCY"), 10,
                                                "of the emergency")
            assert await exit_code(proc) == 7
        stopped = await receiver.wait_for(lambda j: j["title"] == "sactui session ended HALTED", 10, "of the stop")
    body = emergency["json"]
    assert emergency["at"] - provoked < 5.0  # within a few seconds of the candle that failed
    assert body["title"] == "sactui EMERGENCY connection_failures: FLAT"
    message = body["message"]
    assert "trigger: connection_failures" in message and "equity: 10,000.00 USDT" in message
    assert "drawdown: 0.00%" in message and "outcome: FLAT (read back from the exchange); engine HALTED" in message
    assert body["type"] == "failure"
    assert "HALTED: connection_failures" in stopped["json"]["message"]
    assert started["json"]["type"] == "info"
    # the token went where it was configured (a header), and nowhere else
    assert all(r["headers"].get("X-Sactui-Token") == TOKEN for r in receiver.received)
    for item in receiver.received:
        assert TOKEN not in item["raw"] and TOKEN not in item["path"] and TOKEN not in str(item["query"])
    output = log_path.read_text()
    assert "alerts to json#1" in output and TOKEN not in output
    assert TOKEN not in every_file_text(runs_dir)  # journals, session.json, heartbeat.json, latch


async def test_an_alert_url_naming_an_unset_variable_refuses_the_start_naming_the_variable(
        sim, tiny_run_copy, tmp_path):
    runs_dir, train_id = tiny_run_copy
    config = write_config(tmp_path / "config.toml", urls=["json://127.0.0.1:9/x?+X-T=${SACTUI_NOT_SET_ANYWHERE}"])
    env = dict(os.environ, BINANCE_TESTNET_API_KEY=SIM_KEY, BINANCE_TESTNET_API_SECRET=SIM_SECRET)
    env.pop("SACTUI_NOT_SET_ANYWHERE", None)
    done = subprocess.run([SACTUI, "--train-id", train_id, "--runs-dir", str(runs_dir), "--headless",
                           "--endpoint", sim.rest_base, "--config", str(config)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("sactui: error: config.toml [alerts] urls: entry 1 uses ${SACTUI_NOT_SET_ANYWHERE}, "
                                   "which is not set in the environment")
    assert sim.orders_received == []


async def _latencies(sim, runs_dir, train_id, tmp_path, name: str, urls: list[str], procs) -> list[float]:
    """One session: 12 candles, each with its account read failing (an error event, an alert each),
    then SIGTERM; the journal's decision latencies (ms)."""
    production = runs_dir / train_id / "produccion"
    config = write_config(tmp_path / f"{name}.toml", urls=urls, alerts={"repeat_seconds": 0, "min_level": "info"},
                          risk={"max_consecutive_failures": 1000}, streams={"enabled": False})
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "w") as log:
        proc = start(runs_dir, train_id, sim, log, config)
        procs.append(proc)
        await until_ready(sim, log_path, proc, 1)
        first = len(rows(production))
        for _ in range(12):
            before = len(rows(production))
            sim.faults.fail_next_requests(3, status=503, path_prefix="/fapi/v2/account")
            await sim.step()
            await wait_for(lambda: len(rows(production)) > before, 15, "the row of the candle just closed")
        proc.send_signal(signal.SIGTERM)
        assert await exit_code(proc) == 0
    journal = rows(production)[first:]
    assert len(journal) == 12 and {r["order_status"] for r in journal} == {"ERROR:account"}
    output = log_path.read_text()
    return [float(r["decision_latency_ms"]) for r in journal], output


async def test_a_receiver_that_never_answers_does_not_slow_the_trading_steps(sim, tiny_run_copy, tmp_path, procs):
    """Every step fails its account read (an 'exchange calls failing' alert each, none grouped),
    once without alerts and once with alerts to a receiver that accepts and never answers.
    If sending ran on the trading loop, each such step would wait for apprise's timeout
    (seconds); the steps' own latencies must stay those of the run without alerts."""
    runs_dir, train_id = tiny_run_copy
    without, _ = await _latencies(sim, runs_dir, train_id, tmp_path, "off", [], procs)
    async with Receiver(hang=True) as silent:
        with_alerts, output = await _latencies(sim, runs_dir, train_id, tmp_path, "hung",
                                               [f"json://127.0.0.1:{silent.port}/x"], procs)
    base, hung = statistics.median(without), statistics.median(with_alerts)
    print(f"step latency median: no alerts {base:.1f} ms, alerts to a silent receiver {hung:.1f} ms; "
          f"max {max(without):.1f} / {max(with_alerts):.1f} ms")
    assert "exchange" in output and "alerts to json#1" in output
    assert max(with_alerts) < 1000.0  # one blocked send would cost apprise's 4 s timeout
    assert hung < 1.5 * base + 20.0
