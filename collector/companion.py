"""The companion page's measurements and bounds (issue 11), without the web framework.

A member whose device runs no agent (the handbook's standard tablet, H9, H10) keeps her companion
page (*följesidan*, ``/companion/{link}``) open beside the meeting program. Over its WebSocket the
collector sends a small probe every ``probe_interval_s``; the page echoes it at once. From the
echoes the collector measures, on its own clock (nothing the page claims is trusted):

* round-trip time: median of the echoes of the last report interval, and jitter (mean absolute
  difference of consecutive round trips, RFC 3550 in spirit);
* loss: the share of the last ``window`` probes not echoed within ``answer_deadline_s``. Over TCP a
  lost packet shows as a late echo (retransmission), so "late" is counted as lost, as an audio
  frame arriving that late would be for the meeting program.

Once per ``report_interval_s``, if at least one echo arrived in that interval (evidence of contact),
:func:`companion_sample` turns the figures into a ``wire.Sample`` for the member's device that goes
through the collector's ingest like an agent's: contact (H15) and the same debounce. No echo, no
sample: silence while the page is open is lost contact, like an agent's silence.

Bounds: a message is at most ``max_message_bytes``; a link sends at most ``rate_per_s`` messages a
second (burst ``burst``), more are dropped and counted; a link holds at most ``sockets_per_link``
sockets at once and the collector at most ``max_sockets``.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from likavillkor import wire

BOOT_ID = "companion"  # the Sample's boot id: one series per device, numbered by the collector's clock


@dataclass(frozen=True, slots=True)
class Limits:
    probe_interval_s: float = 0.25
    report_interval_s: float = 1.0
    answer_deadline_s: float = 1.0
    window: int = 20  # probes in the loss window (5 s at 4 a second)
    max_message_bytes: int = 512
    rate_per_s: float = 20.0
    burst: float = 40.0
    sockets_per_link: int = 2  # the page in Split View and, say, a second window
    max_sockets: int = 2000
    bye_max_bytes: int = 256
    max_rtc: int = 200  # WebRTC data channels at once (collector/web/companion_rtc.py)


class ProbeStats:
    """Probes sent and echoes received on one socket, on the collector's monotonic clock."""

    __slots__ = ("_answers", "_deadline", "_done", "_next", "_rtts", "_sent", "_window")

    def __init__(self, window: int, deadline_s: float) -> None:
        self._window = window
        self._deadline = deadline_s
        self._next = 0
        self._sent: dict[int, float] = {}  # n -> sent at, while waiting (bounded: pruned in report)
        self._done: deque[bool] = deque(maxlen=window)  # True: echoed in time
        self._rtts: list[float] = []  # round trips (ms) since the last report
        self._answers = 0  # echoes since the last report (late ones too: they prove contact)

    def send(self, now: float) -> int:
        n = self._next
        self._next += 1
        self._sent[n] = now
        return n

    def echo(self, n: Any, now: float) -> bool:
        """An echo of probe ``n``; False for one never sent (or already counted)."""
        if not isinstance(n, int) or isinstance(n, bool):
            return False
        sent = self._sent.pop(n, None)
        if sent is None:
            return False
        self._answers += 1
        rtt = now - sent
        on_time = rtt <= self._deadline
        self._done.append(on_time)
        if on_time:
            self._rtts.append(rtt * 1000.0)
        return True

    def _expire(self, now: float) -> None:
        for n in [n for n, t in self._sent.items() if now - t > self._deadline]:
            del self._sent[n]
            self._done.append(False)

    def report(self, now: float) -> tuple[bool, float | None, float | None, float | None]:
        """(heard since the last report, rtt_ms, jitter_ms, loss_percent) and start a new interval."""
        self._expire(now)
        heard = self._answers > 0
        rtts = self._rtts
        rtt = statistics.median(rtts) if rtts else None
        jitter = sum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1) if len(rtts) > 1 else None
        loss = 100.0 * self._done.count(False) / len(self._done) if self._done else None
        self._rtts = []
        self._answers = 0
        return heard, rtt, jitter, loss


class TokenBucket:
    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate, self._burst, self._tokens, self._at = rate, burst, burst, now

    def allow(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass
class CompanionHub:
    """Open companion sockets per link, the per-link rate, and the counters (``/metrics``)."""

    limits: Limits = field(default_factory=Limits)
    counters: dict[str, int] = field(default_factory=dict)
    sockets: dict[tuple[str, str], int] = field(default_factory=dict)  # (meeting, member) -> open sockets
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    visible: dict[tuple[str, str], set[int]] = field(default_factory=dict)  # key -> sockets whose page is visible

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    @property
    def open(self) -> int:
        return sum(self.sockets.values())

    def admit(self, key: tuple[str, str]) -> str | None:
        """Take a socket for ``key``; the refusal reason when over a bound."""
        if self.open >= self.limits.max_sockets:
            return "too_many_sockets"
        if self.sockets.get(key, 0) >= self.limits.sockets_per_link:
            return "too_many_sockets_per_link"
        self.sockets[key] = self.sockets.get(key, 0) + 1
        return None

    def release(self, key: tuple[str, str]) -> None:
        left = self.sockets.get(key, 0) - 1
        if left > 0:
            self.sockets[key] = left
        else:
            self.sockets.pop(key, None)
            self.buckets.pop(key, None)

    def set_visible(self, key: tuple[str, str], sock: int, visible: bool) -> None:
        socks = self.visible.setdefault(key, set())
        if visible:
            socks.add(sock)
        else:
            socks.discard(sock)
        if not socks:
            del self.visible[key]

    def allow(self, key: tuple[str, str], now: float) -> bool:
        """One message on ``key``'s sockets (shared by them), within the link's rate."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.limits.rate_per_s, self.limits.burst, now)
        return bucket.allow(now)


def parse_message(text: str | bytes, max_bytes: int) -> dict[str, Any] | None:
    """A page's message: a JSON object of at most ``max_bytes`` with a string ``t``; else None."""
    if len(text) > max_bytes:
        return None
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
        return None
    return msg


def companion_sample(
    device_id: str,
    meeting_id: str,
    now: float,
    rtt_ms: float | None,
    jitter_ms: float | None,
    loss_percent: float | None,
) -> wire.Sample:
    """What the companion page measured, as the member device's sample (``boot_id`` "companion",
    ``seq`` the collector's clock in ms, so a series across reconnects stays in order)."""
    return wire.Sample(
        device_id=device_id,
        boot_id=BOOT_ID,
        seq=int(now * 1000),
        ts=now,
        meeting_id=meeting_id,
        rtt_ms=None if rtt_ms is None else round(min(rtt_ms, 60_000.0), 1),
        jitter_ms=None if jitter_ms is None else round(min(jitter_ms, 60_000.0), 1),
        loss_percent=None if loss_percent is None else round(loss_percent, 1),
    )
