"""The seam in front of the lean MQTT read path (collector/mqtt/readpath.py): the lean paho subclass
only with the paho version it was tested with, stock paho otherwise (one log line), and the collector's
MqttClient delivers the same messages through either class from a real Mosquitto."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt import __version__ as installed_paho

from collector.mqtt import readpath
from collector.mqtt.client import MqttClient
from tests.support.services import Mosquitto


def _wait(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_the_installed_paho_is_the_tested_one() -> None:
    """pyproject allows a range; the lean client is pinned to the version its tests ran with. When this
    fails after an upgrade, run tests/collector/test_mqtt*.py and bench/bench_readpath.py, then move TESTED_PAHO."""
    assert installed_paho == readpath.TESTED_PAHO
    assert readpath.client_class() is readpath.LeanClient


def test_another_paho_version_falls_back_to_stock_paho_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="collector.mqtt.readpath")
    assert readpath.client_class(paho_version="2.3.0") is paho.Client
    lines = [r.getMessage() for r in caplog.records if r.name == "collector.mqtt.readpath"]
    assert len(lines) == 1 and "2.3.0" in lines[0] and readpath.TESTED_PAHO in lines[0]
    assert readpath.client_class(lean=False) is paho.Client


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "stock"])
def test_both_classes_deliver_through_the_collectors_client(mosquitto: Mosquitto, lean: bool) -> None:
    got: list[tuple[str, bytes]] = []
    client = MqttClient(
        mosquitto.url,
        client_id=f"readpath-{lean}",
        on_message=lambda t, b: got.append((t, b)),
        on_connection=lambda _c: None,
        subscription="lv/#",
        client_class=readpath.client_class(lean=lean),
    )
    assert isinstance(client._client, readpath.LeanClient) == lean
    client.start()
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="readpath-pub", protocol=paho.MQTTv5)
    try:
        assert _wait(lambda: client.connected)
        time.sleep(0.3)  # SUBACK before the first PUBLISH
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        for i in range(50):
            pub.publish(f"lv/d{i % 5}/sample", f"m{i}".encode(), qos=i % 2)
        assert _wait(lambda: len(got) >= 50), got
        assert sorted(got) == sorted((f"lv/d{i % 5}/sample", f"m{i}".encode()) for i in range(50))
        assert client.malformed == 0
    finally:
        pub.loop_stop()
        client.stop()
