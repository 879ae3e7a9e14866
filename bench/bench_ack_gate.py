"""What holding each PUBACK until the store has the message costs (collector/mqtt/ackgate.py).

A real Mosquitto (its default ``max_inflight_messages`` 20: at most 20 unacknowledged messages on
their way to the collector) and a real collector (SQLite store). ``--backlog`` QoS 1 samples from
``--devices`` roster devices are published while the collector is stopped (its persistent session
keeps them); then it starts and the time until all are stored is taken - the drain after a
collector restart, the case where acknowledging only after the store commit costs most.

``--old DIR`` runs the same with the collector's source from DIR (e.g. ``git archive`` of the commit
before the gate) in the same run, for a comparison on the same (loaded) machine.

    .venv/bin/python bench/bench_ack_gate.py [--backlog 5000] [--devices 50] [--old /tmp/old-tree]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from likavillkor import topics, wire  # noqa: E402
from tests.faults.harness import MEETING, Collector  # noqa: E402
from tests.support.services import running_mosquitto, stop_pid  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402


def _publish(host: str, port: int, devices: list[str], n: int) -> None:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect(host, port, keepalive=30)
    c.loop_start()
    last = None
    for i in range(n):
        dev = devices[i % len(devices)]
        s = wire.Sample(
            device_id=dev,
            boot_id="bench",
            seq=i // len(devices),
            ts=time.time(),
            meeting_id=MEETING,
            link=wire.LinkType.WIFI,
            rtt_ms=20.0,
            loss_percent=0.0,
            battery_percent=90.0,
            battery_charging=True,
        )
        last = c.publish(topics.device_topic(dev, "sample"), wire.encode(s), qos=1)
    assert last is not None
    last.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


def _stored(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def drain(src: Path, backlog: int, n_devices: int) -> float:
    devices = [f"bench-{i:03d}" for i in range(n_devices)]
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mq") as broker:
        col = Collector(Path(tmp) / "col", broker.url, devices, extra="max_rate_per_device = 100000\nburst = 100000\n")

        def start() -> subprocess.Popen[bytes]:
            with open(col.log, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "collector", "run", "--config", str(col.config)],
                    cwd=src,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            col.proc = proc
            col.wait_up()
            return proc

        stop_pid(start())  # the persistent session exists now
        _publish(broker.host, broker.port, devices, backlog)
        t0 = time.monotonic()
        proc = start()
        try:
            db = Path(col.db_url.removeprefix("sqlite:///"))
            wait_until(lambda: _stored(db) >= backlog, timeout=600, what="backlog stored", log=col.log)
            return time.monotonic() - t0
        finally:
            stop_pid(proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backlog", type=int, default=5000)
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--old", type=Path, default=None, help="the collector's source before the gate")
    a = p.parse_args()
    runs = [("gate", ROOT)] + ([("old", a.old)] if a.old else [])
    for name, src in runs:
        s = drain(src, a.backlog, a.devices)
        print(f"{name}: {a.backlog} samples drained and stored in {s:.2f} s ({a.backlog / s:.0f} msg/s, from start)")


if __name__ == "__main__":
    main()
