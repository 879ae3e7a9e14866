"""Issue 17: one collector subscribed to two real Mosquittos under a topic root of its own
(`[mqtt] urls`, `topic_root`): a message that reaches it through both brokers is stored once, a
topic under another root never reaches it, and one broker's death interrupts nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from collector import config
from collector.runtime import Runtime
from collector.store import schema as s
from likavillkor import topics, wire
from tests.collector.helpers import sample
from tests.support.collector import write_config
from tests.support.roster import write_roster
from tests.support.services import Mosquitto, running_mosquitto
from tests.support.waiting import wait_until

ROOT = "lv/solna"


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[list[Mosquitto]]:
    with running_mosquitto(tmp_path / "m0") as a, running_mosquitto(tmp_path / "m1") as b:
        yield [a, b]


@pytest.fixture
def runtime(tmp_path: Path, brokers: list[Mosquitto]) -> Iterator[Runtime]:
    roster = write_roster(tmp_path / "roster.toml", ["dev-a"], meeting_id="ks-test")
    path = write_config(tmp_path / "collector.toml", data_dir=tmp_path / "data", roster=roster)
    urls = ", ".join(f'"{b.url}"' for b in brokers)
    text = path.read_text().replace('[mqtt]\nurl = ""', f'[mqtt]\nurls = [{urls}]\ntopic_root = "{ROOT}"')
    path.write_text(text)
    rt = Runtime(config.load(path))
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


@contextlib.contextmanager
def publisher(broker: Mosquitto) -> Iterator[paho.Client]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.connect(broker.host, broker.port, keepalive=10)
    c.loop_start()
    try:
        yield c
    finally:
        c.disconnect()
        c.loop_stop()


def test_both_brokers_one_root_stored_once_and_one_broker_may_die(runtime: Runtime, brokers: list[Mosquitto]) -> None:
    links = runtime.mqtt
    wait_until(lambda: all(c.connected for c in links.clients), timeout=30, what="subscribed to both brokers")
    msg = sample("dev-a", boot_id="b1", seq=1, link="wifi", meeting_id="ks-test")
    other_root = sample("dev-a", boot_id="b1", seq=2, link="wifi", meeting_id="ks-test")
    with publisher(brokers[0]) as p0, publisher(brokers[1]) as p1:
        # the same message on both brokers (an outbox replay after a failover): stored once
        p0.publish(topics.device_topic("dev-a", "sample", ROOT), wire.encode(msg), qos=1).wait_for_publish(5)
        p1.publish(topics.device_topic("dev-a", "sample", ROOT), wire.encode(msg), qos=1).wait_for_publish(5)
        # another municipality's root on the same broker: never subscribed, never seen
        p0.publish(topics.device_topic("dev-a", "sample"), wire.encode(other_root), qos=1).wait_for_publish(5)
        wait_until(lambda: runtime.ingestor.counters.received >= 2, timeout=30, what="both copies received")
    assert runtime.store.flush(10)
    assert [r["msg_id"] for r in runtime.store.rows(s.samples)] == ["b1:1"]
    assert runtime.ingestor.counters.outcomes == {"accepted": 1, "duplicate": 1}
    assert runtime.health()["broker"]["connected"]

    brokers[0].kill()
    wait_until(lambda: not links.clients[0].connected, timeout=30, what="broker 0 gone")
    assert links.connected and runtime.health()["broker"]["monitoring"] == "active"
    view = runtime.view("ks-test")
    assert view is not None
    assert view.monitoring == "active", view.monitoring
    with publisher(brokers[1]) as p1:
        later = sample("dev-a", boot_id="b1", seq=3, link="wifi", meeting_id="ks-test")
        p1.publish(topics.device_topic("dev-a", "sample", ROOT), wire.encode(later), qos=1).wait_for_publish(5)
    wait_until(lambda: runtime.store.flush(1) and runtime.store.count(s.samples) == 2, timeout=30,
               what="the sample through the other broker stored")  # fmt: skip
