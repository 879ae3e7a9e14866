"""A collector restart continues where it stopped: the engine snapshot in the database brings back
lost-since times (the H16 five-minute clock) and open incidents."""

from __future__ import annotations

import time

from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic


def test_restart_restores_lost_since_and_open_incidents(make_runtime: RuntimeFactory) -> None:
    first = make_runtime(silence_lost_s=0.3, name="same")
    first.ingestor.handle(topic("dev-a"), wire.encode(sample("dev-a", link="wifi", meeting_id="ks-test")), time.time())
    time.sleep(0.5)
    first.tick()
    before = first.view("ks-test")
    assert before is not None
    lost = {p.device_id: p.lost_since for p in before.participants}["dev-a"]
    assert lost is not None
    open_before = {i.id for i in first.engine.open_incidents()}
    assert open_before
    first.stop()
    second = make_runtime(silence_lost_s=0.3, name="same")  # same data dir: same database
    after = second.view("ks-test")
    assert after is not None
    assert {p.device_id: p.lost_since for p in after.participants}["dev-a"] == lost
    assert {i.id for i in second.engine.open_incidents()} == open_before
