"""Ingest throughput: the collector's MQTT path vs a bare paho subscriber on the same broker.

Both drain the same backlog: N samples from D devices, queued by a real Mosquitto for a
persistent session (QoS 1) while the subscriber is away. The bare subscriber only counts; the
collector decodes, checks (topic, roster, rate limit), runs the engine (verdicts kept current:
every sample goes through engine.ingest, ticks keep running), and queues rows for SQLite.

    .venv/bin/python bench/bench_ingest.py [--messages 20000] [--devices 200]

Prints both rates and the ratio (target >= 0.8).

Measured on the shared 2-core build machine (2026-11-27, 30,000 samples, 50 devices, several runs,
other engineers' tests running): bare paho 22-28k msg/s; collector 10-15k msg/s; ratio 0.45-0.65
(both modes alike, "thread" not better). NOT the 0.8 target. With the engine call stubbed out the
ratio is about 1.0 and without the database about 0.6: the engine's per-sample work (debounce and
reasons, ~6-10 us) plus the GIL shared with paho's own ~37 us per message is what is left.
The real load is about one sample a second per remote member, far below either rate.
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
from likavillkor import topics  # noqa: E402
from tests.collector.helpers import publish_backlog, wait_count, write_config, write_roster  # noqa: E402
from tests.support.services import running_mosquitto  # noqa: E402


def _persistent(client_id: str) -> tuple[paho.Client, Properties]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    return c, props


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


def collector_rate(host: str, port: int, n: int, devices: list[str], work: Path,
                   mode: str = "inline") -> tuple[float, dict[str, object]]:
    roster = write_roster(work / "roster.toml", devices)
    cfg = config.load(write_config(work / "c.toml", data_dir=work / "data", roster=roster,
                                   mqtt_url=f"mqtt://{host}:{port}",
                                   extra=f'[ingest]\nmax_rate_per_device = 100000\nburst = 100000\nmode = "{mode}"\n'))
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
    p.add_argument("--messages", type=int, default=30_000)
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--mode", choices=("inline", "thread"), default="inline",
                   help="inline: engine in the MQTT callback; thread: callback queues, one engine thread")
    args = p.parse_args()
    devices = [f"bench-{i:04d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mq") as broker:
        bare = bare_rate(broker.host, broker.port, args.messages, devices)
        coll, info = collector_rate(broker.host, broker.port, args.messages, devices, Path(tmp), args.mode)
    ratio = coll / bare
    print(f"messages={args.messages} devices={args.devices} mode={args.mode}")
    print(f"bare paho subscriber : {bare:9.0f} msg/s")
    print(f"collector ingest     : {coll:9.0f} msg/s  ({info})")
    print(f"ratio                : {ratio:.2f}  (target >= 0.80: {'PASS' if ratio >= 0.8 else 'FAIL'})")


if __name__ == "__main__":
    main()
