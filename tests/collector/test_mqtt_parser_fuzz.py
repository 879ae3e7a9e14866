"""The collector's own MQTT read path against a hostile or broken broker (issue 12, item 14):
malformed PUBLISH headers and properties are refused wherever paho (or the standard) refuses them,
reads split anywhere are put back together, and the collector advertises its maximum packet size,
so a real Mosquitto never sends it more."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt._packet import DECODE_ERRORS, decode_publish
from paho.mqtt.enums import MQTTProtocolVersion

from collector.mqtt.client import MAX_PACKET_BYTES, MqttClient
from collector.mqtt.readpath import parse_publish
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.services import Mosquitto
from tests.support.waiting import holds_within, wait_until


def _vbi(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _reference(header: int, body: bytes) -> tuple[str, int, bytes] | None:
    """What paho's client takes: its decoder, a QoS of 0-2, a non-zero packet id (MQTT-2.2.1-3), a
    topic (no aliases were allowed) that is UTF-8."""
    try:
        ref = decode_publish(header, bytearray(body), MQTTProtocolVersion.MQTTv5)
        topic_text = ref.topic.decode("utf-8")
    except (*DECODE_ERRORS, UnicodeDecodeError):
        return None
    if ref.qos == 3 or (ref.qos and ref.mid == 0) or not topic_text:
        return None
    return topic_text, ref.mid, bytes(ref.payload)


_ids = st.one_of(st.sampled_from([0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26]), st.integers(0, 300))
_prop = st.builds(lambda i, raw: _vbi(i) + raw, _ids, st.binary(max_size=12))
_props = st.one_of(
    st.builds(lambda ps: _vbi(len(b"".join(ps))) + b"".join(ps), st.lists(_prop, max_size=4)),
    st.builds(
        lambda ps, extra: _vbi(max(0, len(b"".join(ps)) + extra)) + b"".join(ps),  # a wrong length
        st.lists(_prop, max_size=4),
        st.integers(-5, 5),
    ),
    st.binary(max_size=8),  # anything at all
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flags=st.integers(0, 15),
    topic_=st.binary(max_size=20),
    mid=st.integers(0, 65535),
    props=_props,
    payload=st.binary(max_size=40),
    cut=st.integers(0, 80),
)
def test_malformed_headers_are_refused_where_paho_refuses_them(
    flags: int, topic_: bytes, mid: int, props: bytes, payload: bytes, cut: int
) -> None:
    header = 0x30 | flags
    qos = (flags >> 1) & 3
    body = struct.pack("!H", len(topic_)) + topic_ + (struct.pack("!H", mid) if qos else b"") + props + payload
    for packet in (body, body[:cut]):
        ours = parse_publish(header, bytearray(packet))
        ref = _reference(header, packet)
        if ref is None:
            assert ours is None, (header, packet)
        if ours is not None:
            assert ours == ref


def test_what_the_standard_refuses_in_particular() -> None:
    ok = struct.pack("!H", 3) + b"a/b" + struct.pack("!H", 7) + b"\x00" + b"payload"
    assert parse_publish(0x32, ok) == ("a/b", 7, b"payload")
    assert parse_publish(0x36, ok) is None  # QoS 3
    assert parse_publish(0x32, struct.pack("!H", 3) + b"a/b" + b"\x00\x00" + b"\x00" + b"p") is None  # id 0
    with_prop = struct.pack("!H", 3) + b"a/b"  # QoS 0: the properties follow the topic
    assert parse_publish(0x30, with_prop + b"\x02\x2a\x00" + b"p") is None  # 0x2a: not a PUBLISH property
    assert parse_publish(0x30, with_prop + b"\x02\x01\x02" + b"p") is None  # payload format 2
    assert parse_publish(0x30, with_prop + b"\x02\x01\x01" + b"p") == ("a/b", 0, b"p")
    assert parse_publish(0x30, with_prop + b"\x04\x01\x01\x01\x01" + b"p") is None  # the same property twice
    assert parse_publish(0x30, struct.pack("!H", 0) + b"\x03\x23\x00\x01" + b"p") is None  # alias, no topic


# -- reads split anywhere: the real MqttClient against a broker that sends in fragments --------------


def _packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + _vbi(len(body)) + body


def _publish(topic_: str, payload: bytes, qos: int, mid: int, props: bytes = b"\x00") -> bytes:
    t = topic_.encode()
    return _packet(
        0x30 | (qos << 1), struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"") + props + payload
    )


class FragmentingBroker:
    """Just enough of a broker: CONNACK, SUBACK, then the given bytes in the given fragment sizes."""

    def __init__(self, stream: bytes, sizes: list[int]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stream, self.sizes = stream, sizes
        self.connect_packet = b""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def _read_packet(conn: socket.socket) -> bytes:
        head = conn.recv(1)
        length, shift = 0, 0
        while True:
            byte = conn.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        return head + body

    def run(self) -> None:
        self.server.settimeout(10)
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(10)
            self.connect_packet = self._read_packet(conn)
            conn.sendall(_packet(0x20, b"\x00\x00\x00"))
            sub = self._read_packet(conn)
            conn.sendall(_packet(0x90, sub[1:3] + b"\x00\x01"))
            pos, i = 0, 0
            while pos < len(self.stream):
                n = self.sizes[i % len(self.sizes)]
                conn.sendall(self.stream[pos : pos + n])
                pos, i = pos + n, i + 1
                time.sleep(0.001)
            time.sleep(0.5)
        self.server.close()


_messages = st.lists(
    st.tuples(
        st.sampled_from(["t/a", "t/b/c", "likavillkor/v1/devices/x/sample"]),
        st.binary(max_size=3000),
        st.sampled_from([0, 1]),
        st.sampled_from([b"\x00", b"\x05\x26\x00\x00\x00\x00", b"\x03\x23\x00\x01"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages, sizes=st.lists(st.integers(1, 1500), min_size=1, max_size=6))
def test_fragmented_reads_deliver_every_message_once_in_order(
    messages: list[tuple[str, bytes, int, bytes]], sizes: list[int]
) -> None:
    stream = b"".join(_publish(t, p, q, i + 1, props) for i, (t, p, q, props) in enumerate(messages))
    broker = FragmentingBroker(stream, sizes)
    got: list[tuple[str, bytes]] = []
    client = MqttClient(
        f"mqtt://127.0.0.1:{broker.port}",
        client_id="frag",
        on_message=lambda t, b: got.append((t, b)),
        on_connection=lambda _c: None,
        subscription="#",
    )
    client.start()
    try:
        wait_until(lambda: len(got) >= len(messages), timeout=30, what="len(got) >= len(messages)", detail=lambda: got)
        assert got == [(t, p) for t, p, _q, _props in messages]
        assert client.malformed == 0
        assert struct.pack("!BI", 0x27, MAX_PACKET_BYTES) in broker.connect_packet  # Maximum Packet Size
    finally:
        client.stop()
        broker.thread.join(5)


def test_a_malformed_publish_closes_the_connection_and_is_counted() -> None:
    good = _publish("t/a", b"first", 1, 1)
    bad = _packet(0x36, struct.pack("!H", 3) + b"t/a" + struct.pack("!H", 2) + b"\x00" + b"qos3")
    broker = FragmentingBroker(good + bad + _publish("t/a", b"after", 0, 0), [7])
    got: list[tuple[str, bytes]] = []
    client = MqttClient(
        f"mqtt://127.0.0.1:{broker.port}",
        client_id="bad",
        on_message=lambda t, b: got.append((t, b)),
        on_connection=lambda _c: None,
        subscription="#",
    )
    client.start()
    try:
        wait_until(lambda: client.malformed == 1, timeout=30, what="client.malformed == 1")
        assert got == [("t/a", b"first")]  # nothing after the malformed packet on that connection
    finally:
        client.stop()
        broker.thread.join(5)


# -- a real Mosquitto honours the advertised limit ---------------------------------------------------


def test_mosquitto_sends_the_collector_nothing_above_its_maximum_packet_size(
    mosquitto: Mosquitto, make_runtime: RuntimeFactory, publisher: Any
) -> None:
    rt = make_runtime(["dev-a", "dev-b"], mqtt_url=mosquitto.url)
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    big = b'{"type":"sample","pad":"' + b"x" * (MAX_PACKET_BYTES + 1000) + b'"}'
    ok = sample("dev-a", meeting_id="ks-test", rtt_ms=20.0)
    deadline = time.monotonic() + 10
    while rt.ingestor.counters.received < 1:  # the subscription is in force once a small one arrives
        assert time.monotonic() < deadline
        publisher.publish(topic("dev-a"), wire.encode(ok), qos=1).wait_for_publish(5)
        holds_within(lambda: rt.ingestor.counters.received >= 1, 0.5)
    publisher.publish(topic("dev-a"), big, qos=1).wait_for_publish(5)
    last = sample("dev-a", meeting_id="ks-test", rtt_ms=21.0)
    publisher.publish(topic("dev-a"), wire.encode(last), qos=1).wait_for_publish(5)
    # QoS 1 keeps order: had the big one been sent to the collector, it would have come before `last`
    wait_until(
        lambda: rt.ingestor.counters.outcomes.get("accepted", 0) >= 2,
        timeout=30,
        what="two samples accepted",
        detail=lambda: rt.ingestor.counters.as_dict(),
    )
    counters = rt.ingestor.counters
    assert counters.rejected["oversized"] == 0, counters.as_dict()
    assert counters.received == sum(counters.outcomes.values()), counters.as_dict()
    assert rt.mqtt.connected and rt.mqtt.connects == 1


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
