"""STAMP packet layout (RFC 8762 §4.2.1, §4.3.1) and NTP timestamps."""

from __future__ import annotations

import struct

import pytest

from likavillkor import stamp


def test_sender_packet_layout_and_round_trip() -> None:
    ts = stamp.to_ntp(1_780_000_000.25)
    p = stamp.SenderPacket(seq=7, timestamp=ts, error_estimate=stamp.error_estimate(synchronized=True, multiplier=3))
    data = stamp.encode_sender(p)
    assert len(data) == 44
    assert struct.unpack_from("!I", data, 0)[0] == 7
    assert struct.unpack_from("!Q", data, 4)[0] == ts
    assert struct.unpack_from("!H", data, 12)[0] == 0x8003  # S bit set, multiplier 3
    assert data[14:] == bytes(30)  # MBZ
    assert stamp.decode_sender(data) == p


def test_reflector_packet_layout_and_round_trip() -> None:
    sender = stamp.SenderPacket(seq=4_000_000_000, timestamp=stamp.to_ntp(1_780_000_000.5), padding=20)
    reply = stamp.reflect(
        sender,
        receive_timestamp=stamp.to_ntp(1_780_000_000.6),
        transmit_timestamp=stamp.to_ntp(1_780_000_000.7),
        ttl=63,
    )
    data = stamp.encode_reflector(reply)
    assert len(data) == 64  # same size as the padded sender packet
    seq, ts, err = struct.unpack_from("!IQH", data, 0)
    assert (seq, ts, err) == (4_000_000_000, reply.timestamp, 1)
    assert data[14:16] == b"\0\0"
    assert struct.unpack_from("!Q", data, 16)[0] == reply.receive_timestamp
    assert struct.unpack_from("!I", data, 24)[0] == sender.seq
    assert struct.unpack_from("!Q", data, 28)[0] == sender.timestamp
    assert struct.unpack_from("!H", data, 36)[0] == sender.error_estimate
    assert data[38:40] == b"\0\0" and data[40] == 63 and data[41:44] == b"\0\0\0"
    assert stamp.decode_reflector(data) == reply


def test_ntp_conversion() -> None:
    assert stamp.to_ntp(0.0) >> 32 == stamp.NTP_EPOCH_OFFSET
    assert stamp.to_ntp(0.5) & 0xFFFFFFFF == 2**31
    for t in (1_700_000_000.0, 1_780_123_456.789, 2_000_000_000.999999):
        assert abs(stamp.from_ntp(stamp.to_ntp(t)) - t) < 1e-6


@pytest.mark.parametrize("data,reason", [(b"", "short"), (b"x" * 43, "short"), (b"\0" * 2000, "oversized")])
def test_bad_sizes_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(stamp.StampError) as err:
        stamp.decode_sender(data)
    assert err.value.reason == reason


def test_error_estimate_rejects_zero_multiplier() -> None:
    with pytest.raises(ValueError):
        stamp.error_estimate(multiplier=0)
