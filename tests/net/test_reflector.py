"""The collector's STAMP reflector and the agent's path prober over real UDP on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import cast

import pytest

from agent.probes.path import PathProbeConfig, PathProber
from collector.peers.reflector import Reflector
from likavillkor import stamp
from tests.net.asyncutil import sync


def _udp_client(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    s.connect(("127.0.0.1", port))
    return s


@sync
async def test_reflector_answers_and_survives_garbage() -> None:
    reflector = Reflector()
    await reflector.start("127.0.0.1", 0)
    assert reflector.port
    try:
        client = _udp_client(reflector.port)
        loop = asyncio.get_running_loop()
        for junk in (b"", b"hello", b"\xff" * 43, b"\0" * 1500):
            client.send(junk)
        sent = stamp.SenderPacket(seq=42, timestamp=stamp.to_ntp(time.time()), padding=100)
        client.send(stamp.encode_sender(sent))
        data = await loop.run_in_executor(None, client.recv, 4096)
        reply = stamp.decode_reflector(data)
        assert len(data) == 144  # symmetric size
        assert reply.sender_seq == 42 and reply.seq == 42
        assert reply.sender_timestamp == sent.timestamp
        assert reply.receive_timestamp <= reply.timestamp
        assert abs(stamp.from_ntp(reply.receive_timestamp) - time.time()) < 5
        assert reflector.counters["reflected"] == 1
        assert reflector.counters["malformed"] == 4
        client.close()
    finally:
        await reflector.stop()


@sync
async def test_prober_measures_a_clean_loopback_path() -> None:
    reflector = Reflector()
    await reflector.start("127.0.0.1", 0)
    cfg = PathProbeConfig(
        host="127.0.0.1", port=reflector.port or 0, rate_hz=50, window_s=5, timeout_ms=500, min_probes=1
    )
    prober = PathProber(cfg)
    await prober.start()
    try:
        await asyncio.sleep(1.2)
        snap = prober.snapshot()
    finally:
        await prober.stop()
        await reflector.stop()
    assert snap["probe_reachable"] is True
    assert snap["loss_percent"] == 0.0
    assert 0 < snap["rtt_ms"] < 50
    assert snap["jitter_ms"] is not None and snap["jitter_ms"] < 20
    assert 4.0 < snap["mos"] <= 4.5
    assert prober.stats.counters["ok"] >= 40


class _Hostile(asyncio.DatagramProtocol):
    """A broken reflector: answers every probe with a wrong sequence number, one with a foreign
    timestamp, and a duplicate; answers only every other probe correctly."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # selector transports do not subclass it

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        s = stamp.decode_sender(data)
        now = stamp.to_ntp(time.time())

        def send(seq: int, ts: int) -> None:
            p = stamp.ReflectorPacket(
                seq=seq,
                timestamp=now,
                error_estimate=1,
                receive_timestamp=now,
                sender_seq=seq,
                sender_timestamp=ts,
                sender_error_estimate=1,
                sender_ttl=0,
            )
            self.transport.sendto(stamp.encode_reflector(p), addr)

        send(s.seq + 1000, s.timestamp)  # wrong seq
        send(s.seq, s.timestamp ^ 0xFFFF)  # right seq, not the sender's timestamp
        self.transport.sendto(b"garbage", addr)
        if s.seq % 2 == 0:
            send(s.seq, s.timestamp)
            send(s.seq, s.timestamp)  # duplicate


@sync
async def test_prober_is_not_fooled_by_wrong_or_duplicate_replies() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Hostile, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    cfg = PathProbeConfig(host="127.0.0.1", port=port, rate_hz=50, window_s=5, timeout_ms=300, min_probes=1)
    prober = PathProber(cfg)
    await prober.start()
    try:
        await asyncio.sleep(1.0)
        await prober.stop()
        await asyncio.sleep(0.35)
        snap = prober.snapshot()
    finally:
        await prober.stop()
        transport.close()
    c = prober.stats.counters
    assert snap["loss_percent"] == pytest.approx(50.0, abs=5)
    assert c["unknown"] >= c["sent"] * 2 - 4  # the wrong seq and the foreign timestamp, for each probe
    assert c["duplicate"] >= c["ok"] - 2
    assert prober.counters["malformed"] >= c["sent"] - 2


@sync
async def test_unreachable_reflector_says_so() -> None:
    # a port nobody listens on: ICMP port unreachable, every probe lost
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = PathProbeConfig(host="127.0.0.1", port=port, rate_hz=20, window_s=3, timeout_ms=200, min_probes=1)
    prober = PathProber(cfg)
    await prober.start()
    try:
        await asyncio.sleep(0.8)
        snap = prober.snapshot()
    finally:
        await prober.stop()
    assert snap["probe_reachable"] is False
    assert snap["loss_percent"] == 100.0


def test_prober_needs_a_host() -> None:
    with pytest.raises(ValueError):
        PathProber(PathProbeConfig())
