"""The per-device rate limit lets an outbox replay through and still stops a flood (issue 8).

Found by the fault suite: after an outage the agent's backlog arrives at broker speed, far over the
live rate (20/s, burst 60), and was dropped as ``rate_limited``: samples lost. Pure, time passed in.
"""

from __future__ import annotations

from collector.mqtt.ingest import RateLimiter


def test_backlog_of_an_hour_arrives_at_once_and_passes() -> None:
    lim = RateLimiter(rate=20.0, burst=60.0)
    now = 10_000.0
    backlog = [now - 3600.0 + i for i in range(3600)]  # one sample a second, an hour ago
    assert all(lim.allow("d", now + i * 1e-4, ts) for i, ts in enumerate(backlog))


def test_flood_with_recent_or_frozen_device_time_is_limited() -> None:
    lim = RateLimiter(rate=20.0, burst=60.0)
    now = 10_000.0
    recent = sum(lim.allow("a", now + i * 1e-4, now) for i in range(3000))
    frozen = sum(lim.allow("b", now + i * 1e-4, now - 600.0) for i in range(3000))
    assert recent <= 2 * 60 + 8  # + 0.3 s of wall-clock refill
    assert frozen <= 2 * 60 + 8  # the wall bucket, then the replay bucket's burst: device time stands still


def test_device_time_going_back_and_forth_gains_nothing() -> None:
    lim = RateLimiter(rate=20.0, burst=60.0)
    now = 10_000.0
    passed = sum(lim.allow("d", now + i * 1e-4, now - 600.0 + (i % 2)) for i in range(3000))
    assert passed <= 2 * 61 + 20  # one second of device time at most


def test_other_devices_unaffected_by_a_flood() -> None:
    lim = RateLimiter(rate=20.0, burst=60.0)
    now = 10_000.0
    for i in range(3000):
        lim.allow("flood", now + i * 1e-4, now)
    assert lim.allow("calm", now + 0.5, now + 0.5)
