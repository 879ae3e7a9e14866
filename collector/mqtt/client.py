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


#: the largest packet the collector takes from the broker, advertised in CONNECT (Maximum Packet Size):
#: the broker drops a bigger message for the collector instead of sending it (a payload above
#: wire.MAX_PAYLOAD_BYTES, 64 KiB, is refused by ingest anyway; topic and properties fit easily)
MAX_PACKET_BYTES = 128 * 1024

# PUBLISH properties (MQTT v5, 3.3.2.3) by identifier: how each value is encoded
_BYTE, _INT2, _INT4, _VBI, _BIN, _UTF8, _PAIR = range(7)
_PUBLISH_PROPERTIES = {0x01: _BYTE, 0x02: _INT4, 0x03: _UTF8, 0x08: _UTF8, 0x09: _BIN, 0x0B: _VBI,
                       0x23: _INT2, 0x26: _PAIR}
_REPEATABLE = frozenset({0x0B, 0x26})  # subscription identifier, user property


class Malformed(ValueError):
    pass


def _vbi(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """A variable byte integer at ``pos`` -> (value, position after it); at most four bytes."""
    value = 0
    for shift in (0, 7, 14, 21):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise Malformed("variable byte integer longer than four bytes")


def _utf8(buf: bytes | bytearray, pos: int, end: int) -> int:
    if pos + 2 > end:
        raise Malformed("string length past the properties")
    n = (buf[pos] << 8) | buf[pos + 1]
    pos += 2
    if pos + n > end:
        raise Malformed("string past the properties")
    text = bytes(buf[pos:pos + n]).decode("utf-8")  # surrogates are refused by the codec
    if "\x00" in text or "\ufeff" in text:
        raise Malformed("U+0000 or U+FEFF in a string (MQTT-1.5.4-2, -3)")
    return pos + n


def _check_properties(buf: bytes | bytearray, pos: int, end: int) -> None:
    """Every property of a PUBLISH well formed, known and inside the properties' length, as paho's
    own decoder demands (an unknown identifier, a repeated single property, a value past the end,
    a payload format other than 0/1, topic alias or subscription identifier 0: Malformed)."""
    seen: set[int] = set()
    while pos < end:
        ident, pos = _vbi(buf, pos)
        kind = _PUBLISH_PROPERTIES.get(ident)
        if kind is None:
            raise Malformed(f"property {ident:#x} is not a PUBLISH property")
        if ident in seen and ident not in _REPEATABLE:
            raise Malformed(f"property {ident:#x} twice")
        seen.add(ident)
        if kind == _BYTE:
            if pos + 1 > end or buf[pos] > 1:
                raise Malformed("payload format indicator")
            pos += 1
        elif kind == _INT2:
            if pos + 2 > end or (buf[pos] | buf[pos + 1]) == 0:
                raise Malformed("topic alias")
            pos += 2
        elif kind == _INT4:
            pos += 4
        elif kind == _VBI:
            value, pos = _vbi(buf, pos)
            if value == 0:
                raise Malformed("subscription identifier 0")
        elif kind == _BIN:
            if pos + 2 > end:
                raise Malformed("binary length past the properties")
            pos += 2 + ((buf[pos] << 8) | buf[pos + 1])
        elif kind == _UTF8:
            pos = _utf8(buf, pos, end)
        else:
            pos = _utf8(buf, _utf8(buf, pos, end), end)
        if pos > end:
            raise Malformed("property past the properties")


def parse_publish(header: int, packet: bytes | bytearray) -> tuple[str, int, bytes] | None:
    """An MQTT v5 PUBLISH body -> (topic, packet id, payload); None when it is not well formed:
    QoS 3, packet id 0 at QoS 1 or 2 (MQTT-2.2.1-3), an empty topic (the collector allows no topic
    aliases), a bad property (:func:`_check_properties`) or a truncated packet.

    The property values are not kept (the collector reads topic and payload only), which spares
    paho's per-message ``Properties`` object, ``MQTTMessage`` and callback matching."""
    qos = (header >> 1) & 0x03
    if qos == 3:
        return None
    try:
        pos = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:pos]).decode("utf-8")
        mid = 0
        if qos:
            mid = (packet[pos] << 8) | packet[pos + 1]
            pos += 2
            if mid == 0:
                return None
        length, pos = _vbi(packet, pos)
        end = pos + length
        if length:
            _check_properties(packet, pos, end)
        pos = end
    except (IndexError, ValueError):  # UnicodeDecodeError and Malformed are ValueErrors
        return None
    if pos > len(packet) or not topic:
        return None
    return topic, mid, bytes(packet[pos:])


class _Client(paho.Client):
    """paho's client, leaner per message (the collector's hot path, issue 2):

    * plain TCP reads go through :class:`_ReadAheadSocket`, and every buffered packet is handled in
      one loop iteration (one ``select`` per batch, not per message); TLS and websockets unchanged;
    * QoS 0/1 PUBLISH packets go straight to ``fast_message(topic, payload)`` (see
      :func:`parse_publish`), then the PUBACK; a malformed one closes the connection (counted in
      ``malformed``, logged once per 100); QoS 2 or no fast callback takes paho's own path.
    """

    fast_message: Callable[[str, bytes], None] | None = None
    malformed = 0

    def _handle_publish(self) -> paho.MQTTErrorCode:
        fast = self.fast_message
        header = self._in_packet["command"]
        if fast is None or header & 0x06 == 0x04 or self._manual_ack or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        parsed = parse_publish(header, self._in_packet["packet"])
        if parsed is None:  # malformed (MQTT v5 4.13): drop the connection; paho reconnects
            self.malformed += 1
            if self.malformed % 100 == 1:
                log.warning("malformed PUBLISH from the broker (%d so far): connection closed", self.malformed)
            return paho.MQTTErrorCode.MQTT_ERR_PROTOCOL
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

    @property
    def malformed(self) -> int:
        """Malformed PUBLISH packets from the broker (each closed the connection)."""
        return self._client.malformed

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        props.MaximumPacketSize = MAX_PACKET_BYTES  # the broker sends nothing larger (issue 12)
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
