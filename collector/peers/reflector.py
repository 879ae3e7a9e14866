"""The collector's STAMP session-reflector (RFC 8762, stateless; RFC 8972 SSID and HMAC TLV).

Each member's agent sends about ten small packets a second (a few kbit/s); the reflector answers
each one at once with the same length, so the agent can measure round-trip time, jitter and loss
to the collector (H1: stable transmission; H2: adjourn when it degrades). Its sequence number
copies the sender's (RFC 8762 §4.3, stateless mode).

**Registered senders only** (issue 11, issue 12 item 4). The collector's reflector is given the
registered devices' keys (:class:`collector.auth.probekeys.ProbeKeys`): it answers only an
authenticated probe (SSID + HMAC TLV, :mod:`likavillkor.stamp`) whose HMAC matches the key of a
device with that SSID, and whose sender timestamp is newer than that device's last one (a
replayed probe is refused). Such a probe is that device's evidence of life (``on_alive``): the
engine counts it as contact, so a cut link is seen within ``probe_silence_lost_s``, and no other
device can keep a member "alive". Before any check, a datagram from a reflector's port (its own,
862, 8862: a spoofed packet whose source is the reflector itself would otherwise loop forever) or
over the per-source rate is dropped. Every drop is counted by reason and logged once per reason
(then every ``_LOG_EVERY_S``); never a crash. Without keys (the standalone tool below, tests,
benches) any well-formed sender packet is answered, with the same loop and rate guards.

The sender's TTL is reported as 0 (unknown): asyncio's datagram transport does not hand over the IP
header's TTL.

Run standalone (for tests and for a reflector on a separate host)::

    python -m collector.peers.reflector --host 0.0.0.0 --port 8862
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any, Final, cast

from likavillkor import stamp

log = logging.getLogger(__name__)

DEFAULT_PORT: Final = 8862
STAMP_PORT: Final = 862  # RFC 8762's well-known reflector port
_LOG_EVERY_S: Final = 60.0
#: per source (address, port): sustained packets per second and burst; an agent sends 10/s, and up
#: to 100/s while its loss test weighs evidence of loss (agent [path] fast_rate_hz, issue 11)
RATE_PER_SOURCE: Final = 120.0
BURST_PER_SOURCE: Final = 240.0
_MAX_SOURCES: Final = 100_000
REJECT_REASONS: Final = (
    "malformed",
    "looped",
    "rate_limited",
    "unauthenticated",
    "unregistered",
    "bad_hmac",
    "replayed",
)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Reflector) -> None:
        self._owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # selector transports do not subclass it

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._owner.answer(data, time.time(), addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner.count("send_errors")


class Reflector:
    """``await start(host, port)``, ``await stop()``; ``counters`` and ``port`` for observers.

    ``keys`` (``collector.auth.probekeys.ProbeKeys``): answer registered, authenticated senders only;
    ``on_alive(device_id, at)`` is called for each of their probes (from the reflector's thread:
    keep it to a dict assignment)."""

    def __init__(
        self,
        keys: Any = None,
        on_alive: Callable[[str, float], None] | None = None,
        *,
        rate_per_source: float = RATE_PER_SOURCE,
    ) -> None:
        self.rate = rate_per_source
        self.burst = BURST_PER_SOURCE * rate_per_source / RATE_PER_SOURCE  # two seconds of the rate
        self.counters: dict[str, int] = {"reflected": 0, "send_errors": 0, **dict.fromkeys(REJECT_REASONS, 0)}
        self.port: int | None = None
        self.keys = keys
        self.on_alive = on_alive
        self._transport: asyncio.DatagramTransport | None = None
        self._last_log: dict[str, float] = {}
        self._buckets: dict[tuple[Any, ...], list[float]] = {}  # source -> [tokens, last]
        self._last_ts: dict[str, int] = {}  # device -> newest sender timestamp (replays refused)

    async def start(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(host, port))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        log.info(
            "STAMP reflector listening on %s:%d/udp (%s)",
            host,
            self.port,
            "registered senders only" if self.keys is not None else "any sender",
        )

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _reject(self, reason: str, now: float, detail: str) -> None:
        self.count(reason)
        last = self._last_log.get(reason)
        if last is None or now - last >= _LOG_EVERY_S:
            self._last_log[reason] = now
            log.warning(
                "reflector dropped a datagram: %s (%s); %d so far, further ones counted",
                reason,
                detail[:200],
                self.counters[reason],
            )

    def _rate_ok(self, source: tuple[Any, ...], now: float) -> bool:
        b = self._buckets.get(source)
        if b is None:
            if len(self._buckets) >= _MAX_SOURCES:  # bounded: forget them all (a flood of sources)
                self._buckets.clear()
            b = self._buckets[source] = [self.burst, now]
        b[0] = min(self.burst, b[0] + max(0.0, now - b[1]) * self.rate)
        b[1] = now
        if b[0] < 1.0:
            return False
        b[0] -= 1.0
        return True

    def answer(self, data: bytes, now_epoch_s: float, addr: tuple[Any, ...] | None = None) -> bytes | None:
        """The reply to one datagram from ``addr``, or None (counted by reason) when it gets none."""
        if addr is not None:
            port = addr[1] if len(addr) > 1 else None
            if port in (self.port, STAMP_PORT, DEFAULT_PORT):
                self._reject("looped", now_epoch_s, f"from a reflector port {addr[0]}:{port}")
                return None
            if not self._rate_ok(tuple(addr[:2]), now_epoch_s):
                self._reject("rate_limited", now_epoch_s, f"{addr[0]}:{port} over {self.rate:g}/s")
                return None
        try:
            sender = stamp.decode_sender(data) if self.keys is None else self._authenticated(data, now_epoch_s)
        except stamp.StampError as exc:
            self._reject("unauthenticated" if exc.reason == "unauthenticated" else "malformed", now_epoch_s, str(exc))
            return None
        if sender is None:
            return None
        received = stamp.to_ntp(now_epoch_s)
        reply = stamp.reflect(sender, receive_timestamp=received, transmit_timestamp=stamp.to_ntp(time.time()))
        self.count("reflected")
        return stamp.encode_reflector(reply)

    def _authenticated(self, data: bytes, now: float) -> stamp.SenderPacket | None:
        sender, mac = stamp.signed_parts(data)
        candidates = self.keys.candidates(sender.ssid)
        if not candidates:
            self._reject("unregistered", now, f"SSID {sender.ssid} belongs to no device on the roster")
            return None
        device_id = next((d for d, key in candidates if hmac.compare_digest(stamp.probe_mac(key, data), mac)), None)
        if device_id is None:
            self._reject("bad_hmac", now, f"SSID {sender.ssid}: the HMAC matches no registered device's key")
            return None
        last = self._last_ts.get(device_id)
        if last is not None and sender.timestamp <= last:
            self._reject("replayed", now, f"{device_id}: a sender timestamp not newer than its last")
            return None
        if len(self._last_ts) >= _MAX_SOURCES:
            self._last_ts.clear()
        self._last_ts[device_id] = sender.timestamp
        if self.on_alive is not None:
            self.on_alive(device_id, now)
        # the answer has the probe's length (64 octets): the sender's padding is the TLV's room
        return stamp.SenderPacket(
            seq=sender.seq,
            timestamp=sender.timestamp,
            error_estimate=sender.error_estimate,
            padding=stamp.AUTH_SIZE - stamp.BASE_SIZE,
            ssid=sender.ssid,
        )


async def _serve(host: str, port: int, rate: float = RATE_PER_SOURCE) -> None:
    reflector = Reflector(rate_per_source=rate)
    await reflector.start(host, port)
    print(f"listening {reflector.port}", flush=True)  # the test harness waits for this line
    try:
        await asyncio.Event().wait()
    finally:
        await reflector.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="STAMP session-reflector (RFC 8762)")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--rate", type=float, default=RATE_PER_SOURCE, help="packets/s per source (measurements)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.rate))


if __name__ == "__main__":
    main()
