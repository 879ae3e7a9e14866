"""MQTT side: the persistent session brings back what was published while the collector was
down; losing the broker interrupts monitoring without marking anyone lost; the private
Mosquitto is restarted when it dies and stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from collector.mqtt.supervisor import PrivateBroker
from collector.store import schema as s
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until


def test_samples_published_while_collector_down_arrive(
    mosquitto: Mosquitto, publisher: paho.Client, make_runtime: RuntimeFactory
) -> None:
    first = make_runtime(mqtt_url=mosquitto.url, name="first")
    wait_until(lambda: first.mqtt.connected, timeout=30, what="first.mqtt.connected")
    first.stop()  # the broker keeps the collector's session (clean_start False + expiry)
    for i in range(20):
        publisher.publish(
            topic("dev-a"), wire.encode(sample("dev-a", boot_id="while-down", seq=i)), qos=1
        ).wait_for_publish(5)
    second = make_runtime(mqtt_url=mosquitto.url, name="first")  # same data dir and client id
    wait_until(
        lambda: second.ingestor.counters.received >= 20, timeout=30, what="second.ingestor.counters.received >= 20"
    )
    assert second.store.flush(10)
    assert second.store.count(s.samples, s.samples.c.msg_id.like("while-down:%")) == 20


def test_broker_loss_interrupts_monitoring_nobody_lost(
    mosquitto: Mosquitto, publisher: paho.Client, make_runtime: RuntimeFactory
) -> None:
    rt = make_runtime(mqtt_url=mosquitto.url, silence_lost_s=1.0)
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    for d in ("dev-a", "dev-b"):
        publisher.publish(
            topic(d), wire.encode(sample(d, link="wifi", rtt_ms=10.0, meeting_id="ks-test")), qos=1
        ).wait_for_publish(5)
    wait_until(
        lambda: rt.ingestor.counters.outcomes.get("accepted", 0) == 2,
        timeout=30,
        what="rt.ingestor.counters.outcomes.get('accepted', 0) == 2",
    )
    mosquitto.kill()
    wait_until(lambda: not rt.mqtt.connected, timeout=30, what="not rt.mqtt.connected")
    time.sleep(2.0)  # twice the silence limit: without the broker, silence proves nothing
    rt.tick()
    view = rt.view("ks-test")
    assert view is not None
    assert view.monitoring == "interrupted" and view.verdict == "monitoring_interrupted"
    assert all(p.state != "lost" for p in view.participants)
    health = rt.health()
    assert health["broker"]["connected"] is False and health["broker"]["monitoring"] == "interrupted"
    mosquitto.start()
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    assert rt.view("ks-test").monitoring == "active"  # type: ignore[union-attr]


def test_private_broker_restarted_and_stopped_by_pid(tmp_path: Path) -> None:
    b = PrivateBroker(tmp_path)
    b.start()
    try:
        pid = b.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: b.restarts == 1 and b.pid != pid, timeout=30, what="b.restarts == 1 and b.pid != pid")
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        c.connect(b.host, b.port, keepalive=5)  # same port after the restart
        c.disconnect()
        last = b.pid
    finally:
        b.stop()
    assert last is not None
    wait_until(
        lambda: not Path(f"/proc/{last}").exists() or "Z" in Path(f"/proc/{last}/stat").read_text(),
        timeout=30,
        what="the stopped Mosquitto's process is gone",
    )
    assert (tmp_path / "mosquitto" / "port").read_text() == str(b.port)


@pytest.mark.parametrize("mode", [0o755, 0o700])
def test_private_broker_persists_its_queue_to_disk(mode: int) -> None:
    """Mosquitto writes its persistence file into data_dir (also when started as root, where it
    drops to the mosquitto user), so a queued session survives a broker restart. The data dir is
    an ordinary 0755 directory, as an old data/ is, or 0700 as the collector makes it (issue 12):
    then only the mosquitto group may pass through it."""
    data = Path(tempfile.mkdtemp(prefix="likavillkor-broker-"))
    try:
        data.chmod(mode)
        b = PrivateBroker(data)
        b.start()
        b.stop()
        assert "Permission denied" not in (data / "mosquitto" / "mosquitto.log").read_text()
        assert (data / "mosquitto" / "mosquitto.db").exists()
        assert data.stat().st_mode & 0o007 == mode & 0o007  # never opened to others
    finally:
        shutil.rmtree(data, ignore_errors=True)
