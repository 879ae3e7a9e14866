"""collector.ratelimit: token buckets by key, time passed in, memory bounded."""

from __future__ import annotations

import pytest

from collector.ratelimit import Buckets, retry_after


def test_burst_then_the_rate_and_the_wait_until_the_next() -> None:
    b = Buckets(1 / 30, 5)
    assert [b.take("link", 0.0) for _ in range(5)] == [None] * 5
    wait = b.take("link", 0.0)
    assert wait == pytest.approx(30.0)
    assert b.take("link", 29.0) is not None and b.take("link", 30.5) is None
    assert b.take("other", 0.0) is None  # keys are separate
    assert retry_after(0.2) == "1" and retry_after(29.1) == "30"


def test_memory_stays_bounded_and_a_forgotten_key_starts_full() -> None:
    b = Buckets(1.0, 2, max_keys=100)
    for i in range(10_000):
        b.take(f"k{i}", float(i))
    assert len(b._buckets) <= 100
    with pytest.raises(ValueError):
        Buckets(0, 1)
