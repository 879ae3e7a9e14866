"""The collector's lean MQTT read path (issue 2), behind one seam: :func:`client_class`.

A paho subclass that overrides private paho methods (``_handle_publish``, ``_create_socket_connection``,
``_in_packet``, ``_send_command_with_mid`` ...), so it is tied to the paho version it was tested with
(:data:`TESTED_PAHO`). With any other paho, :func:`client_class` returns stock ``paho.Client`` and says
so in one log line; the collector then works the same, only with more CPU per message.

Why it is kept: bench/bench_readpath.py, figures and decision in docs/performance.md and the
dependency table of docs/architecture.md.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version_installed
from paho.mqtt.client import PUBACK

from collector.mqtt.ackgate import AckGate

log = logging.getLogger(__name__)

#: the paho-mqtt version whose private methods :class:`LeanClient` overrides (tests/collector/test_mqtt_parser_fuzz.py,
#: test_throughput.py); any other version gets stock paho
TESTED_PAHO = "2.2.0"

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


# PUBLISH properties (MQTT v5, 3.3.2.3) by identifier: how each value is encoded
_BYTE, _INT2, _INT4, _VBI, _BIN, _UTF8, _PAIR = range(7)
_PUBLISH_PROPERTIES = {
    0x01: _BYTE,
    0x02: _INT4,
    0x03: _UTF8,
    0x08: _UTF8,
    0x09: _BIN,
    0x0B: _VBI,
    0x23: _INT2,
    0x26: _PAIR,
}
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
    text = bytes(buf[pos : pos + n]).decode("utf-8")  # surrogates are refused by the codec
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


class LeanClient(paho.Client):
    """paho's client, leaner per message (the collector's hot path, issue 2):

    * plain TCP reads go through :class:`_ReadAheadSocket`, and every buffered packet is handled in
      one loop iteration (one ``select`` per batch, not per message); TLS and websockets unchanged;
    * QoS 0/1 PUBLISH packets go straight to ``fast_message(topic, payload)`` (see
      :func:`parse_publish`), then the PUBACK; a malformed one closes the connection (counted in
      ``malformed``, logged once per 100); QoS 2 or no fast callback takes paho's own path.
    """

    fast_message: Callable[[str, bytes], None] | None = None
    malformed = 0
    #: PUBACKs held until the store has the message (collector/mqtt/ackgate.py); None: at once
    ack_gate: AckGate | None = None

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
        if not header & 0x06:
            return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
        gate = self.ack_gate
        if gate is not None and gate.hold(mid):
            return self.release_acks()
        self.release_acks()  # the held ones first: PUBACKs in the order of their PUBLISH packets
        return self._send_command_with_mid(PUBACK, mid, False)

    def release_acks(self) -> paho.MQTTErrorCode:
        """Send the held PUBACKs that are due (any thread: paho queues packets under its own lock)."""
        gate = self.ack_gate
        if gate is None:
            return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
        for mid in gate.due():
            rc = self._send_command_with_mid(PUBACK, mid, False)
            if rc != paho.MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_misc(self) -> paho.MQTTErrorCode:
        self.release_acks()  # the time bound, also when no message comes
        return super().loop_misc()

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


def client_class(*, lean: bool = True, paho_version: str = paho_version_installed) -> type[paho.Client]:
    """The paho client class the collector uses: :class:`LeanClient` when ``lean`` and paho is the
    tested version, else stock ``paho.Client`` (one log line when the version is the reason)."""
    if not lean:
        return paho.Client
    if paho_version != TESTED_PAHO:
        log.warning(
            "paho-mqtt %s is not the version the lean MQTT read path was tested with (%s): using stock paho",
            paho_version,
            TESTED_PAHO,
        )
        return paho.Client
    return LeanClient
