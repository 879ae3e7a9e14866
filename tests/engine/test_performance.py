"""Short versions of bench/bench_engine.py and bench/bench_participants_memory.py.

The bench scripts measure 10,000 participants (targets: >= 100,000 samples/s on one core,
< 300 MB). These guard against regressions with a margin for a shared, busy CI machine."""

from __future__ import annotations

import gc
import time
import tracemalloc

from collector.engine import Engine, IngestOutcome
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


def test_throughput_short() -> None:
    n, seconds = 2000, 10
    engine = Engine(big(n), load_policy(), now=START - 100)
    batches = [[sample(i, s, START + s) for i in range(n)] for s in range(seconds)]
    c0 = time.process_time()
    accepted = 0
    for s, batch in enumerate(batches):
        for msg in batch:
            accepted += engine.ingest(msg, START + s)[0] is IngestOutcome.ACCEPTED
        engine.tick(START + s)
    rate = n * seconds / (time.process_time() - c0)
    assert accepted == n * seconds
    assert rate > 30_000, f"{rate:,.0f} samples/s"


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
