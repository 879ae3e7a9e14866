"""The wire format: what is accepted, what is rejected and with which counter reason."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likavillkor import topics, wire

DOCS = Path(__file__).resolve().parents[2] / "docs"
BASE = {"device_id": "anna-ipad", "boot_id": "b1", "seq": 7, "ts": 1_790_000_000.0}


def sample(**fields: object) -> bytes:
    return json.dumps({"type": "sample", **BASE, **fields}).encode()


def test_sample_round_trip_keeps_units_and_none() -> None:
    msg = wire.decode(sample(rtt_ms=23.5, loss_percent=0.0, link="wifi", battery_percent=None))
    assert isinstance(msg, wire.Sample)
    assert msg.rtt_ms == 23.5 and msg.loss_percent == 0.0
    assert msg.link is wire.LinkType.WIFI
    assert msg.battery_percent is None  # no battery is not an empty battery
    assert msg.msg_id == "b1:7"
    assert wire.decode(wire.encode(msg)) == msg


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed"),
        (b"\xff\xfe\x00garbage", "malformed"),
        (sample(seq="7"), "invalid"),  # wrong type
        (sample().replace(b'"seq": 7', b'"seq": 7, "rtt_ms": 1e400'), "invalid"),  # overflows to inf
        (sample().replace(b'"seq": 7', b'"seq": 7, "rtt_ms": Infinity'), "malformed"),
        (sample(rtt_ms=-1), "invalid"),
        (sample(loss_percent=101), "invalid"),
        (sample(ts=9_999_999_999), "invalid"),  # far-future device timestamp
        (sample(device_id="../etc"), "invalid"),
        (sample(v=2), "unknown_version"),
        (json.dumps({"type": "nonsense", **BASE}).encode(), "invalid"),
        (b"[" * 5000 + b"]" * 5000, "invalid"),  # deep nesting, not an object
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "malformed"),  # deep nesting of objects (found by fuzzing)
        (sample().replace(b'"seq": 7', b'"seq": 7, "camera": ' + b"[" * 3000 + b"]" * 3000), "invalid"),
        (sample(camera="x" * 70_000), "oversized"),
    ],
)
def test_rejections_name_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.decode(payload)
    assert info.value.reason == reason


def test_nan_literal_is_rejected() -> None:
    with pytest.raises(wire.WireError):
        wire.decode(sample().replace(b'"seq": 7', b'"seq": 7, "rtt_ms": NaN'))


def test_status_and_selftest_decode() -> None:
    status = wire.decode(json.dumps({"type": "status", **BASE, "state": "offline", "reason": "will"}).encode())
    assert isinstance(status, wire.Status) and status.state is wire.DeviceState.OFFLINE
    result = wire.SelftestResult(
        **BASE,
        overall=wire.CheckStatus.FAIL,
        started_at=1_790_000_000.0,
        duration_s=12.0,
        checks=[wire.CheckResult(id="network.link", status=wire.CheckStatus.FAIL, value="wwan", rule="H9")],
    )
    assert wire.decode(wire.encode(result)) == result


def test_schema_in_docs_is_current_and_validates_messages() -> None:
    committed = json.loads((DOCS / "wire-schema.json").read_text())
    assert committed == json.loads(json.dumps(wire.json_schema())), "run: python -m likavillkor schema"
    good = json.loads(sample(rtt_ms=12.0, link="ethernet"))
    jsonschema.validate(good, committed)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "rtt_ms": -5}, committed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_errors(payload: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(wire.Sample.__struct_fields__)), json_values, max_size=8))
def test_structured_garbage_is_rejected_or_valid(fields: dict[str, object]) -> None:
    payload = msgspec.json.encode({"type": "sample", **BASE, **fields})
    try:
        msg = wire.decode(payload)
    except wire.WireError as exc:
        assert exc.reason in {"invalid", "unknown_version", "oversized", "malformed"}
    else:
        assert isinstance(msg, wire.Sample)


def test_topics_round_trip_and_refuse_foreign_shapes() -> None:
    topic = topics.device_topic("anna-ipad", "sample")
    assert topics.parse_device_topic(topic) == ("anna-ipad", "sample")
    assert topics.parse_device_topic("likavillkor/v1/devices/a/b/sample") is None
    assert topics.parse_device_topic("likavillkor/v1/devices//sample") is None
    assert topics.parse_device_topic("other/v1/devices/a/sample") is None
    assert topics.parse_device_topic("likavillkor/v1/devices/a/unknown") is None
