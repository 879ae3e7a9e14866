"""Path quality to the collector: STAMP probes (RFC 8762) at about 10 packets/s, a few kbit/s.

The member's path must carry sound and image in real time, stably (H1); when it degrades the
meeting is adjourned (H2, H15). This probe measures what the meeting traffic will meet, with a
load too small to disturb it: 44-octet UDP packets to the collector's reflector
(``collector.peers.reflector``) and back.

- ``rtt_ms``: median round-trip time of the probes answered in the window.
- ``jitter_ms``: RFC 3550 interarrival jitter, J += (|D| − J)/16 over consecutive replies, where D
  is the difference of two round-trip times.
- ``loss_percent``: probes unanswered after ``timeout_ms`` among those sent in the window whose
  fate is known. A reply after the timeout is *late* and stays lost; a duplicate, or a reply to a
  sequence number (or timestamp) never sent, is counted and never taken for success.
- ``mos``: the simplified E-model (``likavillkor.emodel``) from the three above.
- ``probe_reachable``: False when nothing came back in the window. The sample then still says so
  (loss 100 %, MOS 1.0): an outage must produce a data point, not vanish from the graphs.

Authenticated probes (issue 11): against the collector's reflector the prober signs every probe
with its device's SSID and key (RFC 8972 HMAC TLV, :func:`likavillkor.stamp.encode_signed_sender`),
fetched with :func:`fetch_probe_key` over the authenticated device HTTP API. Until it has them
(``auth_required``) it sends nothing and reports no path fields, rather than a loss the reflector
would cause by ignoring unsigned probes. The collector counts each signed probe as the device's
evidence of life: a cut link is seen within ``probe_silence_lost_s``.

:class:`PathStats` is pure (fed ``(seq, send_t, recv_t)``, time passed in) so its arithmetic is
tested without sleeping; :class:`PathProber` is the asyncio I/O around it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import statistics
import time
import urllib.request
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from agent.scheduler import basic_auth
from agent.tasks import cancel_and_wait
from likavillkor import emodel, stamp
from likavillkor.config import Section

log = logging.getLogger(__name__)


class PathProbeConfig(Section):
    """``[path]`` in the agent's config."""

    host: str = ""  # the reflector's host; empty: the collector's host
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8862
    rate_hz: Annotated[float, msgspec.Meta(gt=0, le=100)] = 10.0
    window_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 15.0
    timeout_ms: Annotated[float, msgspec.Meta(gt=0, le=60_000)] = 1000.0
    padding_bytes: Annotated[int, msgspec.Meta(ge=0, le=stamp.MAX_SIZE - stamp.BASE_SIZE)] = 0
    #: a loss share only over this many decided probes (at most two thirds of the window): 5 % loss
    #: reads as over 10 % in 1 of 25 windows of 50 probes (issue 11)
    min_probes: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    #: sign probes with this device's key from the collector (``[collector] url``), whose reflector
    #: answers signed probes only (issue 11); false only for a standalone reflector that answers anyone
    signed: bool = True
    #: the sequential loss test (:class:`LossDetector`, issue 11): probes/s while it sees loss, so 20 %
    #: loss is concluded within about a second of probes; 0 turns the test (and ``loss_alarm``) off
    fast_rate_hz: Annotated[float, msgspec.Meta(ge=0, le=100)] = 100.0
    #: the loss the test weighs: tolerable (5 %, half the failing limit) against poor (20 %, twice it;
    #: Teams CQD: audio poor above 10 %)
    detect_p0_percent: Annotated[float, msgspec.Meta(gt=0, lt=100)] = 5.0
    detect_p1_percent: Annotated[float, msgspec.Meta(gt=0, lt=100)] = 20.0
    #: CUSUM thresholds in nats: 14 gives one alarm in 4·10⁷ simulated probes at 5 % loss (a false-alarm
    #: run length of days per member even at the fast rate), 20 % concluded in ~93 probes (p50)
    detect_raise: Annotated[float, msgspec.Meta(gt=0, le=100)] = 14.0
    detect_clear: Annotated[float, msgspec.Meta(gt=0, le=100)] = 10.0
    #: the test takes a probe for lost when unanswered after max(this, 4 × median RTT), at most
    #: ``timeout_ms``: a voice packet that late is past any jitter buffer
    detect_deadline_ms: Annotated[float, msgspec.Meta(gt=0, le=60_000)] = 250.0


class LossDetector:
    """A two-sided CUSUM (Page's test) over the per-probe outcomes, in send order: is the loss
    tolerable (``p0``) or poor (``p1``)? Pure: outcomes and their send times are passed in.

    Each probe adds its log-likelihood ratio ln(p1/p0) when lost, ln((1−p1)/(1−p0)) when answered.
    Before an alarm, S = max(0, S + llr) and S ≥ ``h_raise`` raises it; during one, D = max(0, D − llr)
    and D ≥ ``h_clear`` ends it. ``changed_at`` is the send time where the concluding excursion began
    (the estimated change point): the loss share is then reported over the probes since, so 15 s of
    old history neither delays nor dilutes the news (issue 11). An alarm segment holds at least
    (−ln((1−p1)/(1−p0)) + h/n) / (ln(p1/p0) − ln((1−p1)/(1−p0))) lost probes: 11 % for 5 % / 20 %, above
    Teams' 10 % poor-audio limit by construction.
    """

    __slots__ = ("changed_at", "d", "d_from", "h_clear", "h_raise", "last_lost", "lost_llr", "ok_llr", "raised", "s",
                 "s_from")

    def __init__(self, p0: float = 0.05, p1: float = 0.20, h_raise: float = 14.0, h_clear: float = 10.0) -> None:
        if not 0 < p0 < p1 < 1:
            raise ValueError(f"loss test needs 0 < p0 < p1 < 1 (p0={p0}, p1={p1})")
        self.lost_llr = math.log(p1 / p0)
        self.ok_llr = math.log((1 - p1) / (1 - p0))
        self.h_raise = h_raise
        self.h_clear = h_clear
        self.s = 0.0
        self.d = 0.0
        self.s_from = 0.0
        self.d_from = 0.0
        self.raised = False
        self.changed_at: float | None = None
        self.last_lost = float("-inf")  # send time of the last lost probe

    @property
    def active(self) -> bool:
        """Evidence of loss is being weighed (S > 0) or an alarm stands: probe fast."""
        return self.raised or self.s > 0.0

    def observe(self, lost: bool, t: float) -> bool:
        """One probe's fate (sent at ``t``); True when the conclusion changed."""
        x = self.lost_llr if lost else self.ok_llr
        if lost:
            self.last_lost = t
        if not self.raised:
            if self.s == 0.0:
                self.s_from = t
            self.s = max(0.0, self.s + x)
            if self.s >= self.h_raise:
                self.raised, self.changed_at, self.s, self.d = True, self.s_from, 0.0, 0.0
                return True
            return False
        if self.d == 0.0:
            self.d_from = t
        self.d = max(0.0, self.d - x)
        if self.d >= self.h_clear:
            # the loss is over: the share starts after its last lost probe, not with a few of them
            self.raised, self.s, self.d = False, 0.0, 0.0
            self.changed_at = max(self.d_from, math.nextafter(self.last_lost, math.inf))
            return True
        return False


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
        return {"rtt_ms": self.rtt_ms, "jitter_ms": self.jitter_ms, "loss_percent": self.loss_percent,
                "mos": self.mos, "probe_reachable": self.probe_reachable, "loss_alarm": self.loss_alarm}


class PathStats:
    """Pure statistics over the probes sent in the last ``window_s`` seconds (any monotonic clock)."""

    def __init__(self, window_s: float = 15.0, timeout_s: float = 1.0, min_decided: int = 1,
                 detector: LossDetector | None = None, deadline_s: float = 0.25) -> None:
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
            if recv_t is not None and (recv_t - probe.send_t <= deadline
                                       or self._stall[0] <= recv_t <= self._stall[1]):
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
        return PathSnapshot(round(rtt_ms, 3), round(jitter_ms, 3), round(loss_percent, 3),
                            round(emodel.mos(rtt_ms, jitter_ms, loss_percent), 3), True, decided, len(rtts),
                            alarm)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: PathProber) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._owner.on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        self._owner.count("send_errors")  # e.g. ICMP port unreachable: those probes stay lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.on_closed(self)


def fetch_probe_key(collector_url: str, device_id: str, timeout_s: float,
                    credentials: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """(SSID, key) for signed probes: blocking GET ``/api/devices/{id}/probe-key`` with a deadline,
    signed in as the device. Raises OSError / ValueError on failure."""
    from urllib.parse import quote

    url = f"{collector_url.rstrip('/')}/api/devices/{quote(device_id, safe='')}/probe-key"
    request = urllib.request.Request(url, headers={"Accept": "application/json", **basic_auth(credentials)})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # http(s) only: checked in config
        doc = json.loads(response.read(4096))
    ssid, key = int(doc["ssid"]), bytes.fromhex(str(doc["key"]))
    if not 0 < ssid < 65536 or len(key) < 16:
        raise ValueError("probe key: bad ssid or key")
    return ssid, key


class PathProber:
    """Sends probes to the reflector from ``start()`` until ``stop()``; read :meth:`snapshot`."""

    REOPEN_EVERY_S = 5.0
    #: the send loop later than this is a stall of the device, not of the path
    STALL_S = 0.1

    def __init__(self, cfg: PathProbeConfig, *, host: str | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 auth_required: bool = False) -> None:
        self.cfg = cfg
        self.host = host or cfg.host
        if not self.host:
            raise ValueError("path probe: no reflector host (set [path] host or give the collector's)")
        self._clock = clock
        self._wall = wall
        # a loss share needs probes: min_probes, at most two thirds of the window
        detector = None
        if cfg.fast_rate_hz > 0:
            detector = LossDetector(cfg.detect_p0_percent / 100, cfg.detect_p1_percent / 100, cfg.detect_raise,
                                    cfg.detect_clear)
        self.stats = PathStats(cfg.window_s, cfg.timeout_ms / 1000,
                               max(1, min(cfg.min_probes, int(0.66 * cfg.window_s * cfg.rate_hz))),
                               detector, cfg.detect_deadline_ms / 1000)
        #: set when the loss test's conclusion changes: the monitor publishes a sample at once
        self.urgent = asyncio.Event()
        self.counters: dict[str, int] = {"send_errors": 0, "open_errors": 0, "malformed": 0}
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self._last_open_try = float("-inf")
        self.auth_required = auth_required
        self.auth: tuple[int, bytes] | None = None  # (SSID, key): sign every probe

    def set_auth(self, ssid: int, key: bytes) -> None:
        self.auth = (ssid, key)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def start(self) -> None:
        if self._task is None:
            await self._open()
            self._task = asyncio.create_task(self._run(), name="path-prober")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """``rtt_ms``, ``jitter_ms``, ``loss_percent``, ``mos``, ``probe_reachable`` (wire fields)."""
        return self.stats.snapshot(self._clock() if now is None else now).fields()

    async def _open(self) -> None:
        self._last_open_try = self._clock()
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_datagram_endpoint(lambda: _Protocol(self), remote_addr=(self.host, self.cfg.port)),
                timeout=self.REOPEN_EVERY_S)
        except (OSError, TimeoutError) as exc:
            self.count("open_errors")
            if self.counters["open_errors"] == 1:
                log.warning("path probe: cannot reach reflector %s:%d (%s); probes count as lost",
                            self.host, self.cfg.port, exc)
            return
        self._transport = transport

    def _period(self) -> float:
        """1/``rate_hz``; 1/``fast_rate_hz`` while the loss test weighs evidence or an alarm stands."""
        det = self.stats.detector
        if det is not None and det.active and self.cfg.fast_rate_hz > self.cfg.rate_hz:
            return 1.0 / self.cfg.fast_rate_hz
        return 1.0 / self.cfg.rate_hz

    async def _run(self) -> None:
        next_t = self._clock()
        while True:
            if self._transport is None and self._clock() - self._last_open_try >= self.REOPEN_EVERY_S:
                await self._open()
            now = self._clock()
            if now - next_t > self.STALL_S:
                # this loop stood still (a busy device): replies may wait unread in the socket;
                # judge nothing lost now, and none read late for it (issue 11: no false alarm)
                self.stats.note_stall(next_t, now)
            elif self.stats.advance(now):
                self.urgent.set()
            self._send_one()
            period = self._period()
            next_t += period
            delay = next_t - self._clock()
            if delay < -period:  # the loop was starved: skip ahead, do not burst
                next_t = self._clock()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    def _send_one(self) -> None:
        auth = self.auth
        if auth is None and self.auth_required:
            return  # no key yet: a probe the reflector ignores would be a loss it caused
        self._seq += 1
        token = stamp.to_ntp(self._wall())
        self.stats.on_sent(self._seq, self._clock(), token)
        if self._transport is None:
            return
        try:
            if auth is not None:
                data = stamp.encode_signed_sender(stamp.SenderPacket(seq=self._seq, timestamp=token, ssid=auth[0]),
                                                  auth[1])
            else:
                data = stamp.encode_sender(stamp.SenderPacket(seq=self._seq, timestamp=token,
                                                              padding=self.cfg.padding_bytes))
            self._transport.sendto(data)
        except OSError:
            self.count("send_errors")

    def on_closed(self, protocol: asyncio.DatagramProtocol) -> None:
        """The socket closed under us (fatal error): reopen it later; probes meanwhile count as lost."""
        if self._transport is not None and self._transport.get_protocol() is protocol:
            self._transport = None

    def on_datagram(self, data: bytes) -> None:
        recv_t = self._clock()
        try:
            reply = stamp.decode_reflector(data)
        except stamp.StampError:
            self.count("malformed")
            return
        self.stats.on_reply(reply.sender_seq, recv_t, reply.sender_timestamp)
