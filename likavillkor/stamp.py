"""STAMP test packets (RFC 8762, unauthenticated mode): pure encode/decode, stdlib only.

The agent's path probe (``agent.probes.path``) sends *session-sender* packets to the collector's
*session-reflector* (``collector.peers.reflector``), which answers each with a reflector packet that
echoes the sender's sequence number, timestamp and error estimate and adds its own receive and
transmit timestamps. Round-trip time, jitter and loss follow (H1, H2: the path must be stable).

Layouts (RFC 8762 §4.2.1 and §4.3.1; every field big-endian)::

    sender (44 octets):    seq u32 | timestamp u64 | error-estimate u16 | MBZ 30 octets
    reflector (44 octets): seq u32 | timestamp u64 | error-estimate u16 | MBZ 2 |
                           receive-timestamp u64 | sender-seq u32 | sender-timestamp u64 |
                           sender-error-estimate u16 | MBZ 2 | sender-TTL u8 | MBZ 3

A sender may append padding (zero octets); a reflector answers with a packet of the same length
(symmetric size), so both directions carry the same load.

Timestamps are 64-bit NTP format: seconds since 1900-01-01 (32 bits) and a binary fraction (32 bits).

**Authenticated probes** (issue 11; RFC 8972 extensions): the sender puts its Session-Sender
Identifier (SSID, 16 bits, RFC 8972 §3) in the two octets after the error estimate and appends an
HMAC TLV (RFC 8972 §4.8: flags, type 8, length 16, then HMAC-SHA256 truncated to 128 bits over
the 44-octet base) keyed with a per-device key the agent fetches over the authenticated device
HTTP API. 64 octets in all; the reflector's answer has the same length. A probe then proves which
device sent it, so it counts as that device's evidence of life, and no other device can keep a
member "alive".
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Final

BASE_SIZE: Final = 44
#: Largest datagram either side accepts: a padded packet must still fit one Ethernet frame.
MAX_SIZE: Final = 1472
NTP_EPOCH_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_SENDER: Final = struct.Struct("!IQHH28x")  # seq, timestamp, error estimate, SSID (RFC 8972), MBZ
_REFLECTOR: Final = struct.Struct("!IQH2xQIQH2xB3x")
assert _SENDER.size == BASE_SIZE and _REFLECTOR.size == BASE_SIZE


class StampError(ValueError):
    """A datagram that is not a STAMP packet. ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def to_ntp(epoch_s: float) -> int:
    """Unix epoch seconds -> 64-bit NTP timestamp."""
    whole = int(epoch_s // 1)
    frac = round((epoch_s - whole) * 2**32)
    if frac >= 2**32:  # rounding pushed the fraction over
        whole, frac = whole + 1, 0
    return (((whole + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32) | frac


def from_ntp(ntp: int) -> float:
    """64-bit NTP timestamp -> Unix epoch seconds (era 0, i.e. until 2036)."""
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / 2**32


def error_estimate(*, synchronized: bool = False, scale: int = 0, multiplier: int = 1) -> int:
    """The 16-bit Error Estimate (RFC 4656 §4.1.2): S | Z=0 (NTP format) | Scale(6) | Multiplier(8).
    The multiplier must not be zero."""
    if not 0 <= scale < 64 or not 1 <= multiplier < 256:
        raise ValueError("scale must be 0..63 and multiplier 1..255")
    return (0x8000 if synchronized else 0) | (scale << 8) | multiplier


@dataclass(frozen=True, slots=True)
class SenderPacket:
    seq: int
    timestamp: int  # NTP 64-bit
    error_estimate: int = 1  # not synchronized, multiplier 1
    padding: int = 0  # extra zero octets after the 44-octet base
    ssid: int = 0  # Session-Sender Identifier (RFC 8972); 0 = none


@dataclass(frozen=True, slots=True)
class ReflectorPacket:
    seq: int
    timestamp: int  # NTP 64-bit, when the reflector sent this packet
    error_estimate: int
    receive_timestamp: int  # NTP 64-bit, when the reflector received the sender's packet
    sender_seq: int
    sender_timestamp: int
    sender_error_estimate: int
    sender_ttl: int  # 0 when the reflector could not read it
    padding: int = 0


def encode_sender(p: SenderPacket) -> bytes:
    return _SENDER.pack(p.seq & 0xFFFFFFFF, p.timestamp, p.error_estimate, p.ssid & 0xFFFF) + bytes(p.padding)


def decode_sender(data: bytes) -> SenderPacket:
    _check_size(data)
    seq, ts, err, ssid = _SENDER.unpack_from(data)
    return SenderPacket(seq=seq, timestamp=ts, error_estimate=err, padding=len(data) - BASE_SIZE, ssid=ssid)


HMAC_TLV_TYPE: Final = 8  # RFC 8972 §4.8
HMAC_SIZE: Final = 16
_TLV: Final = struct.Struct("!BBH")
AUTH_SIZE: Final = BASE_SIZE + _TLV.size + HMAC_SIZE  # 64 octets


def probe_mac(key: bytes, base: bytes) -> bytes:
    """HMAC-SHA256 over the 44-octet base packet, truncated to 128 bits (RFC 8972 §4.8)."""
    return hmac.new(key, base[:BASE_SIZE], hashlib.sha256).digest()[:HMAC_SIZE]


def encode_signed_sender(p: SenderPacket, key: bytes) -> bytes:
    """An authenticated probe: the base (with ``p.ssid``) and an HMAC TLV. No padding."""
    base = _SENDER.pack(p.seq & 0xFFFFFFFF, p.timestamp, p.error_estimate, p.ssid & 0xFFFF)
    return base + _TLV.pack(0, HMAC_TLV_TYPE, HMAC_SIZE) + probe_mac(key, base)


def signed_parts(data: bytes) -> tuple[SenderPacket, bytes]:
    """(the sender packet, its HMAC) of an authenticated probe; StampError ``unauthenticated`` when
    it carries no HMAC TLV where one belongs."""
    _check_size(data)
    if len(data) != AUTH_SIZE:
        raise StampError("unauthenticated", f"{len(data)} octets, an authenticated probe has {AUTH_SIZE}")
    _flags, kind, length = _TLV.unpack_from(data, BASE_SIZE)
    if kind != HMAC_TLV_TYPE or length != HMAC_SIZE:
        raise StampError("unauthenticated", f"TLV type {kind} length {length}, not the HMAC TLV")
    seq, ts, err, ssid = _SENDER.unpack_from(data)
    return SenderPacket(seq=seq, timestamp=ts, error_estimate=err, ssid=ssid), data[BASE_SIZE + _TLV.size :]


def encode_reflector(p: ReflectorPacket) -> bytes:
    return _REFLECTOR.pack(
        p.seq & 0xFFFFFFFF,
        p.timestamp,
        p.error_estimate,
        p.receive_timestamp,
        p.sender_seq & 0xFFFFFFFF,
        p.sender_timestamp,
        p.sender_error_estimate,
        p.sender_ttl & 0xFF,
    ) + bytes(p.padding)


def decode_reflector(data: bytes) -> ReflectorPacket:
    _check_size(data)
    seq, ts, err, rts, sseq, sts, serr, ttl = _REFLECTOR.unpack_from(data)
    return ReflectorPacket(
        seq=seq,
        timestamp=ts,
        error_estimate=err,
        receive_timestamp=rts,
        sender_seq=sseq,
        sender_timestamp=sts,
        sender_error_estimate=serr,
        sender_ttl=ttl,
        padding=len(data) - BASE_SIZE,
    )


def reflect(
    sender: SenderPacket,
    *,
    receive_timestamp: int,
    transmit_timestamp: int,
    reflector_error_estimate: int = 1,
    ttl: int = 0,
) -> ReflectorPacket:
    """The stateless reflector's answer (RFC 8762 §4.3: its sequence number copies the sender's)."""
    return ReflectorPacket(
        seq=sender.seq,
        timestamp=transmit_timestamp,
        error_estimate=reflector_error_estimate,
        receive_timestamp=receive_timestamp,
        sender_seq=sender.seq,
        sender_timestamp=sender.timestamp,
        sender_error_estimate=sender.error_estimate,
        sender_ttl=ttl,
        padding=sender.padding,
    )


def _check_size(data: bytes) -> None:
    if len(data) < BASE_SIZE:
        raise StampError("short", f"{len(data)} octets < {BASE_SIZE}")
    if len(data) > MAX_SIZE:
        raise StampError("oversized", f"{len(data)} octets > {MAX_SIZE}")
