"""``/metrics`` families for the components beside the runtime: a real STAMP reflector on loopback
counts reflected and malformed datagrams, and they come out in Prometheus text format."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

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
            s.sendto(
                stamp.encode_sender(stamp.SenderPacket(seq=seq, timestamp=stamp.to_ntp(time.time()))),
                ("127.0.0.1", reflector.port),
            )
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


#: every family /metrics served before prometheus_client took over the exposition (issue 13): same names
HEALTH_FAMILIES = {
    "likavillkor_mqtt_connected": "gauge",
    "likavillkor_ingest_received": "counter",
    "likavillkor_ingest_outcome": "counter",
    "likavillkor_ingest_rejected": "counter",
    "likavillkor_unknown_devices": "gauge",
    "likavillkor_store_queue": "gauge",
    "likavillkor_store_written": "counter",
    "likavillkor_store_dropped": "counter",
    "likavillkor_store_failures": "counter",
    "likavillkor_influx_buffered": "gauge",
    "likavillkor_influx_written": "counter",
    "likavillkor_influx_dropped": "counter",
    "likavillkor_meeting_verdict": "gauge",
}


def _health(meeting_id: str) -> dict[str, object]:
    return {
        "broker": {"connected": True},
        "unknown_devices": ["x", "y"],
        "ingest": {"received": 1_234_567, "outcomes": {"accepted": 7, "stale": 2}, "rejected": {"malformed": 3}},
        "store": {"queued": 4, "written": 10, "dropped": 0, "failures": 1},
        "influx": {"buffered": 5, "written": 6},
        "meetings": [{"meeting_id": meeting_id, "verdict": "adjourn"}, {"meeting_id": "ks-2", "verdict": "ok"}],
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_exposition_parses_with_prometheus_parser() -> None:
    """The whole /metrics text parses with prometheus_client's own parser: the same family names and
    types as the hand-written exposition had, every value from the health dict, and a label value with a
    quote, a backslash and a newline comes back unchanged."""
    odd = 'ks "1"\\\nb'
    text = metrics.from_health(_health(odd), metrics.component_families(reflector={"reflected": 9}))
    kinds = {fam.name: fam.type for fam in text_string_to_metric_families(text)}
    assert kinds == {**HEALTH_FAMILIES, "likavillkor_reflector_packets": "counter"}
    got = _samples(text)
    assert got[("likavillkor_ingest_received_total", ())] == 1_234_567
    assert got[("likavillkor_ingest_outcome_total", (("outcome", "stale"),))] == 2
    assert got[("likavillkor_ingest_rejected_total", (("reason", "malformed"),))] == 3
    assert got[("likavillkor_unknown_devices", ())] == 2
    assert got[("likavillkor_mqtt_connected", ())] == 1
    assert got[("likavillkor_store_failures_total", ())] == 1
    assert got[("likavillkor_influx_dropped_total", ())] == 0  # absent from the health dict: 0
    assert got[("likavillkor_meeting_verdict", (("meeting_id", odd), ("verdict", "adjourn")))] == 1
    assert got[("likavillkor_reflector_packets_total", (("result", "reflected"),))] == 9
    assert len(got) == 16


def test_runtime_collector_reads_on_every_scrape() -> None:
    """The custom collector asks the runtime on each scrape: a counter that moved shows the new value."""
    health = _health("ks-1")
    collector = metrics.RuntimeCollector(lambda: health)
    before = _samples(metrics.expose(collector))
    health["ingest"]["received"] += 1  # type: ignore[index]
    after = _samples(metrics.expose(collector))
    key = ("likavillkor_ingest_received_total", ())
    assert after[key] == before[key] + 1


def test_for_runtime_reads_health_and_components() -> None:
    """The collector a running collector registers: its health dict and the peers beside it, in one scrape."""
    state = SimpleNamespace(media_peer=SimpleNamespace(counters={"offers": 4}, sessions={}))
    runtime = SimpleNamespace(health=lambda: _health("ks-9"), reflector=None)
    got = _samples(metrics.expose(metrics.for_runtime(runtime, state)))
    assert got[("likavillkor_meeting_verdict", (("meeting_id", "ks-9"), ("verdict", "adjourn")))] == 1
    assert got[("likavillkor_media_peer_events_total", (("event", "offers"),))] == 4
    assert got[("likavillkor_media_peer_open", ())] == 0
