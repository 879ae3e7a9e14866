"""A sample the collector has taken from the broker survives the collector's SIGKILL (issue 8, H2).

Found by tests/faults/test_nothing_lost.py ("published 128, stored 127 ... lost 1 [92]"): the
collector sent the broker its PUBACK as soon as the message had passed ingest, while the row still
waited in the store's queue (up to ``flush_interval_s``, longer under load). A SIGKILL in that window
lost a sample the broker had already handed over for good. The collector now acknowledges a sample
only once the store has taken it (or given it up), so the persistent session redelivers the rest
after the restart.

Here the window is hit on purpose: each sample is published at QoS 1, the collector is killed the
moment its ingest counted it, then restarted; every sample must be in the store.
"""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as paho

from likavillkor import topics, wire
from tests.faults.harness import MEETING, Collector, stored_seqs
from tests.support.services import running_mosquitto
from tests.support.waiting import wait_until

ROUNDS = 3


def _sample(dev: str, seq: int) -> bytes:
    s = wire.Sample(
        device_id=dev,
        boot_id="boot-kill",
        seq=seq,
        ts=time.time(),
        meeting_id=MEETING,
        link=wire.LinkType.WIFI,
        rtt_ms=20.0,
        loss_percent=0.0,
        battery_percent=90.0,
        battery_charging=True,
    )
    return wire.encode(s)


def _received(col: Collector) -> int:
    h = col.get("/api/health")
    return int(h["ingest"]["received"]) if h else -1


def test_a_sample_taken_by_the_collector_survives_its_sigkill(tmp_path: Path) -> None:
    dev = "dev-a"
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        col = Collector(tmp_path / "collector", broker.url, [dev])
        col.start()
        pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="kill-pub", protocol=paho.MQTTv5)
        pub.connect(broker.host, broker.port, keepalive=10)
        pub.loop_start()
        try:
            seq = 0
            for _ in range(ROUNDS):
                for _ in range(3):  # a few live ones, then the one the kill catches
                    before = _received(col)
                    pub.publish(topics.device_topic(dev, "sample"), _sample(dev, seq), qos=1).wait_for_publish(10)
                    seq += 1
                    wait_until(lambda b=before: _received(col) > b, timeout=30, what="sample ingested", log=col.log)  # type: ignore[misc]
                col.kill()  # the moment the collector counted the last one
                col.start()
            col.settled()
            stored = stored_seqs(col.db_url, dev).get("boot-kill", set())
            missing = sorted(set(range(seq)) - stored)
            assert missing == [], f"published {seq}, stored {len(stored)}, lost {missing}"
        finally:
            pub.disconnect()
            pub.loop_stop()
            col.stop()
