"""``/metrics`` families for the components beside the runtime: a real STAMP reflector on loopback
counts reflected and malformed datagrams, and they come out in Prometheus text format."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

from collector import metrics
from collector.peers.reflector import Reflector
from likavillkor import stamp


async def _exchange(reflector: Reflector) -> None:
    await reflector.start("127.0.0.1", 0)
    assert reflector.port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.sendto(b"not stamp", ("127.0.0.1", reflector.port))
        for seq in range(3):
            s.sendto(stamp.encode_sender(stamp.SenderPacket(seq=seq, timestamp=stamp.to_ntp(time.time()))),
                     ("127.0.0.1", reflector.port))
        deadline = time.monotonic() + 5
        while reflector.counters["reflected"] < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # yield to the reflector's protocol; bounded by the deadline
    await reflector.stop()


def test_reflector_counters_reach_the_exposition() -> None:
    reflector = Reflector()
    asyncio.run(_exchange(reflector))
    runtime = SimpleNamespace(reflector=(reflector, None))  # what Runtime holds while the reflector runs
    text = metrics.render(metrics.components(runtime))
    assert "# TYPE likavillkor_reflector_packets_total counter" in text
    assert 'likavillkor_reflector_packets_total{result="reflected"} 3.0' in text
    assert 'likavillkor_reflector_packets_total{result="malformed"} 1.0' in text
    assert "media_peer" not in text  # not mounted: no family


def test_media_peer_families_from_its_counters() -> None:
    state = SimpleNamespace(media_peer=SimpleNamespace(counters={"offers": 2, "rejected_busy": 1}, sessions={"a": 1}))
    text = metrics.render(metrics.components(SimpleNamespace(reflector=None), state))
    assert 'likavillkor_media_peer_events_total{event="rejected_busy"} 1.0' in text
    assert "likavillkor_media_peer_open 1.0" in text and "reflector" not in text
