"""Bad input through a real Mosquitto: every kind of bad message is counted per reason and
dropped, and a valid message published beside them still lands (engine + database)."""

from __future__ import annotations

import logging
import time

import msgspec
import paho.mqtt.client as paho
import pytest

from collector.mqtt.ingest import LogLimiter, RateLimiter, TokenBucket
from collector.store import schema as s
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until


def test_token_bucket_refills_with_time() -> None:
    b = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, last=100.0)
    assert [b.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert b.allow(100.5) and not b.allow(100.5)


def test_rate_limiter_is_per_device() -> None:
    lim = RateLimiter(rate=1.0, burst=2.0)
    assert [lim.allow("flood", 0.0) for _ in range(5)] == [True, True, False, False, False]
    assert lim.allow("quiet", 0.0)


def test_log_limiter_once_per_reason_and_device() -> None:
    lim = LogLimiter(every_s=60)
    assert lim.allow("malformed", "a", 0.0)
    assert not lim.allow("malformed", "a", 59.0)
    assert lim.allow("invalid", "a", 1.0) and lim.allow("malformed", "b", 1.0)
    assert lim.allow("malformed", "a", 61.0)


def test_bad_input_counted_dropped_valid_lands(
    mosquitto: Mosquitto, publisher: paho.Client, make_runtime: RuntimeFactory
) -> None:
    rt = make_runtime(mqtt_url=mosquitto.url)
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    good = sample("dev-a", boot_id="good", seq=1, link="wifi", rtt_ms=12.0, meeting_id="ks-test")
    as_dict = msgspec.to_builtins(good)
    bad: list[tuple[str, bytes, str]] = [
        (topic("dev-a"), b"{not json", "malformed"),
        (topic("dev-a"), msgspec.json.encode({**as_dict, "rtt_ms": "fast"}), "invalid"),
        (topic("dev-a"), msgspec.json.encode({**as_dict, "loss_percent": 1e308}), "invalid"),
        (topic("dev-a"), msgspec.json.encode({**as_dict, "v": 99}), "unknown_version"),
        (topic("dev-a"), b"{" + b" " * (wire.MAX_PAYLOAD_BYTES + 10) + b"}", "oversized"),
        (topic("dev-b"), wire.encode(good), "cross_device"),
        (topic("dev-a", "status"), wire.encode(good), "kind_mismatch"),
        (topic("stranger"), wire.encode(sample("stranger", link="wifi")), "unknown_device"),
    ]
    for t, payload, _ in bad:
        publisher.publish(t, payload, qos=1)
    publisher.publish(topic("dev-a"), wire.encode(good), qos=1).wait_for_publish(5)
    counters = rt.ingestor.counters
    wait_until(lambda: counters.received >= len(bad) + 1, timeout=30, what="counters.received >= len(bad) + 1")
    expected: dict[str, int] = {}
    for _, _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert {k: v for k, v in counters.rejected.items() if v} == expected
    assert counters.outcomes == {"accepted": 1}
    assert "stranger" in rt.health()["unknown_devices"]  # H12: reported, not silently accepted
    assert rt.store.flush(10)
    assert [r["msg_id"] for r in rt.store.rows(s.samples)] == ["good:1"]
    view = rt.view("ks-test")
    assert view is not None
    assert {p.device_id: p.rtt_ms for p in view.participants}["dev-a"] == 12.0


def test_flooding_device_is_limited_others_unaffected(
    mosquitto: Mosquitto, publisher: paho.Client, make_runtime: RuntimeFactory
) -> None:
    rt = make_runtime(mqtt_url=mosquitto.url, extra="[ingest]\nmax_rate_per_device = 5\nburst = 10\n")
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    for i in range(300):
        publisher.publish(topic("dev-a"), wire.encode(sample("dev-a", boot_id="flood", seq=i)), qos=1)
    for i in range(5):
        publisher.publish(topic("dev-b"), wire.encode(sample("dev-b", boot_id="calm", seq=i)), qos=1)
    wait_until(lambda: rt.ingestor.counters.received >= 305, timeout=30, what="rt.ingestor.counters.received >= 305")
    assert rt.ingestor.counters.rejected["rate_limited"] >= 250
    assert rt.store.flush(10)
    calm = rt.store.rows(s.samples, s.samples.c.device_id == "dev-b")
    assert len(calm) == 5


def test_engine_error_is_counted_not_raised(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()

    def boom(msg: object, at: float) -> tuple[str, list[object]]:
        raise RuntimeError("engine bug")

    rt.ingestor._engine_call = boom  # a failing engine must not kill the MQTT thread
    out = rt.ingestor.handle(topic("dev-a"), wire.encode(sample("dev-a")), time.time())
    assert out == "engine_error" and rt.ingestor.counters.rejected["engine_error"] == 1


def test_rejections_logged_once_per_reason_and_device(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime()
    caplog.set_level(logging.WARNING, logger="collector.mqtt.ingest")
    now = time.time()
    for i in range(50):
        rt.ingestor.handle(topic("dev-a"), b"{broken", now + i * 0.01)
        rt.ingestor.handle(topic("dev-b"), b"{broken", now + i * 0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "collector.mqtt.ingest"]
    assert len(lines) == 2 and rt.ingestor.counters.rejected["malformed"] == 100
