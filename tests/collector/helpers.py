"""Helpers for the collector's tests: samples, topics, a backlog publisher. (Rosters: tests/support/roster.py;
configs: tests/support/collector.py.)"""

from __future__ import annotations

import itertools
import time
import uuid

import paho.mqtt.client as paho

from likavillkor import topics, wire

_seq = itertools.count(1)


def sample(device_id: str, *, boot_id: str | None = None, seq: int | None = None, **fields: object) -> wire.Sample:
    return wire.Sample(
        device_id=device_id,
        boot_id=boot_id or "boot-" + uuid.uuid4().hex[:8],
        seq=next(_seq) if seq is None else seq,
        ts=time.time(),
        **fields,
    )  # type: ignore[arg-type]


def topic(device_id: str, kind: topics.Kind = "sample") -> str:
    return topics.device_topic(device_id, kind)


def publish_backlog(host: str, port: int, n: int, devices: list[str]) -> None:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect(host, port)
    c.loop_start()
    boot = f"bench-{time.monotonic_ns()}"
    last = None
    for i in range(n):
        d = devices[i % len(devices)]
        s = wire.Sample(
            device_id=d,
            boot_id=boot,
            seq=i // len(devices),
            ts=time.time(),
            meeting_id="ks-test",
            link=wire.LinkType.WIFI,
            rtt_ms=20.0 + i % 7,
            jitter_ms=2.0,
            loss_percent=0.0,
            mos=4.3,
            battery_percent=80.0,
            battery_charging=True,
            tx_kbps=900.0,
            rx_kbps=1500.0,
            cpu_percent=20.0,
            mem_available_percent=50.0,
            wifi_signal_dbm=-55.0,
        )
        last = c.publish(topics.device_topic(d, "sample"), wire.encode(s), qos=1)
    assert last is not None
    last.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()
