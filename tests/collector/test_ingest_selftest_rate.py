"""Issue 12, item 5 over MQTT: a device's self-test results (up to 64 KiB each) have a bucket of their
own, so a device cannot fill the disk with them; its samples flow on. A real Mosquitto and runtime."""

from __future__ import annotations

import time
import uuid
from typing import Any

from collector.mqtt.ingest import SELFTEST_BURST
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until


def test_a_flood_of_selftest_results_is_cut_to_the_burst_and_samples_flow_on(
    mosquitto: Mosquitto, make_runtime: RuntimeFactory, publisher: Any
) -> None:
    rt = make_runtime(["dev-a", "dev-b"], mqtt_url=mosquitto.url)
    wait_until(lambda: rt.mqtt.connected, timeout=30, what="rt.mqtt.connected")
    boot = "st-" + uuid.uuid4().hex[:8]
    big = [wire.CheckResult(id="network.rtt", status=wire.CheckStatus.PASS, summary="x" * 1900)] * 30
    n = 40
    last = None
    for seq in range(1, n + 1):
        now = time.time()
        msg = wire.SelftestResult(
            device_id="dev-a",
            boot_id=boot,
            seq=seq,
            ts=now,
            meeting_id="ks-test",
            overall=wire.CheckStatus.PASS,
            started_at=now - 5,
            duration_s=5.0,
            checks=big,
        )
        last = publisher.publish(topic("dev-a", "selftest"), wire.encode(msg), qos=1)
    assert last is not None
    last.wait_for_publish(10)
    after = sample("dev-a", boot_id=boot, seq=n + 1, meeting_id="ks-test", rtt_ms=20.0)
    publisher.publish(topic("dev-a"), wire.encode(after), qos=1).wait_for_publish(10)
    wait_until(
        lambda: rt.ingestor.counters.received >= n + 1,
        timeout=30,
        what="rt.ingestor.counters.received >= n + 1",
        detail=lambda: rt.ingestor.counters.as_dict(),
    )
    counters = rt.ingestor.counters
    accepted = counters.outcomes.get("accepted", 0)
    # the burst on the collector's clock, once more on the device's (an outbox replay), and the sample
    assert counters.rejected["rate_limited"] >= n - 2 * SELFTEST_BURST - 1, counters.as_dict()
    assert accepted <= 2 * SELFTEST_BURST + 2, counters.as_dict()
    assert rt.view("ks-test").participants[0].last_contact is not None  # type: ignore[union-attr]
