"""Ingest: every MQTT message passes these checks before it reaches the engine.

Per message: size, ``wire.decode`` (malformed / invalid / unknown_version), topic shape, the topic's
device id must equal the payload's ``device_id`` (``cross_device``: a device cannot speak for
another), the device must be on the roster (``unknown_device``, H12: reported, never silently
accepted), and a per-device token bucket (``rate_limited``: a flooding device is limited without
affecting the others). Each rejection is counted per reason, logged at most once per
(reason, device) per ``log_every_s`` and dropped; nothing here raises into the MQTT thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from likavillkor import topics, wire

log = logging.getLogger(__name__)

#: rejection reasons besides the wire's own (oversized, malformed, invalid, unknown_version)
BAD_TOPIC = "bad_topic"
CROSS_DEVICE = "cross_device"
UNKNOWN_DEVICE = "unknown_device"
RATE_LIMITED = "rate_limited"
SELFTEST_RATE_PER_DEVICE, SELFTEST_BURST = 1 / 15, 10.0
KIND_MISMATCH = "kind_mismatch"
ENGINE_ERROR = "engine_error"
REJECT_REASONS = (
    "oversized",
    "malformed",
    "invalid",
    "unknown_version",
    BAD_TOPIC,
    CROSS_DEVICE,
    KIND_MISMATCH,
    UNKNOWN_DEVICE,
    RATE_LIMITED,
    ENGINE_ERROR,
)


@dataclass(slots=True)
class TokenBucket:
    """Classic token bucket; time is passed in."""

    rate: float
    burst: float
    tokens: float
    last: float

    def allow(self, now: float) -> bool:
        elapsed = max(0.0, now - self.last)
        self.last = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


#: a replay's device time is at most this far ahead of the collector (device clocks off by minutes) ...
REPLAY_SKEW_S = 600.0
#: ... and at most this old (the outbox's 50,000 messages at 1 sample/s are 14 h)
REPLAY_HORIZON_S = 24 * 3600.0


@dataclass
class RateLimiter:
    """One bucket per device, so one flooding device never starves the others.

    An outbox replay after an outage (issue 8) arrives as fast as the broker delivers it, far over
    the live rate, yet it is the device's history and must not be dropped. A message over the rate
    whose device time is plausible (``REPLAY_HORIZON_S`` old at most) is therefore
    judged by a second bucket that runs on the *device's* clock: a replay spaced like live samples
    passes, a flood of messages whose device time does not advance does not. That clock only moves
    forward and stays within ``REPLAY_SKEW_S`` of the collector's, so over time it adds at most the
    live rate again."""

    rate: float
    burst: float
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    replay: dict[str, TokenBucket] = field(default_factory=dict)

    def allow(self, device_id: str, now: float, device_ts: float | None = None) -> bool:
        bucket = self.buckets.get(device_id)
        if bucket is None:
            if len(self.buckets) > 100_000:  # bounded: forget idle devices
                self.buckets.clear()
                self.replay.clear()
            bucket = self.buckets[device_id] = TokenBucket(self.rate, self.burst, self.burst, now)
        if bucket.allow(now):
            return True
        if device_ts is None or not now - REPLAY_HORIZON_S <= device_ts <= now + REPLAY_SKEW_S:
            return False
        rb = self.replay.get(device_id)
        if rb is None:
            rb = self.replay[device_id] = TokenBucket(self.rate, self.burst, self.burst, device_ts)
        if device_ts < rb.last:  # the device clock of this bucket never runs backwards
            device_ts = rb.last
        return rb.allow(device_ts)


@dataclass
class LogLimiter:
    """At most one log line per (reason, device) per ``every_s``."""

    every_s: float
    last: dict[tuple[str, str], float] = field(default_factory=dict)

    def allow(self, reason: str, device_id: str, now: float) -> bool:
        key = (reason, device_id)
        prev = self.last.get(key)
        if prev is not None and now - prev < self.every_s:
            return False
        if len(self.last) > 10_000:
            self.last.clear()
        self.last[key] = now
        return True


@dataclass
class IngestCounters:
    received: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # engine outcomes: accepted, late, ...
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))

    def as_dict(self) -> dict[str, object]:
        return {"received": self.received, "outcomes": dict(self.outcomes), "rejected": dict(self.rejected)}


#: engine_call(msg, received_at) -> (outcome string, changes); sink(msg, outcome, changes, received_at)
EngineCall = Callable[[wire.Message, float], tuple[str, list[object]]]
Sink = Callable[[wire.Message, str, list[object], float], None]


class Ingestor:
    def __init__(
        self,
        *,
        engine_call: EngineCall,
        known_device: Callable[[str], bool],
        sink: Sink,
        on_unknown: Callable[[str, float], None] | None = None,
        rate_per_device: float = 20.0,
        burst: float = 60.0,
        log_every_s: float = 60.0,
        lock: Any = None,
        topic_root: str = topics.ROOT,
    ) -> None:
        self._engine_call = engine_call
        #: ``[mqtt] topic_root`` (issue 17): a topic under another root is ``bad_topic``
        self.topic_root = topic_root
        self._known = known_device
        self._sink = sink
        self._on_unknown = on_unknown
        self._limiter = RateLimiter(rate_per_device, burst)
        #: self-test results (up to 64 KiB each) have a bucket of their own per device, as a member's
        #: link has (issue 12): a burst of 10, then one per 15 s; an outbox replay spaced like real
        #: self-tests passes on the device's clock (RateLimiter)
        self._selftests = RateLimiter(SELFTEST_RATE_PER_DEVICE, SELFTEST_BURST)
        self._logs = LogLimiter(log_every_s)
        #: one lock for counters, limiter and the engine call; the runtime passes its engine lock,
        #: so one message costs one acquisition
        self.lock: threading.RLock | Any = lock if lock is not None else threading.RLock()
        self.counters = IngestCounters()
        self._topics: dict[str, tuple[str, str]] = {}

    def handle(self, topic: str, payload: bytes, received_at: float) -> str:
        """Check one message and pass it on. Returns the engine outcome or the rejection reason."""
        with self.lock:
            try:
                return self._handle(topic, payload, received_at)
            except Exception as exc:  # never crash the MQTT thread
                return self._reject(ENGINE_ERROR, "?", received_at, f"{type(exc).__name__}: {exc}")

    def handle_locked(self, topic: str, payload: bytes, received_at: float) -> str:
        """:meth:`handle` for a caller that already holds :attr:`lock` (the engine thread)."""
        try:
            return self._handle(topic, payload, received_at)
        except Exception as exc:  # never crash the engine thread
            return self._reject(ENGINE_ERROR, "?", received_at, f"{type(exc).__name__}: {exc}")

    def _handle(self, topic: str, payload: bytes, received_at: float) -> str:
        counters = self.counters
        counters.received += 1
        parsed = self._topics.get(topic)
        if parsed is None:
            parsed = topics.parse_device_topic(topic, self.topic_root)
            if parsed is not None:
                if len(self._topics) > 100_000:  # bounded: a device per topic, a few kinds each
                    self._topics.clear()
                self._topics[topic] = parsed
        if parsed is None:
            return self._reject(BAD_TOPIC, "?", received_at, f"topic {topic[:120]!r}")
        topic_device, kind = parsed
        try:
            msg = wire.decode(payload)
        except wire.WireError as exc:
            return self._reject(exc.reason, topic_device, received_at, exc.detail)
        if msg.device_id != topic_device:
            return self._reject(CROSS_DEVICE, topic_device, received_at, f"payload claims device {msg.device_id!r}")
        tag = type(msg).__struct_config__.tag
        if tag != kind:
            return self._reject(KIND_MISMATCH, topic_device, received_at, f"{tag} on a {kind} topic")
        if not self._known(msg.device_id):
            if self._on_unknown is not None:
                self._on_unknown(msg.device_id, received_at)
            return self._reject(UNKNOWN_DEVICE, msg.device_id, received_at, "device on no roster (H12)")
        if not self._limiter.allow(msg.device_id, received_at, msg.ts):
            return self._reject(RATE_LIMITED, msg.device_id, received_at, "over the per-device rate")
        if tag == "selftest" and not self._selftests.allow(msg.device_id, received_at, msg.ts):
            return self._reject(RATE_LIMITED, msg.device_id, received_at, "over the per-device self-test rate")
        outcome, changes = self._engine_call(msg, received_at)
        counters.outcomes[outcome] = counters.outcomes.get(outcome, 0) + 1
        self._sink(msg, outcome, changes, received_at)
        return outcome

    def _reject(self, reason: str, device_id: str, now: float, detail: str) -> str:
        self.counters.rejected[reason] = self.counters.rejected.get(reason, 0) + 1
        if self._logs.allow(reason, device_id, now):
            log.warning(
                "dropped message from %s: %s (%s); further ones counted, not logged", device_id, reason, detail[:300]
            )
        return reason
