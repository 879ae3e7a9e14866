"""Hostile MQTT payloads through the collector's real ingest path (issue 8).

Hypothesis builds payloads (invalid UTF-8, deep nesting, huge numbers, NaN and infinities, far-future
timestamps, replayed message ids, random device ids) and sends them through ``Ingestor.handle`` of a
started Runtime (engine, SQLite store). The invariants: nothing raises, every message is either
handed to the engine or counted under a rejection reason, a valid sample beside the garbage still
lands, replays are recognised, and per-device memory stays bounded under a flood of ids.
"""

from __future__ import annotations

import itertools
import json
import time

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.runtime import Runtime
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic

BASE = {"type": "sample", "device_id": "dev-a", "boot_id": "fuzz", "seq": 1, "ts": time.time()}

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 2**53 + 1]),
)
json_like = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=30,
)


def raw_json(obj: object) -> bytes:
    """JSON as a hostile device would write it: NaN/Infinity literals allowed."""
    return json.dumps(obj, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=512),  # invalid UTF-8, truncation, anything
    st.builds(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth, st.integers(1, 3000)),  # deep nesting
    st.builds(
        lambda f: raw_json({**BASE, **f}),  # a sample with hostile field values
        st.dictionaries(st.sampled_from(sorted(wire.Sample.__struct_fields__)), json_like, max_size=6),
    ),
    st.builds(lambda ts: raw_json({**BASE, "ts": ts}), numbers),  # far-future / absurd device clocks
    st.builds(lambda v: raw_json({**BASE, "v": v}), st.integers(-5, 10)),  # unknown versions
)
topics_ = st.one_of(
    st.just(topic("dev-a")),
    st.just(topic("dev-b")),
    st.just(topic("dev-a", "status")),
    st.builds(lambda d: topic(d), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
    st.text(max_size=60),
)


def _accounted(rt: Runtime) -> None:
    c = rt.ingestor.counters
    assert c.received == sum(c.outcomes.values()) + sum(c.rejected.values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(topics_, payloads), min_size=1, max_size=20))
def test_hostile_payloads_are_counted_never_raise_and_valid_ones_land(
    make_runtime: RuntimeFactory, batch: list[tuple[str, bytes]]
) -> None:
    rt = _runtime(make_runtime)
    _CLOCK[0] += 2.0  # each example 2 s later: the per-device rate limit (20/s) refills between examples
    now = _CLOCK[0]
    before = rt.ingestor.counters.outcomes.get("accepted", 0)
    for i, (t, p) in enumerate(batch):
        rt.ingestor.handle(t, p, now + i * 1e-3)
        if i == len(batch) // 2:  # a valid sample in the middle of the garbage
            good = wire.Sample(device_id="dev-b", boot_id="good", seq=next(_GOOD_SEQ), ts=now + i * 1e-3, rtt_ms=20.0)
            assert rt.ingestor.handle(topic("dev-b"), wire.encode(good), now + i * 1e-3) == "accepted"
    _accounted(rt)
    assert rt.ingestor.counters.outcomes.get("accepted", 0) >= before + 1
    # hostile input is always a wire/ingest rejection, never an engine failure
    assert rt.ingestor.counters.rejected["engine_error"] == 0


_CLOCK = [time.time()]
_GOOD_SEQ = itertools.count(1)


_RT: dict[int, Runtime] = {}


def _runtime(make_runtime: RuntimeFactory) -> Runtime:
    """One runtime per test function (hypothesis reuses the fixture across examples)."""
    key = id(make_runtime)
    if key not in _RT:
        _RT.clear()
        _RT[key] = make_runtime()
    return _RT[key]


def test_replayed_message_ids_are_duplicates(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    now = time.time()
    msg = wire.encode(sample("dev-a", boot_id="replay", seq=7))
    assert rt.ingestor.handle(topic("dev-a"), msg, now) == "accepted"
    for i in range(5):
        assert rt.ingestor.handle(topic("dev-a"), msg, now + 0.01 * (i + 1)) == "duplicate"
    _accounted(rt)


def test_a_flood_of_device_ids_keeps_memory_bounded(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    now = time.time()
    enc = msgspec.json.Encoder()
    for i in range(25_000):
        payload = enc.encode({**BASE, "device_id": f"x{i}", "seq": i})
        assert rt.ingestor.handle(topic(f"x{i}"), payload, now) == "unknown_device"
    assert rt.ingestor.counters.rejected["unknown_device"] == 25_000
    assert len(rt.unknown_devices) <= 10_000
    assert len(rt.engine.unknown_devices) <= 10_000
    # and a known device is still served
    assert rt.ingestor.handle(topic("dev-a"), wire.encode(sample("dev-a", boot_id="after", seq=1)), now) == "accepted"
    _accounted(rt)
