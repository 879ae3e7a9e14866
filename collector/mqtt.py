"""The collector's MQTT client: paho-mqtt 2.x, MQTT v5, persistent session.

``clean_start=False`` with a session expiry keeps the collector's subscription and its QoS 1
queue on the broker while the collector is down, so samples published meanwhile come back.
The paho network thread calls ``on_message(topic, payload)`` (keep it cheap) and
``on_connection(connected)`` on every connect/disconnect; paho reconnects with back-off.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.client import PUBACK
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from likavillkor import topics

log = logging.getLogger(__name__)


_READ_AHEAD = 65_536  # bytes read per recv() system call
_MAX_BATCH = 1_000  # packets handled per loop iteration before paho's loop runs again


class _ReadAheadSocket(socket.socket):
    """A plain TCP socket whose ``recv`` is served from a read-ahead buffer.

    Stock paho reads every packet with three ``recv`` calls (type byte, length bytes, body) after a
    ``select``: five system calls per message, each a GIL hand-over to the other threads. This one
    fills a buffer with one ``recv`` and reports the buffered bytes through ``pending()``, which
    paho's loop already honours for TLS sockets (no waiting in ``select`` while data is buffered).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()

    @classmethod
    def adopt(cls, sock: socket.socket) -> _ReadAheadSocket:
        timeout = sock.gettimeout()
        new = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        new.settimeout(timeout)
        return new

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        buf = self._rbuf
        if not buf:
            if flags:
                return super().recv(bufsize, flags)
            data = super().recv(max(bufsize, _READ_AHEAD))  # BlockingIOError / b"" pass through
            if len(data) <= bufsize:
                return data
            buf += data
        out = bytes(buf[:bufsize])
        del buf[:bufsize]
        return out

    def pending(self) -> int:
        return len(self._rbuf)


def parse_publish(header: int, packet: bytes | bytearray) -> tuple[str, int, bytes] | None:
    """An MQTT v5 PUBLISH body -> (topic, packet id, payload); None when it is not well formed.

    The properties are skipped (the collector reads topic and payload only), which spares paho's
    per-message ``Properties`` object, ``MQTTMessage`` and callback matching."""
    try:
        pos = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:pos]).decode("utf-8")
        mid = 0
        if header & 0x06:
            mid = (packet[pos] << 8) | packet[pos + 1]
            pos += 2
        length, shift = 0, 0
        while True:  # the properties' length: a variable byte integer (at most four bytes)
            byte = packet[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                return None
        pos += length
    except (IndexError, UnicodeDecodeError):
        return None
    if pos > len(packet) or not topic:
        return None
    return topic, mid, bytes(packet[pos:])


class _Client(paho.Client):
    """paho's client, leaner per message (the collector's hot path, issue 2):

    * plain TCP reads go through :class:`_ReadAheadSocket`, and every buffered packet is handled in
      one loop iteration (one ``select`` per batch, not per message); TLS and websockets unchanged;
    * QoS 0/1 PUBLISH packets go straight to ``fast_message(topic, payload)`` (see
      :func:`parse_publish`), then the PUBACK; anything else (QoS 2, a malformed packet, no fast
      callback) takes paho's own path.
    """

    fast_message: Callable[[str, bytes], None] | None = None

    def _handle_publish(self) -> paho.MQTTErrorCode:
        fast = self.fast_message
        header = self._in_packet["command"]
        if fast is None or header & 0x06 == 0x04 or self._manual_ack or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        parsed = parse_publish(header, self._in_packet["packet"])
        if parsed is None:
            return super()._handle_publish()  # paho reports the malformed packet its own way
        topic, mid, payload = parsed
        with self._in_callback_mutex:
            try:
                fast(topic, payload)
            except Exception as exc:  # the callback must not kill the network thread
                log.error("MQTT message handler failed: %s", exc)
        if header & 0x06:
            return self._send_command_with_mid(PUBACK, mid, False)
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _create_socket_connection(self) -> socket.socket:
        sock = super()._create_socket_connection()
        if self._ssl or self._transport != "tcp" or type(sock) is not socket.socket:
            return sock
        return _ReadAheadSocket.adopt(sock)

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        if not isinstance(sock, _ReadAheadSocket):
            return rc
        pending = sock.pending
        for _ in range(_MAX_BATCH - 1):
            if rc != paho.MQTTErrorCode.MQTT_ERR_SUCCESS or not pending() or self._sock is not sock:
                break
            rc = super().loop_read(max_packets)
        return rc


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
    def __init__(self, url: str, *, client_id: str, on_message: Callable[[str, bytes], None],
                 on_connection: Callable[[bool], None], username: str = "", password: str = "",
                 ca_file: str = "", session_expiry_s: int = 86_400, keepalive_s: int = 15,
                 reconnect_min_s: float = 0.5, reconnect_max_s: float = 10.0,
                 subscription: str = topics.DEVICE_WILDCARD) -> None:
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
        c = _Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username:
            c.username_pw_set(username, password or None)
        if tls:
            c.tls_set(ca_certs=ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=max(1, int(reconnect_min_s)), max_delay=max(1, int(reconnect_max_s)))
        c.max_inflight_messages_set(1000)
        c.on_connect = self._connected
        c.on_disconnect = self._disconnected
        c.on_message = self._message
        c.fast_message = on_message
        self._client = c

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()

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
        client.subscribe(self._subscription, qos=1)
        log.info("MQTT connected to %s:%d (session present: %s)", self.host, self.port,
                 getattr(flags, "session_present", None))
        self.connected = True
        self._on_connection(True)

    def _disconnected(self, _c: paho.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was = self.connected
        self.connected = False
        if was and self._stopping:
            log.info("MQTT disconnected from %s:%d", self.host, self.port)
            self._on_connection(False)
        elif was:
            log.warning("MQTT connection to %s:%d lost: %s; reconnecting", self.host, self.port, reason)
            self._on_connection(False)

    def _message(self, _c: paho.Client, _ud: Any, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))
