"""The collector's MQTT client: paho-mqtt 2.x, MQTT v5, persistent session.

``clean_start=False`` with a session expiry keeps the collector's subscription and its QoS 1
queue on the broker while the collector is down, so samples published meanwhile come back.
The paho network thread calls ``on_message(topic, payload)`` (keep it cheap) and
``on_connection(connected)`` on every connect/disconnect; paho reconnects with back-off.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.mqtt import readpath
from collector.mqtt.ackgate import AckGate
from likavillkor import topics

log = logging.getLogger(__name__)


#: the largest packet the collector takes from the broker, advertised in CONNECT (Maximum Packet Size):
#: the broker drops a bigger message for the collector instead of sending it (a payload above
#: wire.MAX_PAYLOAD_BYTES, 64 KiB, is refused by ingest anyway; topic and properties fit easily)
MAX_PACKET_BYTES = 128 * 1024


def parse_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://host:1883`` / ``mqtts://host`` -> (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class MqttClient:
    """The collector's subscription to every device topic. ``client_class`` is the paho class
    underneath, :func:`collector.mqtt.readpath.client_class` unless given (the bench compares both)."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        on_message: Callable[[str, bytes], None],
        on_connection: Callable[[bool], None],
        username: str = "",
        password: str = "",
        ca_file: str = "",
        session_expiry_s: int = 86_400,
        keepalive_s: int = 15,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        subscription: str = topics.DEVICE_WILDCARD,
        client_class: type[paho.Client] | None = None,
        ack_gate: AckGate | None = None,
    ) -> None:
        """``ack_gate``: hold each PUBACK until the store has the message (collector/mqtt/ackgate.py;
        the lean read path only, stock paho acknowledges at once)."""
        self.host, self.port, tls = parse_url(url)
        self._on_message = on_message
        self._on_connection = on_connection
        self._subscription = subscription
        self._keepalive_s = keepalive_s
        self._session_expiry_s = session_expiry_s
        self.connected = False
        self.connects = 0
        self._stopping = False
        self._started = threading.Event()
        cls = client_class if client_class is not None else readpath.client_class()
        c = cls(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username:
            c.username_pw_set(username, password or None)
        if tls:
            c.tls_set(ca_certs=ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=max(1, int(reconnect_min_s)), max_delay=max(1, int(reconnect_max_s)))
        c.max_inflight_messages_set(1000)
        c.on_connect = self._connected
        c.on_disconnect = self._disconnected
        c.on_message = self._message
        self.ack_gate: AckGate | None = None
        if isinstance(c, readpath.LeanClient):
            c.fast_message = on_message
            c.ack_gate = self.ack_gate = ack_gate
        self._client = c

    @property
    def malformed(self) -> int:
        """Malformed PUBLISH packets from the broker (each closed the connection)."""
        return getattr(self._client, "malformed", 0)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        props.MaximumPacketSize = MAX_PACKET_BYTES  # the broker sends nothing larger (issue 12)
        self._client.connect_async(
            self.host, self.port, keepalive=self._keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def release_acks(self) -> None:
        """The store wrote (or gave up) rows: send the PUBACKs now due (any thread)."""
        if isinstance(self._client, readpath.LeanClient) and self.connected:
            self._client.release_acks()

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    # paho callbacks (network thread)
    def _connected(self, client: paho.Client, _ud: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s:%d refused: %s", self.host, self.port, reason)
            return
        self.connects += 1
        if self.ack_gate is not None:
            self.ack_gate.forget()  # held on the last connection: the broker redelivers them
        client.subscribe(self._subscription, qos=1)
        log.info(
            "MQTT connected to %s:%d (session present: %s)",
            self.host,
            self.port,
            getattr(flags, "session_present", None),
        )
        self.connected = True
        self._on_connection(True)

    def _disconnected(self, _c: paho.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was = self.connected
        self.connected = False
        if self.ack_gate is not None:
            self.ack_gate.forget()
        if was and self._stopping:
            log.info("MQTT disconnected from %s:%d", self.host, self.port)
            self._on_connection(False)
        elif was:
            log.warning("MQTT connection to %s:%d lost: %s; reconnecting", self.host, self.port, reason)
            self._on_connection(False)

    def _message(self, _c: paho.Client, _ud: Any, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))
