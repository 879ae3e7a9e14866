"""Helpers for the agent's tests: a real MQTT subscriber on the real Mosquitto fixture, and a way
to run the agent as a real subprocess."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from likavillkor import wire
from tests.support.services import Mosquitto

ROOT = Path(__file__).resolve().parents[2]


class Subscriber:
    """Collects every message under ``likavillkor/v1/devices/#`` (decoded with wire.decode)."""

    def __init__(self, broker: Mosquitto, topic: str = "likavillkor/v1/devices/#", *, persistent: bool = False) -> None:
        """``persistent``: a session the broker keeps (and queues for) across its own restart."""
        self.messages: queue.Queue[tuple[str, wire.Message, bool]] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self)}", protocol=paho.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, wire.decode(bytes(m.payload)), m.retain))
        self.client.reconnect_delay_set(1, 1)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda _c, _u, _m, _r, _p: self.subscribed.set()
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
        self.client.connect(broker.host, broker.port, keepalive=10, clean_start=not persistent, properties=props)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("test subscriber: no SUBACK")

    def wait_for(self, pred: Callable[[str, wire.Message, bool], bool], timeout: float = 10.0) -> wire.Message:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message")
            try:
                topic, msg, retained = self.messages.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no matching message") from None
            if pred(topic, msg, retained):
                return msg

    def drain(self) -> list[tuple[str, wire.Message, bool]]:
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto)
    yield sub
    sub.close()


def agent_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKAVILLKOR_AGENT")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_agent(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        env=env or agent_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        env=env or agent_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
