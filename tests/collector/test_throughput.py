"""Short version of bench/bench_ingest.py: a backlog of samples queued by a real Mosquitto for the
collector's persistent session drains completely, every published sample is stored exactly once
(issue 8: samples published = samples stored), and the drain rate leaves wide headroom over the
real load (one sample a second per remote member)."""

from __future__ import annotations

import pytest

from collector.store import schema as s
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import publish_backlog, wait_count
from tests.collector.test_ingest import _wait
from tests.support.services import Mosquitto

N, DEVICES = 3000, [f"dev-{i:02d}" for i in range(30)]


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_backlog_drains_and_every_sample_is_stored(mosquitto: Mosquitto, make_runtime: RuntimeFactory,
                                                   mode: str) -> None:
    extra = f'[ingest]\nmax_rate_per_device = 100000\nburst = 100000\nmode = "{mode}"\n'
    first = make_runtime(DEVICES, mqtt_url=mosquitto.url, extra=extra, name="tp")
    assert _wait(lambda: first.mqtt.connected)
    first.stop()
    publish_backlog(mosquitto.host, mosquitto.port, N, DEVICES)
    rt = make_runtime(DEVICES, mqtt_url=mosquitto.url, extra=extra, name="tp")
    t0, t1 = wait_count(lambda: rt.ingestor.counters.received, N, timeout=60)
    rate = (N - 1) / (t1 - t0)
    assert rt.ingestor.counters.outcomes == {"accepted": N}
    assert rt.store.flush(30)
    assert rt.store.count(s.samples) == N
    assert rt.view("ks-test").verdict == "equal_terms"  # type: ignore[union-attr]
    assert rate >= 1000, f"{rate:.0f} msg/s"
    print(f"{mode}: {rate:.0f} msg/s")
