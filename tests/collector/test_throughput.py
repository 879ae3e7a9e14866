"""Short version of bench/bench_ingest.py: a backlog of samples queued by a real Mosquitto for the
collector's persistent session drains completely, and every published sample is stored exactly once
(issue 8: samples published = samples stored). The drain rate (headroom over the real load of one
sample a second per remote member) is a timing figure: bench/bench_ingest.py measures it."""

from __future__ import annotations

import struct
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.mqtt.client import MqttClient
from collector.mqtt.readpath import parse_publish
from collector.store import schema as s
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import publish_backlog
from tests.support.services import Mosquitto
from tests.support.waiting import holds_within, wait_until

N, DEVICES = 3000, [f"dev-{i:02d}" for i in range(30)]


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_backlog_drains_and_every_sample_is_stored(
    mosquitto: Mosquitto, make_runtime: RuntimeFactory, mode: str
) -> None:
    extra = f'[ingest]\nmax_rate_per_device = 100000\nburst = 100000\nmode = "{mode}"\n'
    first = make_runtime(DEVICES, mqtt_url=mosquitto.url, extra=extra, name="tp")
    wait_until(lambda: first.mqtt.connected, timeout=30, what="first.mqtt.connected")
    first.stop()
    publish_backlog(mosquitto.host, mosquitto.port, N, DEVICES)
    rt = make_runtime(DEVICES, mqtt_url=mosquitto.url, extra=extra, name="tp")
    wait_until(
        lambda: rt.ingestor.counters.received >= N,
        timeout=300,
        what=f"all {N} samples received",
        detail=lambda: rt.ingestor.counters.as_dict(),
    )
    assert rt.ingestor.counters.outcomes == {"accepted": N}
    assert rt.store.flush(30)
    assert rt.store.count(s.samples) == N
    assert rt.view("ks-test").verdict == "equal_terms"  # type: ignore[union-attr]


# -- the collector's lean MQTT path (issue 2): paho's own decoder is the reference ---------------

_text = st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))
# (paho refuses a NUL inside a property string; the lean path skips properties, so it would pass
# such a message on: the payload is still checked by wire.decode)
_props = st.fixed_dictionaries(
    {},
    optional={
        "ContentType": _text.filter(lambda t: len(t) <= 30),
        "MessageExpiryInterval": st.integers(0, 2**32 - 1),
        "UserProperty": st.lists(
            st.tuples(_text.filter(lambda t: len(t) <= 10), _text.filter(lambda t: len(t) <= 10)), max_size=3
        ),
        "CorrelationData": st.binary(max_size=40),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    topic=st.text(min_size=1, max_size=80).filter(lambda t: "\x00" not in t),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65535),
    props=_props,
    payload=st.binary(max_size=3000),
)
def test_parse_publish_agrees_with_paho(topic: str, qos: int, mid: int, props: dict[str, Any], payload: bytes) -> None:
    p = Properties(PacketTypes.PUBLISH)
    for k, v in props.items():
        setattr(p, k, v)
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + (struct.pack("!H", mid) if qos else b"") + p.pack() + payload
    header = 0x30 | (qos << 1)
    ref = decode_publish(header, bytearray(body), paho.MQTTv5)
    assert parse_publish(header, bytearray(body)) == (ref.topic.decode(), ref.mid, ref.payload)
    for cut in (1, 2 + len(t) // 2, 2 + len(t) + 1):  # truncated: None, and paho's own path reports it
        assert parse_publish(header, bytearray(body[:cut])) is None or cut >= len(body) - len(payload)


def test_lean_client_receives_qos0_qos1_and_properties_in_order_per_qos(mosquitto: Mosquitto) -> None:
    got: list[tuple[str, bytes]] = []
    client = MqttClient(
        mosquitto.url,
        client_id="lean-test",
        on_message=lambda t, b: got.append((t, b)),
        on_connection=lambda _c: None,
        subscription="lean/#",
    )
    client.start()
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="lean-pub", protocol=paho.MQTTv5)
    try:
        wait_until(lambda: client.connected, timeout=30, what="client.connected")
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        deadline = time.monotonic() + 30
        while not got:  # the subscription goes out right after CONNACK: probe until it is in force
            assert time.monotonic() < deadline, "subscription never took effect"
            pub.publish("lean/probe", b"probe", qos=1).wait_for_publish(2)
            holds_within(lambda: bool(got), 0.2)
        got.clear()
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("k", "v")
        props.ContentType = "application/json"
        sent = [(f"lean/{i % 3}", f"payload-{i}".encode() * (1 + i % 50)) for i in range(500)]
        info = None
        for i, (t, b) in enumerate(sent):
            info = pub.publish(t, b, qos=i % 2, properties=props if i % 5 == 0 else None)
        assert info is not None
        info.wait_for_publish(10)
        wait_until(lambda: len(got) >= len(sent), timeout=30, what="len(got) >= len(sent)")
        got[:] = [m for m in got if m[0] != "lean/probe"]  # a late probe
        assert sorted(got) == sorted(sent)
        for qos in (0, 1):  # MQTT orders messages per QoS level; the broker may interleave the two
            assert [m for m in got if int(m[1][8:].split(b"p")[0]) % 2 == qos] == sent[qos::2]
    finally:
        pub.disconnect()
        pub.loop_stop()
        client.stop()
