"""Break each safety rule on purpose and check that a test fails: a rule is pinned only then.

Not part of ``make test`` (it runs the suite's safety tests once per rule, ~20-30 min).
Run it after changing a safety rule or the test that pins it:

    .venv/bin/python tests/break_rules.py            # every rule
    .venv/bin/python tests/break_rules.py latch lock # rules whose name contains a word

It copies the working tree to a temporary folder (never touching this one), applies one
mutation at a time - an exact text replacement that must match once - runs the tests
named for that rule with ``PYTHONPATH`` on the copy (so ``sactui`` subprocesses run the
broken code too), and reports PINNED (a test failed) or NOT PINNED. Exit status 1 when
any rule is not pinned or a mutation no longer applies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rule:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


U, I = "tests/unit/", "tests/integration/"
RULES = (
    Rule("drawdown on equity incl. unrealised PnL", "trader_core/engine.py",
         "if self.guard.breached(equity):", "if self.guard.breached(self.account.wallet_balance):",
         (U + "test_engine_rules.py::test_a_losing_open_position_trips_the_limit_on_equity_while_the_wallet_stays",)),
    Rule("drawdown trips at exactly the limit", "trader_core/accounting.py",
         "    return equity <= drawdown_stop_equity(top, limit)", "    return equity < drawdown_stop_equity(top, limit)",
         (U + "test_engine_rules.py::test_guard_trips_at_exactly_the_limit_and_not_a_hair_before",)),
    Rule("drawdown from the session's peak", "trader_core/risk.py",
         "if self.peak is None or equity > self.peak:", "if self.peak is None:",
         (U + "test_engine_rules.py::test_the_limit_is_measured_from_the_session_peak",)),
    Rule("emergency: flat only when the exchange reads flat", "trader_core/emergency.py",
         "        return position is not None and position.flat\n", "        return True\n",
         (I + "test_emergency.py::test_a_refused_close_is_not_flat_halts_and_keeps_trying_until_flat",)),
    Rule("emergency: configured attempts before the first record", "trader_core/emergency.py",
         "            if until_round is not None and number >= until_round:",
         "            if until_round is not None:",
         (I + "test_emergency.py::test_a_refused_close_is_not_flat_halts_and_keeps_trying_until_flat",)),
    Rule("emergency keeps closing until flat (never just exits)", "trader_core/engine.py",
         "            if self._pending_close is not None:\n                await self._keep_closing()\n", "",
         (I + "test_emergency.py::test_a_refused_close_is_not_flat_halts_and_keeps_trying_until_flat",
          I + "test_emergency.py::test_partial_fills_are_closed_round_after_round_and_every_fill_is_recorded")),
    Rule("connector close-all re-reads the position", "trader_core/exchanges/binance.py",
         "                await self.clock.sleep(min(self.retrier.delay_s, 0.5))\n                position = await self.position()",
         "                await self.clock.sleep(min(self.retrier.delay_s, 0.5))\n"
         "                position = PositionState(self.symbol, ZERO, ZERO, ZERO, ZERO)",
         (I + "test_connector.py::test_close_all_whose_orders_are_lost_never_reports_flat",)),
    Rule("consecutive failures trigger the emergency at the count", "trader_core/engine.py",
         "if self.consecutive_failures >= self.settings.risk.max_consecutive_failures:",
         "if self.consecutive_failures > self.settings.risk.max_consecutive_failures:",
         (I + "test_emergency.py::test_consecutive_failures_trigger_the_emergency_at_the_configured_count",)),
    Rule("an unknown order outcome runs the emergency", "trader_core/engine.py",
         "        except (OrderOutcomeUnknown, CredentialsError) as exc:\n"
         "            await self._emergency(\"critical_error\", str(exc))\n",
         "        except (OrderOutcomeUnknown, CredentialsError) as exc:\n            pass\n",
         (I + "test_emergency.py::test_an_unknown_order_outcome_runs_the_emergency",)),
    Rule("stale candles never trade", "trader_core/engine.py",
         "            if stale:\n                return \"stale\"", "            if False:\n                return \"stale\"",
         (U + "test_engine_rules.py::test_stale_candles_never_trade_even_when_the_policy_wants_to",)),
    Rule("backfilled candles never trade", "trader_core/engine.py",
         "            if candle.backfilled:\n                return \"backfilled\"",
         "            if False:\n                return \"backfilled\"",
         (I + "test_engine_faults.py::test_the_newest_candle_caught_up_after_a_reconnect_is_never_traded",)),
    Rule("an unknown outcome is looked up, never resent", "trader_core/exchanges/binance.py",
         "                    return await self._resolve(client_order_id, side, abs(quantity), attempt)",
         "                    found = await self._resolve(client_order_id, side, abs(quantity), attempt)\n"
         "                    if found.status != NOT_FOUND:\n                        return found\n"
         "                    continue",
         (I + "test_connector.py::test_unprocessed_5xx_is_looked_up_for_the_grace_window_and_never_resent",
          I + "test_engine_faults.py::test_an_order_lost_before_processing_is_recorded_not_found_and_never_resent")),
    Rule("recovery finds an order sent before the crash", "trader_core/recovery.py",
         "missed=tuple((c, plan.candle_orders.get(c.open_time)) for c in candles)",
         "missed=tuple((c, None) for c in candles)",
         (I + "test_crash_restart.py::test_kill_9_between_the_order_and_its_row_finds_the_order_on_restart",)),
    Rule("recovery finds a crashed emergency's close orders", "trader_core/recovery.py",
         "            emergencies.setdefault(parsed.emergency_seq, (parsed.trigger, []))[1].append(order)",
         "            pass",
         (I + "test_crash_restart.py::test_kill_9_in_the_middle_of_an_emergency_is_recovered_from_its_close_ids",)),
    Rule("candles closed while down are journaled", "trader_core/recovery.py",
         "    candles = [c for c in history if last_candle is None or c.open_time > last_candle]",
         "    candles = []",
         (I + "test_crash_restart.py::test_kill_9_after_a_row_then_restart_keeps_the_journal_and_never_acts_twice",)),
    Rule("testnet/live journals are fsynced per row", "trader_core/launcher.py",
         "    return SessionParts(exchange, feed, clock, market_clock, durable=True, streams=streams)",
         "    return SessionParts(exchange, feed, clock, market_clock, durable=False, streams=streams)",
         (I + "test_engine_faults.py::test_feed_events_reach_the_operator_through_the_launcher",)),
    Rule("the latch is written before the first close order", "trader_core/engine.py",
         "        if trigger == \"max_drawdown\":\n"
         "            equity = measured_equity if measured_equity is not None else (\n"
         "                self.account.equity if self.account else Decimal(0))\n"
         "            self.protocol.latch(detail, equity, self.guard.peak)\n"
         "        self.state = EngineState.REDUCING\n"
         "        record, outcome, pending = await self.protocol.run(\n"
         "            seq, trigger, detail, position_before=self.position.quantity if self.position else Decimal(0),\n"
         "            peak=self.guard.peak, state_after=state_after,\n"
         "        )\n",
         "        self.state = EngineState.REDUCING\n"
         "        record, outcome, pending = await self.protocol.run(\n"
         "            seq, trigger, detail, position_before=self.position.quantity if self.position else Decimal(0),\n"
         "            peak=self.guard.peak, state_after=state_after,\n"
         "        )\n"
         "        if trigger == \"max_drawdown\":  # the latch after the close: a crash in between loses it\n"
         "            equity = measured_equity if measured_equity is not None else (\n"
         "                self.account.equity if self.account else Decimal(0))\n"
         "            self.protocol.latch(detail, equity, self.guard.peak)\n",
         (I + "test_emergency.py::test_the_drawdown_latch_is_written_before_the_first_close_order",)),
    Rule("unlatch finds the latch of every mode", "trader_core/modes.py",
         "LATCHING_FOLDERS: tuple[str, ...] = tuple(dict.fromkeys(m.journal_folder for m in Mode if m.latches))",
         "LATCHING_FOLDERS: tuple[str, ...] = (\"produccion\",)",
         (I + "test_session_lifecycle.py::test_a_sim_latch_is_found_and_cleared_by_unlatch",)),
    Rule("an emergency ends the session (restart works the first time)", "trader_core/launcher.py",
         "        store.end(session, status=HALTED, reason=engine.halted_reason)", "        pass",
         (I + "test_crash_restart.py::test_restart_after_an_emergency_works_the_first_time",)),
    Rule("one process per run and mode", "trader_core/launcher.py",
         "    lock = SessionLock.acquire(folder, f\"a {mode} session of {run.train_id}\")",
         "    lock = SessionLock(folder, None)",
         (I + "test_session_lifecycle.py::test_a_second_process_on_the_same_run_is_refused_and_changes_nothing",)),
    Rule("a ban holds trading instead of counting as failures", "trader_core/engine.py",
         "        except TradingHeld as exc:\n            self.pipeline.on_candle(candle)\n            self._held(exc)\n"
         "            await self._journal_skip(candle, \"SKIPPED:banned\", started)\n            return\n",
         "",
         (I + "test_engine_faults.py::test_a_ban_holds_trading_keeps_the_session_up_and_resumes_when_it_lifts",)),
    Rule("a journal write failure runs the emergency", "trader_core/engine.py",
         "                await self._emergency(\"journal_failure\", f\"the journal cannot be written: {exc}\")",
         "                pass",
         (I + "test_session_lifecycle.py::test_a_journal_that_cannot_be_written_stops_trading_and_runs_the_emergency",)),
    Rule("a wrong-shaped answer is an exchange error", "trader_core/exchanges/payloads.py",
         "    if not isinstance(payload, dict):\n        raise MalformedResponse(", "    if False:\n        raise MalformedResponse(",
         (I + "test_engine_faults.py::test_a_wrong_shaped_answer_is_an_exchange_failure_not_a_crash",)),
    Rule("feed events reach the operator", "trader_core/launcher.py",
         "stale_after_s=stale_after,\n                     on_event=req.events.report)", "stale_after_s=stale_after)",
         (I + "test_engine_faults.py::test_feed_events_reach_the_operator_through_the_launcher",)),
    Rule("statistics count emergency fills", "trader_core/journal.py",
         "        self._apply_emergency(float(record.equity), int(record.close_fills), float(record.fees or 0))",
         "        pass",
         (I + "test_engine_faults.py::test_session_statistics_count_every_fill_model_f9_and_emergency",)),
    Rule("every candle gets a row, even a failed one", "trader_core/engine.py",
         "            await self._journal_skip(candle, \"ERROR:account\", started)\n", "",
         (I + "test_emergency.py::test_consecutive_failures_trigger_the_emergency_at_the_configured_count",)),
    Rule("a kline the exchange does not confirm is refused", "trader_core/feeds/kline_feed.py",
         "                            \"do not confirm; trading goes on\")\n                return\n",
         "                            \"do not confirm; trading goes on\")\n",
         (I + "test_engine_faults.py::test_a_kline_far_in_the_future_is_refused_and_trading_goes_on",)),
    Rule("--sim never resumes onto a fresh offline exchange", "trader_core/launcher.py",
         "resumable=mode.trades_real_exchange)", "resumable=True)",
         (I + "test_session_lifecycle.py::test_a_second_process_on_the_same_run_is_refused_and_changes_nothing",)),
    Rule("a directory named HALTED still latches", "trader_core/latch.py",
         "    except OSError as exc:  # a directory or an unreadable file named HALTED: still latched",
         "    except ZeroDivisionError as exc:",
         (I + "test_session_lifecycle.py::test_a_directory_named_halted_still_latches_with_one_line",)),
    Rule("a flat exchange after a crash is accepted, a different position refused", "trader_core/reconcile.py",
         "    if held == 0 and not unknown_orders:", "    if held == 0 and not unknown_orders and False:",
         (U + "test_reconcile.py",)),
    Rule("the console shows NOT FLAT while the protocol keeps closing", "trader_core/engine.py",
         "            closing=self._pending_close is not None,", "            closing=False,",
         ("tests/tui/test_app.py::test_a_close_the_exchange_refuses_shows_not_flat_until_the_exchange_reads_flat",)),
    Rule("a successful read resets the consecutive-failure count", "trader_core/engine.py",
         "        self.consecutive_failures = 0  # the exchange answered: failures are consecutive no more\n", "",
         (I + "test_emergency.py::test_a_success_resets_the_consecutive_failure_count",)),
    Rule("a reduction needs no margin", "trader_core/accounting.py",
         "    if reduces(position, quantity):\n        return True\n", "",
         (U + "test_risk.py::test_a_reduction_needs_no_margin_at_all",)),
    Rule("a pushed-account resync is dated by the exchange's updateTime", "trader_core/exchanges/account_book.py",
         "        exchange_ms = max(account.update_time_ms, position.update_time_ms)",
         "        exchange_ms = int(__import__('time').time() * 1000) + 900",
         (I + "test_account_streams.py::test_a_resync_is_dated_by_the_exchange_not_by_our_estimate_of_its_clock",)),
    Rule("a ban lifts only when its time has passed", "trader_core/engine.py",
         "        if self.held_until_ms and self.held_until_ms <= self.clock.now_ms():",
         "        if self.held_until_ms:",
         (I + "test_engine_faults.py::test_with_the_account_streams_a_ban_is_not_lifted_by_a_pushed_account_read",)),
    Rule("a row names no client id that never reached the exchange", "trader_core/engine.py",
         'return "SKIPPED:banned", None, None, client_id if exc.sent else ""',
         'return "SKIPPED:banned", None, None, client_id',
         (I + "test_engine_faults.py::test_with_the_account_streams_a_ban_is_not_lifted_by_a_pushed_account_read",)),
    # Monitoring (issue 11): what must reach the operator, and what must never.
    Rule("alerts: an emergency is never held back by grouping", "trader_core/monitoring/dispatcher.py",
         '        if alert.level == "emergency" or last is None or now - last >= self.repeat_s:',
         "        if last is None or now - last >= self.repeat_s:",
         (U + "test_monitoring.py::test_repeats_within_the_window_are_grouped_into_one_message_and_emergencies_never_wait",)),
    Rule("alerts: secrets are redacted from what is reported", "trader_core/monitoring/targets.py",
         "            out = out.replace(secret, MASK)", "            pass",
         (U + "test_monitoring.py::test_secrets_in_a_failure_reason_are_redacted",
          I + "test_monitoring_alerts.py::test_an_emergency_reaches_a_real_webhook_with_its_figures_and_no_secret")),
    Rule("watchdog: a dead process with a running heartbeat is a crash", "trader_core/monitoring/status.py",
         "        if not st.pid_alive:", "        if False:",
         (I + "test_monitoring_watch.py::test_kill_9_is_alerted_by_the_watchdog_within_the_staleness_and_a_clean_stop_is_not",)),
    Rule("watchdog: an old heartbeat is stale", "trader_core/monitoring/status.py",
         "        elif st.heartbeat_age_s is None or st.heartbeat_age_s > stale_s:",
         "        elif st.heartbeat_age_s is None:",
         (U + "test_monitoring.py::test_status_conditions_and_codes",)),
    # Planted bugs the soak must catch (issue 12): its invariants fail, not just a unit test.
    Rule("soak: an unknown order outcome is looked up, never resent", "trader_core/exchanges/binance.py",
         "                    return await self._resolve(client_order_id, side, abs(quantity), attempt)",
         "                    continue",
         ("tests/e2e/test_soak.py::test_the_short_soak_passes_every_invariant",)),
    Rule("soak: a restart journals the candles it missed", "trader_core/engine.py",
         "            await self._journal_recovered(candle, order)\n", "            pass\n",
         ("tests/e2e/test_soak.py::test_the_short_soak_passes_every_invariant",)),
    Rule("no session on a disk too full for the journal", "trader_core/journal.py",
         "    if free < min_free_bytes:\n", "    if False:\n",
         (U + "test_journal.py::test_a_disk_with_less_free_space_than_the_minimum_is_refused",)),
    Rule("the watchdog alerts a latch", "trader_core/monitoring/watchdog.py",
         "        if st.latched and (first or not before.latched):", "        if False:",
         (U + "test_monitoring.py::test_the_watchdog_alerts_halted_latched_and_not_flat_once_each_and_says_when_it_runs_again",)),
    Rule("the watchdog alerts NOT FLAT", "trader_core/monitoring/watchdog.py",
         "        if st.not_flat and (first or not before.not_flat):", "        if st.not_flat:",
         (U + "test_monitoring.py::test_the_watchdog_alerts_halted_latched_and_not_flat_once_each_and_says_when_it_runs_again",)),
    Rule("a breach between closes is latched with the equity it was measured on", "trader_core/engine.py",
         "            equity = measured_equity if measured_equity is not None else (",
         "            equity = (",
         (I + "test_account_streams.py::test_a_breach_seen_while_a_step_holds_the_engine_is_latched_with_the_figures_it_was_measured_on",)),
    Rule("the listenKey is kept alive", "trader_core/exchanges/streams.py",
         "            if now >= next_keepalive:", "            if False:",
         (I + "test_account_streams.py::test_the_listen_key_is_kept_alive_and_the_stream_reconnects_before_the_24_hour_cut",)),
    Rule("the user stream reconnects before the 24-hour cut", "trader_core/exchanges/streams.py",
         "            if now - opened >= cut_s:", "            if False:",
         (I + "test_account_streams.py::test_the_listen_key_is_kept_alive_and_the_stream_reconnects_before_the_24_hour_cut",)),
    Rule("backtest decides like the training env (parity after speed-ups)", "trader_core/engine.py",
         "        mark = price_to_decimal(candle.close)\n", "        mark = price_to_decimal(candle.open)\n",
         (I + "test_env_backtest_parity.py::test_env_and_backtest_engine_agree_order_for_order_over_the_5m_file",)),
)


def copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", "*.pyc")
    shutil.copytree(REPO, target / "repo", ignore=ignore)
    shared = REPO.parent / "shared"
    if shared.exists():
        (target / "shared").symlink_to(shared)


def run(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(copy))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or [""]
    return proc.returncode, tail[0]


def main(words: list[str]) -> int:
    chosen = [r for r in RULES if not words or any(w.lower() in r.name.lower() for w in words)]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="sactui-break-") as tmp:
        copy_tree(Path(tmp))
        copy = Path(tmp) / "repo"
        baseline = tuple(dict.fromkeys(t for rule in chosen for t in rule.tests))
        code, tail = run(copy, baseline)
        if code != 0:
            print(f"the tests fail without any mutation ({tail}): fix them first")
            return 1
        print(f"baseline: {tail}", flush=True)
        for rule in chosen:
            path = copy / rule.file
            text = path.read_text()
            if text.count(rule.old) != 1:
                print(f"STALE       {rule.name}: the mutation matches {text.count(rule.old)} times in {rule.file}")
                failures += 1
                continue
            path.write_text(text.replace(rule.old, rule.new))
            started = time.monotonic()
            try:
                code, tail = run(copy, rule.tests)
            finally:
                path.write_text(text)
            verdict = "PINNED" if code != 0 else "NOT PINNED"
            failures += code == 0
            print(f"{verdict:<11} {rule.name}  [{time.monotonic() - started:.0f} s: {tail}]", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
