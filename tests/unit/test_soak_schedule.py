"""The soak's chaos schedule: a pure function of the seed, with every fault the issue names."""

from __future__ import annotations

from sactui.soak.schedule import FULL, PROCESS_SPACING, SHORT, SPACING, FaultKind, build_schedule, schedule_json


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert schedule_json(build_schedule(7, FULL)) == schedule_json(build_schedule(7, FULL))
    assert schedule_json(build_schedule(7, FULL)) != schedule_json(build_schedule(8, FULL))
    assert schedule_json(build_schedule(7, SHORT)) == schedule_json(build_schedule(7, SHORT))


def test_the_full_schedule_holds_every_fault_the_soak_promises():
    kinds = [f.kind for f in build_schedule(1, FULL)]
    assert set(kinds) == set(FaultKind)  # websockets, gaps, 5xx, ack lost, 429, 418, skew, listenKey, kills ...
    assert kinds.count(FaultKind.DRAWDOWN_BREACH) == 1
    assert kinds.count(FaultKind.KILL_RANDOM) + kinds.count(FaultKind.KILL_HELD_ORDER) >= 3


def test_the_short_schedule_has_a_kill_9_an_ack_lost_and_the_breach():
    kinds = {f.kind for f in build_schedule(1, SHORT)}
    assert {FaultKind.KILL_HELD_ORDER, FaultKind.KILL_RANDOM, FaultKind.ORDER_ACK_LOST,
            FaultKind.DRAWDOWN_BREACH} <= kinds


def test_faults_stay_apart_and_inside_the_span_for_many_seeds():
    process = {FaultKind.KILL_RANDOM, FaultKind.KILL_HELD_ORDER, FaultKind.DRAWDOWN_BREACH}
    for profile in (FULL, SHORT):
        for seed in range(40):
            faults = build_schedule(seed, profile)
            candles = [f.candle for f in faults]
            assert candles == sorted(candles)
            assert all(0 < c < profile.steps - 1 for c in candles)
            kills = [f.candle for f in faults if f.kind in process]
            others = [f for f in faults if f.kind not in process]
            for f in others:
                assert all(abs(f.candle - k) > PROCESS_SPACING for k in kills), (seed, f)
                assert f.candle >= profile.warmup
            ordinary = [f.candle for f in others if f.kind is not FaultKind.CONNECTION_CUT]
            assert all(b - a >= SPACING for a, b in zip(ordinary, ordinary[1:])), (seed, ordinary)


def test_the_clock_only_jumps_forward():
    for seed in range(40):
        skews = [f.get("skew_ms") for f in build_schedule(seed, FULL) if f.kind is FaultKind.CLOCK_SKEW]
        assert skews and all(s > 5_000 for s in skews)  # past the 5 s recvWindow: a real -1021
