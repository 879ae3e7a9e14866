"""Duplicate memory per device (issue 8): bounded for any seq jump, round-trips through snapshots.

The engine keeps, per boot_id, the highest seq and a bitmap of the last ``dedupe_window`` seqs. A
seq far ahead (up to the wire's 2**53) used to shift that bitmap by the jump: a huge integer,
MemoryError in ingest and a snapshot that could not be encoded. The reference model below says
exactly what must count as a duplicate: a seq seen before that is still within the window of the
highest seq of its boot.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.engine import Engine, IngestOutcome
from likavillkor import wire
from likavillkor.policy import load_policy

from .conftest import START, roster

POLICIES = load_policy()
WINDOW = POLICIES.defaults.dedupe_window
DEVICE = "anna-ipad"
T = START + 60  # inside the meeting window
MAX_SEQ = 2**53

seqs = st.one_of(st.integers(0, 3 * WINDOW), st.integers(MAX_SEQ - 3 * WINDOW, MAX_SEQ), st.integers(0, MAX_SEQ))
# (boot, seq, take a snapshot and continue on a restored engine before this message)
messages = st.lists(st.tuples(st.sampled_from(["b1", "b2", "b3"]), seqs, st.booleans()), max_size=60)


def _engine() -> Engine:
    return Engine(roster("anna"), POLICIES, now=START)


def _ingest(engine: Engine, boot: str, seq: int, t: float = T) -> IngestOutcome:
    msg = wire.Sample(device_id=DEVICE, boot_id=boot, seq=seq, ts=t, link=wire.LinkType.WIFI)
    return engine.ingest(msg, t)[0]


def _restored(engine: Engine) -> Engine:
    again = _engine()
    again.restore(engine.snapshot(), T)
    return again


class Model:
    """What the bounded memory promises, written the slow and obvious way."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}
        self.high: dict[str, int] = {}

    def duplicate(self, boot: str, seq: int) -> bool:
        seen = self.seen.setdefault(boot, set())
        dup = seq in seen and self.high[boot] - seq < WINDOW
        seen.add(seq)
        self.high[boot] = max(self.high.get(boot, seq), seq)
        return dup


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_duplicates_match_the_model_across_snapshots(msgs: list[tuple[str, int, bool]]) -> None:
    engine, model = _engine(), Model()
    for boot, seq, snapshot_first in msgs:
        if snapshot_first:
            engine = _restored(engine)
        outcome = _ingest(engine, boot, seq)
        assert (outcome is IngestOutcome.DUPLICATE) == model.duplicate(boot, seq), (boot, seq)
    # memory bounded: a window of bits per boot, whatever the seqs were
    for dev in engine._devices.values():
        assert len(dev.boots) <= 4
        for high, bits in dev.boots.values():
            assert 0 <= high <= MAX_SEQ and bits.bit_length() <= WINDOW
    blob = engine.snapshot()
    assert _restored(engine).snapshot() == blob


def test_jump_to_the_largest_seq_is_fast_and_snapshots() -> None:
    engine = _engine()
    assert _ingest(engine, "b1", 0) is IngestOutcome.ACCEPTED
    t0 = time.process_time()  # CPU time: a loaded machine's scheduling stalls are not the code's
    assert _ingest(engine, "b1", MAX_SEQ) is IngestOutcome.ACCEPTED
    assert _ingest(engine, "b1", 2**30) is not IngestOutcome.DUPLICATE  # far behind: outside the window
    assert time.process_time() - t0 < 0.05  # the old shift by the jump took ~0.1 s of CPU per 2**30
    blob = engine.snapshot()
    assert len(blob) < 1000
    again = _restored(engine)
    assert _ingest(again, "b1", MAX_SEQ) is IngestOutcome.DUPLICATE
    assert _ingest(again, "b1", MAX_SEQ - WINDOW + 1) is not IngestOutcome.DUPLICATE
    assert _ingest(again, "b1", MAX_SEQ - WINDOW + 1) is IngestOutcome.DUPLICATE


def test_a_new_boot_starts_its_own_memory_and_old_boots_are_bounded() -> None:
    engine = _engine()
    for i in range(10):  # ten restarts of the agent, each with a new boot_id
        assert _ingest(engine, f"boot-{i}", MAX_SEQ - i) is IngestOutcome.ACCEPTED
        assert _ingest(engine, f"boot-{i}", MAX_SEQ - i) is IngestOutcome.DUPLICATE
    assert len(engine._devices[DEVICE].boots) == 4
    assert _ingest(_restored(engine), "boot-9", MAX_SEQ - 9) is IngestOutcome.DUPLICATE


def test_a_damaged_mask_in_a_snapshot_is_cut_to_the_window() -> None:
    from collector.engine import snapshot as snap

    boots = snap._boots({"b1": (10, "f" * 1000), "b2": (5, "not hex")}, WINDOW)
    assert boots["b1"] == [10, (1 << WINDOW) - 1]
    assert boots["b2"] == [5, 1]
