"""Ingest throughput: the collector's MQTT path vs a bare paho subscriber on the same broker.

Both drain the same backlog: N samples from D devices, queued by a real Mosquitto for a
persistent session (QoS 1) while the subscriber is away. The bare subscriber only counts; the
collector decodes, checks (topic, roster, rate limit), runs the engine (verdicts kept current:
every sample goes through engine.ingest, ticks keep running), and queues rows for SQLite.

    .venv/bin/python bench/bench_ingest.py [--messages 20000] [--devices 200]

Prints both rates and the ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector import config  # noqa: E402
from collector.runtime import Runtime  # noqa: E402
from likavillkor import topics, wire  # noqa: E402
from tests.collector.helpers import write_config, write_roster  # noqa: E402
from tests.support.services import running_mosquitto  # noqa: E402


def _persistent(client_id: str) -> tuple[paho.Client, Properties]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    return c, props


def publish_backlog(host: str, port: int, n: int, devices: list[str]) -> None:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect(host, port)
    c.loop_start()
    boot = f"bench-{time.monotonic_ns()}"
    last = None
    for i in range(n):
        d = devices[i % len(devices)]
        s = wire.Sample(device_id=d, boot_id=boot, seq=i // len(devices), ts=time.time(), meeting_id="ks-test",
                        link=wire.LinkType.WIFI, rtt_ms=20.0 + i % 7, jitter_ms=2.0, loss_percent=0.0, mos=4.3,
                        battery_percent=80.0, battery_charging=True, tx_kbps=900.0, rx_kbps=1500.0,
                        cpu_percent=20.0, mem_available_percent=50.0, wifi_signal_dbm=-55.0)
        last = c.publish(topics.device_topic(d, "sample"), wire.encode(s), qos=1)
    assert last is not None
    last.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


def wait_count(get: object, n: int, timeout: float = 300.0) -> tuple[float, float]:
    """(time of first message, time of the n-th) by polling a counter every 2 ms."""
    first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = get()  # type: ignore[operator]
        now = time.monotonic()
        if c > 0 and first is None:
            first = now
        if c >= n:
            return first or now, now
        time.sleep(0.002)
    raise TimeoutError(f"only {get()} of {n} messages arrived")  # type: ignore[operator]


def bare_rate(host: str, port: int, n: int, devices: list[str]) -> float:
    count = 0
    lock = threading.Lock()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal count
        with lock:
            count += 1

    c, props = _persistent("bench-bare")
    c.on_connect = lambda cl, *_: cl.subscribe(topics.DEVICE_WILDCARD, qos=1)
    c.connect(host, port, clean_start=False, properties=props)
    c.loop_start()
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    publish_backlog(host, port, n, devices)
    c, props = _persistent("bench-bare")
    c.max_inflight_messages_set(1000)
    c.on_message = on_message
    c.connect(host, port, clean_start=False, properties=props)
    c.loop_start()
    t0, t1 = wait_count(lambda: count, n)
    c.disconnect()
    c.loop_stop()
    return (n - 1) / (t1 - t0)


def collector_rate(host: str, port: int, n: int, devices: list[str], work: Path) -> tuple[float, dict[str, object]]:
    roster = write_roster(work / "roster.toml", devices)
    cfg = config.load(write_config(work / "c.toml", data_dir=work / "data", roster=roster,
                                   mqtt_url=f"mqtt://{host}:{port}",
                                   extra="[ingest]\nmax_rate_per_device = 100000\nburst = 100000\n"))
    rt = Runtime(cfg)
    rt.start()
    time.sleep(0.5)
    rt.stop()
    publish_backlog(host, port, n, devices)
    rt = Runtime(cfg)
    rt.start()
    t0, t1 = wait_count(lambda: rt.ingestor.counters.received, n)
    view = rt.view("ks-test")
    stored_ok = rt.store.flush(60)
    health = rt.health()
    rt.stop()
    info = {"verdict": view.verdict if view else None, "outcomes": health["ingest"]["outcomes"],
            "store_written": health["store"]["written"], "store_drained": stored_ok}
    return (n - 1) / (t1 - t0), info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--devices", type=int, default=200)
    args = p.parse_args()
    devices = [f"bench-{i:04d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mq") as broker:
        bare = bare_rate(broker.host, broker.port, args.messages, devices)
        coll, info = collector_rate(broker.host, broker.port, args.messages, devices, Path(tmp))
    ratio = coll / bare
    print(f"messages={args.messages} devices={args.devices}")
    print(f"bare paho subscriber : {bare:9.0f} msg/s")
    print(f"collector ingest     : {coll:9.0f} msg/s  ({info})")
    print(f"ratio                : {ratio:.2f}  (target >= 0.80: {'PASS' if ratio >= 0.8 else 'FAIL'})")


if __name__ == "__main__":
    main()
