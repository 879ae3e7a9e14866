"""The durable outbox (issue 8): bounded, oldest dropped first and counted, order kept, durable."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.outbox import Outbox


def test_fifo_ack_and_cursor(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    ids = [box.put("t", f"m{i}".encode()) for i in range(5)]
    first = box.next_batch(2)
    assert [r.payload for r in first] == [b"m0", b"m1"]
    assert [r.payload for r in box.next_batch(10)] == [b"m2", b"m3", b"m4"]
    assert box.next_batch(10) == []  # everything handed out once
    box.ack(ids[1])
    box.ack(ids[1])  # a second ack of the same row is harmless
    assert len(box) == 4
    box.rewind()
    assert [r.payload for r in box.next_batch(10)] == [b"m0", b"m2", b"m3", b"m4"]


def test_bound_on_messages_drops_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_messages=3)
    for i in range(10):
        box.put("t", f"m{i}".encode())
    assert len(box) == 3
    assert box.dropped == 7
    assert [r.payload for r in box.next_batch(10)] == [b"m7", b"m8", b"m9"]


def test_bound_on_bytes_drops_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=2500)
    for i in range(5):
        box.put("t", bytes([i]) * 1000)
    assert box.size_bytes <= 2500 and len(box) == 2 and box.dropped == 3
    assert [r.payload[0] for r in box.next_batch(10)] == [3, 4]
    with pytest.raises(ValueError, match="exceeds"):
        box.put("t", b"x" * 3000)


def test_survives_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a = box.put("t/a", b"a")
    box.put("t/b", b"b", qos=1, retain=True)
    box.ack(a)
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    rows = again.next_batch(10)
    assert [(r.topic, r.payload, r.retain) for r in rows] == [("t/b", b"b", True)]
    assert len(again) == 1 and again.size_bytes == 1
