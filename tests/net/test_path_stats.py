"""PathStats arithmetic, fed (seq, send_t, recv_t) with an explicit clock: no sleeping."""

from __future__ import annotations

import itertools

import pytest

from agent.probes.pathstats import PathStats, ReplyKind
from likavillkor import emodel


def feed(
    stats: PathStats, rtts_ms: list[float | None], *, period: float = 0.1, t0: float = 100.0, seq0: int = 1
) -> float:
    """Send one probe per period; None = never answered. Returns the time of the last send."""
    t = t0
    for seq, rtt in enumerate(rtts_ms, start=seq0):
        t = t0 + (seq - seq0) * period
        stats.on_sent(seq, t, token=seq * 10)
        if rtt is not None:
            assert stats.on_reply(seq, t + rtt / 1000, token=seq * 10) in (ReplyKind.OK, ReplyKind.REORDERED)
    return t


def test_rtt_median_loss_and_mos() -> None:
    stats = PathStats(window_s=15, timeout_s=1.0)
    rtts: list[float | None] = [20, 30, None, 25, 40, None, 20, 30, 20, 25]
    last = feed(stats, rtts)
    snap = stats.snapshot(last + 1.5)
    assert snap.probe_reachable is True
    assert snap.rtt_ms == pytest.approx(25.0)
    assert snap.loss_percent == pytest.approx(20.0)
    assert snap.decided == 10 and snap.answered == 8
    assert snap.mos == pytest.approx(emodel.mos(25.0, snap.jitter_ms or 0, 20.0), abs=1e-3)


def test_jitter_follows_rfc3550() -> None:
    stats = PathStats(window_s=60, timeout_s=1.0)
    rtts = [20.0, 30.0, 20.0, 50.0, 50.0]
    last = feed(stats, list(rtts))
    j = 0.0
    for prev, cur in itertools.pairwise(rtts):
        j += (abs(cur - prev) - j) / 16
    assert stats.snapshot(last + 2).jitter_ms == pytest.approx(j, abs=1e-3)


def test_pending_probes_are_not_counted_as_lost_yet() -> None:
    stats = PathStats(window_s=15, timeout_s=1.0)
    stats.on_sent(1, 10.0)
    stats.on_sent(2, 10.1)
    stats.on_reply(1, 10.12)
    snap = stats.snapshot(10.5)  # probe 2 is 0.4 s old: not yet lost
    assert snap.loss_percent == 0.0 and snap.decided == 1
    snap = stats.snapshot(11.2)  # now it is
    assert snap.loss_percent == 50.0 and snap.decided == 2


def test_duplicate_unknown_and_wrong_token_are_not_success() -> None:
    stats = PathStats(window_s=15, timeout_s=1.0)
    stats.on_sent(1, 0.0, token=111)
    stats.on_sent(2, 0.1, token=222)
    assert stats.on_reply(1, 0.02, token=111) is ReplyKind.OK
    assert stats.on_reply(1, 0.03, token=111) is ReplyKind.DUPLICATE
    assert stats.on_reply(99, 0.04, token=999) is ReplyKind.UNKNOWN  # never sent
    assert stats.on_reply(2, 0.15, token=333) is ReplyKind.UNKNOWN  # right seq, not our timestamp
    snap = stats.snapshot(2.0)
    assert snap.loss_percent == 50.0  # probe 2 was never really answered
    assert stats.counters == {"sent": 2, "ok": 1, "reordered": 0, "duplicate": 1, "late": 0, "unknown": 2}


def test_reordered_counts_as_answered_and_late_stays_lost() -> None:
    stats = PathStats(window_s=15, timeout_s=0.5)
    for seq in (1, 2, 3):
        stats.on_sent(seq, seq * 0.1)
    assert stats.on_reply(2, 0.25) is ReplyKind.OK
    assert stats.on_reply(1, 0.26) is ReplyKind.REORDERED
    assert stats.on_reply(3, 1.0) is ReplyKind.LATE  # 0.7 s > 0.5 s timeout
    assert stats.on_reply(3, 1.1) is ReplyKind.DUPLICATE
    snap = stats.snapshot(2.0)
    assert snap.answered == 2 and snap.loss_percent == pytest.approx(100 / 3, abs=1e-3)


def test_outage_produces_a_data_point_not_nothing() -> None:
    stats = PathStats(window_s=5, timeout_s=1.0)
    last = feed(stats, [20.0] * 10)  # 100.0 .. 100.9 answered
    for i in range(60):  # then 6 s of silence
        stats.on_sent(100 + i, last + 0.1 * (i + 1))
    snap = stats.snapshot(last + 7.0)
    assert snap.probe_reachable is False
    assert snap.loss_percent == 100.0
    assert snap.rtt_ms is None and snap.mos == 1.0
    fields = snap.fields()
    assert set(fields) == {"rtt_ms", "jitter_ms", "loss_percent", "mos", "probe_reachable", "loss_alarm"}


def test_nothing_decided_yet_is_unknown_not_down() -> None:
    stats = PathStats(window_s=15, timeout_s=1.0)
    assert stats.snapshot(0.0).probe_reachable is None
    stats.on_sent(1, 0.0)
    assert stats.snapshot(0.5).probe_reachable is None


def test_window_forgets_old_probes() -> None:
    stats = PathStats(window_s=2, timeout_s=0.5)
    feed(stats, [None] * 10, t0=0.0)  # 0.0..0.9 lost
    last = feed(stats, [30.0] * 10, t0=10.0, seq0=11)
    snap = stats.snapshot(last + 0.6)
    assert snap.loss_percent == 0.0 and snap.probe_reachable is True
    assert stats.snapshot(last + 0.6).decided == 10
    stats.on_sent(21, 11.0)
    assert min(stats._probes) == 11  # the lost ones from t=0 were pruned


def test_no_loss_share_from_too_few_probes() -> None:
    """Issue 11 (bench_false_alarms --faults): right after the agent starts, 5 % loss over the few
    probes of a filling window read as 13-17 %, i.e. failing. Below ``min_decided`` probes there is
    RTT and jitter but no loss share (and no MOS)."""
    stats = PathStats(window_s=15, timeout_s=1.0, min_decided=100)
    for seq in range(1, 41):  # 4 s at 10/s, 6 of them lost (15 %)
        stats.on_sent(seq, seq * 0.1)
        if seq % 7 != 0:
            stats.on_reply(seq, seq * 0.1 + 0.02)
    snap = stats.snapshot(6.0)
    assert snap.loss_percent is None and snap.mos is None and snap.rtt_ms is not None and snap.probe_reachable
    for seq in range(41, 121):
        stats.on_sent(seq, seq * 0.1)
        if seq % 7 != 0:
            stats.on_reply(seq, seq * 0.1 + 0.02)
    snap = stats.snapshot(14.0)
    assert snap.loss_percent is not None and 10 < snap.loss_percent < 20
