"""The path probe's statistics over its window of probes (issue 11; H1, H2, H15: the figures the
meeting's sound and image will meet):

- ``rtt_ms``: median round-trip time of the probes answered in the window.
- ``jitter_ms``: RFC 3550 interarrival jitter, J += (|D| − J)/16 over consecutive replies, where D
  is the difference of two round-trip times.
- ``loss_percent``: probes unanswered after ``timeout_ms`` among those sent in the window whose
  fate is known. A reply after the timeout is *late* and stays lost; a duplicate, or a reply to a
  sequence number (or timestamp) never sent, is counted and never taken for success.
- ``mos``: the simplified E-model (``likavillkor.emodel``) from the three above.
- ``probe_reachable``: False when nothing came back in the window. The sample then still says so
  (loss 100 %, MOS 1.0): an outage must produce a data point, not vanish from the graphs.

:class:`PathStats` is pure (fed ``(seq, send_t, recv_t)``, time passed in) so its arithmetic is
tested without sleeping; :class:`agent.probes.path.PathProber` is the asyncio I/O around it.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.probes.pathloss import LossDetector
from likavillkor import emodel


class ReplyKind(StrEnum):
    OK = "ok"
    REORDERED = "reordered"  # answered, but after a later probe's answer: still a success
    DUPLICATE = "duplicate"  # this probe was already answered
    LATE = "late"  # answered after the timeout: stays lost
    UNKNOWN = "unknown"  # a sequence number / timestamp this prober never sent (or long forgotten)


@dataclass(slots=True)
class _Probe:
    send_t: float
    token: int | None
    recv_t: float | None = None
    late: bool = False


@dataclass(frozen=True, slots=True)
class PathSnapshot:
    rtt_ms: float | None
    jitter_ms: float | None
    loss_percent: float | None
    mos: float | None
    probe_reachable: bool | None  # None: no probe's fate is known yet
    decided: int  # probes in the window whose fate is known
    answered: int
    loss_alarm: bool | None = None  # the sequential test's conclusion; None: no test

    def fields(self) -> dict[str, Any]:
        """The wire ``Sample`` fields."""
        return {
            "rtt_ms": self.rtt_ms,
            "jitter_ms": self.jitter_ms,
            "loss_percent": self.loss_percent,
            "mos": self.mos,
            "probe_reachable": self.probe_reachable,
            "loss_alarm": self.loss_alarm,
        }


class PathStats:
    """Pure statistics over the probes sent in the last ``window_s`` seconds (any monotonic clock)."""

    def __init__(
        self,
        window_s: float = 15.0,
        timeout_s: float = 1.0,
        min_decided: int = 1,
        detector: LossDetector | None = None,
        deadline_s: float = 0.25,
    ) -> None:
        self.window_s = window_s
        #: the sequential loss test, fed by :meth:`advance`; its change point bounds the loss share
        self.detector = detector
        self.deadline_s = min(deadline_s, timeout_s)
        self._pending: deque[int] = deque()  # sent, fate not yet given to the detector
        #: (from, to): the prober's own event loop stood still (a busy device): replies it read late
        #: then are not the path's lateness
        self._stall = (float("-inf"), float("-inf"))
        self._rtt_hint_s = 0.0
        self.timeout_s = timeout_s
        #: a loss share over fewer probes than this is no evidence (``loss_percent`` None while the
        #: window fills): 5 % loss reads as > 10 % in 1 of 25 windows of 50 probes (issue 11)
        self.min_decided = min_decided
        self._probes: OrderedDict[int, _Probe] = OrderedDict()
        self._max_answered = -1
        self._last_transit: float | None = None
        self._jitter_s: float | None = None
        self.counters: dict[str, int] = {"sent": 0, **{k.value: 0 for k in ReplyKind}}

    def on_sent(self, seq: int, send_t: float, token: int | None = None) -> None:
        """A probe left (or was due to leave and could not: it will count as lost)."""
        self._prune(send_t)
        self._probes[seq] = _Probe(send_t=send_t, token=token)
        self.counters["sent"] += 1
        if self.detector is not None:
            self._pending.append(seq)

    def deadline(self) -> float:
        """When the loss test takes an unanswered probe for lost: max(``deadline_s``, 4 × median RTT),
        at most the timeout."""
        return min(self.timeout_s, max(self.deadline_s, 4 * self._rtt_hint_s))

    def note_stall(self, start: float, end: float) -> None:
        """The prober's loop ran ``end - start`` seconds late: a reply read in (start, end + 0.1 s]
        may have waited in the socket, not on the path; the test takes it as answered."""
        self._stall = (start, end + 0.1)

    def advance(self, now: float) -> bool:
        """Give the detector every probe whose fate is known by ``now``, in send order: answered
        within the deadline (max(``deadline_s``, 4 × median RTT), at most the timeout) or not.
        True when its conclusion changed."""
        det = self.detector
        if det is None:
            return False
        deadline = self.deadline()
        changed = False
        pending = self._pending
        while pending:
            probe = self._probes.get(pending[0])
            if probe is None:  # pruned unseen (a stalled loop): its fate is long past
                pending.popleft()
                continue
            recv_t = probe.recv_t
            if recv_t is not None and (recv_t - probe.send_t <= deadline or self._stall[0] <= recv_t <= self._stall[1]):
                lost = False
            elif now - probe.send_t > deadline:
                lost = True
            else:
                break
            pending.popleft()
            changed = det.observe(lost, probe.send_t) or changed
        return changed

    def on_reply(self, seq: int, recv_t: float, token: int | None = None) -> ReplyKind:
        """A reply arrived for ``seq``; ``token`` is the sender timestamp it echoes, when known."""
        kind = self._classify(seq, recv_t, token)
        self.counters[kind.value] += 1
        if kind in (ReplyKind.OK, ReplyKind.REORDERED):
            probe = self._probes[seq]
            probe.recv_t = recv_t
            self._max_answered = max(self._max_answered, seq)
            self._update_jitter(recv_t - probe.send_t)
        elif kind is ReplyKind.LATE:
            self._probes[seq].late = True
        return kind

    def _classify(self, seq: int, recv_t: float, token: int | None) -> ReplyKind:
        probe = self._probes.get(seq)
        if probe is None or (token is not None and probe.token is not None and token != probe.token):
            return ReplyKind.UNKNOWN
        if probe.recv_t is not None or probe.late:
            return ReplyKind.DUPLICATE
        if recv_t - probe.send_t > self.timeout_s:
            return ReplyKind.LATE
        return ReplyKind.REORDERED if seq < self._max_answered else ReplyKind.OK

    def _update_jitter(self, transit_s: float) -> None:
        # RFC 3550 §6.4.1 with round-trip transit: D = (Rj − Ri) − (Sj − Si) = rtt_j − rtt_i.
        if self._last_transit is not None:
            d = abs(transit_s - self._last_transit)
            self._jitter_s = (self._jitter_s or 0.0) + (d - (self._jitter_s or 0.0)) / 16
        self._last_transit = transit_s

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s - self.timeout_s
        while self._probes:
            seq, probe = next(iter(self._probes.items()))
            if probe.send_t >= horizon:
                break
            del self._probes[seq]

    def snapshot(self, now: float) -> PathSnapshot:
        """RTT and jitter over the window; the loss share over the window, or over the probes since
        the detector's last change point when that is younger (issue 11). The detector is fed by
        :meth:`advance` (the prober calls it before every probe), not here."""
        det = self.detector
        alarm = None if det is None else det.raised
        start = now - self.window_s
        segmented = det is not None and det.changed_at is not None and det.changed_at > start
        loss_from = det.changed_at if segmented and det is not None and det.changed_at is not None else start
        # since a change point the share counts the probes the test has judged (sent a deadline ago;
        # unanswered = lost), so that a young segment is not biased by answers arriving first
        seg_until = now - self.deadline() if segmented else now
        rtts: list[float] = []
        decided = 0
        seg_decided = seg_lost = 0
        for probe in self._probes.values():
            if not start <= probe.send_t <= now:
                continue
            if probe.recv_t is not None:
                decided += 1
                rtts.append((probe.recv_t - probe.send_t) * 1000)
            elif now - probe.send_t > self.timeout_s:
                decided += 1
            elif not segmented or probe.send_t > seg_until:
                continue
            if loss_from <= probe.send_t <= seg_until:
                seg_decided += 1
                seg_lost += probe.recv_t is None
        if decided == 0:
            return PathSnapshot(None, None, None, None, None, 0, 0, alarm)
        if not rtts:
            return PathSnapshot(None, None, 100.0, 1.0, False, decided, 0, alarm)
        rtt_ms = statistics.median(rtts)
        self._rtt_hint_s = rtt_ms / 1000
        jitter_ms = (self._jitter_s or 0.0) * 1000
        if seg_decided == 0 or (not segmented and decided < self.min_decided):
            # too few probes yet for a loss share: RTT and jitter only
            return PathSnapshot(round(rtt_ms, 3), round(jitter_ms, 3), None, None, True, decided, len(rtts), alarm)
        loss_percent = 100.0 * seg_lost / seg_decided
        return PathSnapshot(
            round(rtt_ms, 3),
            round(jitter_ms, 3),
            round(loss_percent, 3),
            round(emodel.mos(rtt_ms, jitter_ms, loss_percent), 3),
            True,
            decided,
            len(rtts),
            alarm,
        )
