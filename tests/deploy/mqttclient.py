"""A small synchronous wrapper around paho-mqtt (CallbackAPIVersion.VERSION2, MQTT v5) for tests
against a real broker over TLS. Every wait has a deadline."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

DEADLINE_S = 5.0


@dataclass
class Received:
    topic: str
    payload: bytes


@dataclass
class TlsClient:
    host: str
    port: int
    ca_file: Path | None
    username: str | None = None
    password: str | None = None
    client_id: str = ""
    #: (topic, payload): a retained QoS 1 will, as the agent sets on its status topic
    will: tuple[str, bytes] | None = None
    messages: queue.Queue[Received] = field(default_factory=queue.Queue)
    _connack: queue.Queue[ReasonCode] = field(default_factory=queue.Queue)
    _acks: dict[int, tuple[threading.Event, list[Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        self.client.connect_timeout = DEADLINE_S
        if self.ca_file is not None:
            self.client.tls_set(ca_certs=str(self.ca_file))
        else:
            self.client.tls_set()  # the system's trust store
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        if self.will is not None:
            self.client.will_set(self.will[0], self.will[1], qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_ack

    # -- callbacks (paho's network thread)
    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        self._connack.put(reason)
        if reason.is_failure:
            self.client.disconnect()  # no reconnect loop on a refused login

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(msg.topic, bytes(msg.payload)))

    def _on_ack(self, _c: Any, _u: Any, mid: int, reason: Any, _props: Any) -> None:
        self._slot(mid)[1].append(reason)
        self._slot(mid)[0].set()

    def _slot(self, mid: int) -> tuple[threading.Event, list[Any]]:
        with self._lock:
            return self._acks.setdefault(mid, (threading.Event(), []))

    # -- calls from the test thread
    def connect(self) -> ReasonCode:
        """The CONNACK's reason code (success or the broker's refusal)."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            return self._connack.get(timeout=DEADLINE_S)
        except queue.Empty:
            raise TimeoutError(f"no CONNACK from {self.host}:{self.port} within {DEADLINE_S} s") from None

    def _wait_ack(self, mid: int) -> Any:
        event, reasons = self._slot(mid)
        if not event.wait(DEADLINE_S):
            raise TimeoutError(f"no acknowledgement for message id {mid} within {DEADLINE_S} s")
        return reasons[0]

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        rc, mid = self.client.subscribe(topic, qos=qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None
        reasons: list[ReasonCode] = self._wait_ack(mid)
        return reasons

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code (0x87 when the ACL refuses)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        reason: ReasonCode = self._wait_ack(info.mid)
        return reason

    def next_message(self) -> Received:
        try:
            return self.messages.get(timeout=DEADLINE_S)
        except queue.Empty:
            raise TimeoutError(f"no message within {DEADLINE_S} s") from None

    def drain(self) -> list[Received]:
        out: list[Received] = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def drop_with_will(self) -> None:
        """MQTT v5 DISCONNECT with reason 0x04: the broker publishes the will, as if the link broke."""
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
