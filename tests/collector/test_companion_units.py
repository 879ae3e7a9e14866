"""The companion page's measurements and bounds (collector/companion.py), on an injected clock."""

from __future__ import annotations

import pytest

from collector.companion import CompanionHub, Limits, ProbeStats, TokenBucket, companion_sample, parse_message
from likavillkor import wire


def test_round_trip_jitter_and_loss_from_echoes() -> None:
    stats = ProbeStats(window=10, deadline_s=1.0)
    t = 100.0
    for i in range(8):  # 8 probes: 6 echoed in 20/40 ms, one late (1.5 s), one never
        n = stats.send(t + i * 0.25)
        if i < 6:
            assert stats.echo(n, t + i * 0.25 + (0.02 if i % 2 == 0 else 0.04))
        elif i == 6:
            late = n
    assert stats.echo(late, t + 6 * 0.25 + 1.5)  # late: lost for the meeting, but proof of contact
    assert not stats.echo(late, t + 3.0) and not stats.echo(999, t + 3.0) and not stats.echo("1", t + 3.0)
    heard, rtt, jitter, loss = stats.report(t + 5.0)
    assert heard and rtt == pytest.approx(30.0) and jitter == pytest.approx(20.0)
    assert loss == pytest.approx(100 * 2 / 8)
    heard, rtt, jitter, loss = stats.report(t + 6.0)  # nothing since: no evidence of contact
    assert not heard and rtt is None and jitter is None and loss == pytest.approx(25.0)


def test_unanswered_probes_are_bounded_and_counted_as_lost() -> None:
    stats = ProbeStats(window=20, deadline_s=1.0)
    for i in range(10_000):
        stats.send(i * 0.25)
    heard, _, _, loss = stats.report(10_000 * 0.25 + 2)
    assert not heard and loss == 100.0
    assert len(stats._sent) == 0  # expired probes are dropped: memory stays bounded


def test_rate_and_socket_bounds_per_link() -> None:
    bucket = TokenBucket(rate=20, burst=40, now=0.0)
    assert sum(bucket.allow(0.0) for _ in range(100)) == 40
    assert sum(bucket.allow(1.0) for _ in range(100)) == 20
    hub = CompanionHub(Limits(sockets_per_link=2, max_sockets=3))
    a, b = ("ks", "anna"), ("ks", "bo")
    assert hub.admit(a) is None and hub.admit(a) is None
    assert hub.admit(a) == "too_many_sockets_per_link"
    assert hub.admit(b) is None and hub.admit(b) == "too_many_sockets"
    hub.release(a)
    assert hub.admit(b) is None and hub.open == 3
    hub.set_visible(a, 1, True)
    hub.set_visible(a, 2, True)
    hub.set_visible(a, 1, False)
    assert hub.visible[a] == {2}
    hub.set_visible(a, 2, False)
    assert a not in hub.visible


@pytest.mark.parametrize("raw", ["x" * 513, "not json", "[1]", '{"n": 1}', '{"t": 5}', b"\xff\xfe"])
def test_bad_messages_are_refused(raw: str | bytes) -> None:
    assert parse_message(raw, 512) is None


def test_sample_is_a_valid_wire_message() -> None:
    msg = companion_sample("anna-ipad", "ks", 1_796_112_000.123, 23.456, 1.2, 5.0)
    assert wire.decode(wire.encode(msg)) == msg
    assert (msg.boot_id, msg.seq, msg.rtt_ms, msg.loss_percent) == ("companion", 1_796_112_000_123, 23.5, 5.0)
    assert msg.link is None  # a browser cannot tell Wi-Fi from mobile data (H9)
