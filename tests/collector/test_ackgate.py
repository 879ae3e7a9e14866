"""The ack gate's decisions (collector/mqtt/ackgate.py): a PUBACK waits for the store, within bounds.
The end-to-end case (a SIGKILL right after ingest) is tests/faults/test_collector_kill_acked.py."""

from __future__ import annotations

from collector.mqtt.ackgate import AckGate, releasable


class _Store:
    def __init__(self) -> None:
        self.queued = 0
        self.done = 0
        self.up = True
        self.wakes = 0


def _gate(store: _Store, now: list[float], hold_s: float = 5.0, max_held: int = 100) -> AckGate:
    def wake() -> None:
        store.wakes += 1

    return AckGate(
        ticket=lambda: store.queued,
        done=lambda: store.done,
        store_up=lambda: store.up,
        hold_s=hold_s,
        max_held=max_held,
        clock=lambda: now[0],
        wake=wake,
    )


def test_releasable() -> None:
    assert releasable(3, 0.0, 3, True, 1.0, 5.0)  # the store has it
    assert not releasable(4, 0.0, 3, True, 1.0, 5.0)  # it does not yet
    assert releasable(4, 0.0, 3, False, 1.0, 5.0)  # the store is failing: never hold the live feed
    assert releasable(4, 0.0, 3, True, 5.0, 5.0)  # the time bound


def test_a_puback_waits_until_the_store_wrote_its_rows_in_order() -> None:
    store, now = _Store(), [0.0]
    gate = _gate(store, now)
    store.queued = 2
    assert gate.hold(11)
    store.queued = 4
    assert gate.hold(12)
    assert store.wakes == 2  # the writer is told someone waits
    assert gate.due() == []
    store.done = 2
    assert gate.due() == [11]
    store.done = 4
    assert gate.due() == [12]
    assert gate.released_unstored == 0


def test_bounds_store_down_time_and_count() -> None:
    store, now = _Store(), [0.0]
    gate = _gate(store, now, hold_s=5.0, max_held=2)
    store.queued = 1
    assert gate.hold(1)
    now[0] = 5.0
    assert gate.due() == [1]  # held hold_s: released
    assert gate.released_unstored == 1
    for mid in (2, 3, 4):
        gate.hold(mid)
    assert gate.due() == [2]  # over max_held: the oldest goes
    store.up = False
    assert not gate.hold(5)  # the store is failing: acknowledged at once ...
    assert gate.due() == [3, 4]  # ... after those held before it
    gate.hold(6)
    store.up = True
    gate.hold(7)
    gate.forget()  # a new connection: the broker redelivers them
    assert gate.held() == 0 and gate.due() == []
