"""Short, functional versions of bench/bench_engine.py and bench/bench_participants_memory.py.

The timing claims (>= 100,000 samples/s on one core for 10,000 participants) live in
``bench/bench_engine.py``, which prints the measured rate and its ratio to the target
(docs/performance.md): a test on a loaded 2-core machine asserts no wall-clock or CPU budget.
Here: the engine takes a large load completely and correctly; memory per participant (counted
by tracemalloc, not timed) stays far inside the 300 MB budget."""

from __future__ import annotations

import gc
import tracemalloc

from collector.engine import Engine, IngestOutcome, ParticipantState, Verdict
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import Meeting, Participant, Role, Roster, System

from .conftest import START


def big(n: int, per: int = 50) -> Roster:
    r = Roster()
    for k in range(n // per):
        parts = tuple(Participant(f"m{i}", f"M {i}", Role.LEDAMOT, f"d{i}") for i in range(k * per, (k + 1) * per))
        r.meetings[f"mt{k}"] = Meeting(f"mt{k}", "kommunstyrelsen", START, START + 7200, "", System.TEAMS, False, parts)
        r.devices.update({p.device_id: p.member_id for p in parts})
    return r


def sample(i: int, seq: int, t: float) -> wire.Sample:
    return wire.Sample(
        device_id=f"d{i}",
        boot_id="b",
        seq=seq,
        ts=t,
        link=wire.LinkType.WIFI,
        rtt_ms=25.0,
        jitter_ms=3.0,
        loss_percent=3.0 if (i + seq) % 37 == 0 else 0.2,
        mos=4.3,
        wifi_signal_dbm=-55.0,
        tx_kbps=1500.0,
        rx_kbps=2500.0,
        battery_percent=80.0,
        battery_charging=False,
        battery_lasts_meeting=True,
        cpu_percent=30.0,
        mem_available_percent=40.0,
        camera="in_use",
        microphone="ok",
    )


def test_a_large_load_is_taken_completely_and_judged() -> None:
    n, seconds = 2000, 10
    engine = Engine(big(n), load_policy(), now=START - 100)
    accepted = 0
    for s in range(seconds):
        for i in range(n):
            accepted += engine.ingest(sample(i, s, START + s), START + s)[0] is IngestOutcome.ACCEPTED
        engine.tick(START + s)
    assert accepted == n * seconds
    # every sample judged: healthy members are ok, the meetings on equal terms
    views = [engine.view(mid, START + seconds - 1) for mid in engine.meeting_ids()]
    assert all(v is not None and v.verdict is Verdict.EQUAL_TERMS for v in views)
    states = {p.state for v in views if v is not None for p in v.participants}
    assert states == {ParticipantState.OK}
    # a duplicate of the whole last second is recognised as such
    again = [engine.ingest(sample(i, seconds - 1, START + seconds - 1), START + seconds - 1)[0] for i in range(n)]
    assert set(again) == {IngestOutcome.DUPLICATE}


def test_memory_short() -> None:
    n = 2000
    roster, policies = big(n), load_policy()
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    engine = Engine(roster, policies, now=START - 100)
    for s in range(12):
        for i in range(n):
            engine.ingest(sample(i, s, START + s), START + s)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_participant = (held - base) / n
    # 300 MB / 10,000 participants = 30 KB each is the budget; the engine needs a few KB
    assert per_participant < 10_000, f"{per_participant:,.0f} bytes per participant"
