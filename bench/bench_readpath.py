"""The lean MQTT read path (collector/mqtt/readpath.py) against stock paho, over plain TCP and TLS.

Issue 13: keep the paho subclass only if it earns its place at the real load. Both clients run inside
the collector's own ``MqttClient`` (the seam: ``client_class``), each in a process of its own, against
one real Mosquitto with a plain and a TLS listener (a throw-away CA from tests/deploy/pki.py):

* steady load: one sample per member per second, for ``--members`` (default 100, one big council
  meeting, and 5,000, every device of a large deployment at once), published at that rate by a
  separate publisher process; measured: the subscriber process's CPU per message and its share of a
  core, over ``--seconds``;
* backlog drain: ``--backlog`` samples queued for the persistent session while the subscriber was
  away (after a broker or collector restart), drained as fast as the client can; measured: msg/s.

    .venv/bin/python bench/bench_readpath.py [--seconds 10] [--backlog 30000]

Prints one line per (transport, load, client) and the lean/stock ratios of that one run. CPU per
message is the process's CPU time (all threads) over the messages received, so it is fair on a loaded
machine; the drain rate is not (it is wall-clock), so compare the two clients of the same run only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from likavillkor import topics, wire  # noqa: E402
from tests.support.services import free_port, require_binary, running_mosquitto_with_conf  # noqa: E402


@dataclass(frozen=True)
class Broker:
    plain: int
    tls: int
    ca: str

    def url(self, tls: bool) -> str:
        return f"mqtts://localhost:{self.tls}" if tls else f"mqtt://127.0.0.1:{self.plain}"


def _payload(device: str, seq: int) -> bytes:
    s = wire.Sample(
        device_id=device,
        boot_id="bench",
        seq=seq,
        ts=time.time(),
        meeting_id="ks-bench",
        link=wire.LinkType.WIFI,
        rtt_ms=21.0,
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
    return wire.encode(s)


def _subscriber(lean: bool, url: str, ca: str, client_id: str, conn: Connection) -> None:
    """Child process: the collector's MqttClient with the chosen class, a callback that only counts.
    Commands from the parent: ("window", seconds) -> (messages, cpu_s, wall_s); ("drain", n) after a
    reconnect -> (n, cpu_s, wall_s); ("stop",)."""
    from collector.mqtt import readpath
    from collector.mqtt.client import MqttClient

    cls = readpath.client_class(lean=lean)
    assert (cls is readpath.LeanClient) == lean, "the lean client is off in this paho version"
    count = 0

    def on_message(_t: str, _p: bytes) -> None:
        nonlocal count
        count += 1

    def client() -> MqttClient:
        c = MqttClient(
            url,
            client_id=client_id,
            on_message=on_message,
            on_connection=lambda _c: None,
            ca_file=ca,
            session_expiry_s=3600,
            client_class=cls,
        )
        c.start()
        deadline = time.monotonic() + 30
        while not c.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # SUBACK
        return c

    c = client()
    conn.send("ready")
    while True:
        cmd = conn.recv()
        if cmd[0] == "window":
            n0, cpu0, t0 = count, time.process_time(), time.monotonic()
            time.sleep(cmd[1])
            conn.send((count - n0, time.process_time() - cpu0, time.monotonic() - t0))
        elif cmd[0] == "away":
            c.stop()
            conn.send("away")
        elif cmd[0] == "drain":
            count = 0
            cpu0, t0 = time.process_time(), time.monotonic()
            c = client()
            deadline = t0 + 600
            while count < cmd[1] and time.monotonic() < deadline:
                time.sleep(0.002)
            conn.send((count, time.process_time() - cpu0, time.monotonic() - t0))
        else:
            c.stop()
            return


def _publisher(port: int, members: int, seconds: float, stop: threading.Event) -> None:
    """One sample per member per second, in 10 ms slices, QoS 1 as the agents publish. The publishing
    is done by ``mosquitto_pub -l`` processes (C, one per 1,000 members) fed lines through pipes, so a
    loaded machine's Python publisher does not cap the rate below the real load."""
    binary = require_binary("mosquitto_pub", "/usr/bin/mosquitto_pub")
    n_pubs = max(1, members // 1000)
    pubs = []
    for k in range(n_pubs):
        topic = topics.device_topic(f"bench-{k:05d}", "sample")
        pubs.append(
            subprocess.Popen(
                [
                    binary,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-V",
                    "mqttv5",
                    "-q",
                    "1",
                    "-i",
                    f"bench-pub-{members}-{k}",
                    "-t",
                    topic,
                    "-l",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
            )
        )
    line = _payload("bench-00000", 0) + b"\n"
    t0 = time.monotonic()
    sent = 0
    try:
        while not stop.is_set() and time.monotonic() - t0 < seconds:
            due = int((time.monotonic() - t0) * members)
            if due > sent:
                for k, pub in enumerate(pubs):
                    share = (due - sent) // n_pubs + (1 if k < (due - sent) % n_pubs else 0)
                    assert pub.stdin is not None
                    pub.stdin.write(line * share)
                    pub.stdin.flush()
                sent = due
            time.sleep(0.01)
    finally:
        for pub in pubs:
            assert pub.stdin is not None
            pub.stdin.close()
            try:
                pub.wait(10)
            except subprocess.TimeoutExpired:
                pub.kill()
                pub.wait(5)


def _backlog(port: int, n: int) -> None:
    p = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-backlog", protocol=paho.MQTTv5)
    p.max_inflight_messages_set(5000)
    p.connect("127.0.0.1", port)
    p.loop_start()
    body = _payload("bench-00000", 0)
    last = None
    for i in range(n):
        last = p.publish(topics.device_topic(f"bench-{i % 5000:05d}", "sample"), body, qos=1)
    assert last is not None
    last.wait_for_publish(120)
    p.disconnect()
    p.loop_stop()


def run_variant(
    broker: Broker, lean: bool, tls: bool, loads: list[int], seconds: float, backlog: int
) -> dict[str, tuple[float, ...]]:
    """-> {"steady-<members>": (cpu µs per message, % of a core, msg/s received),
    "drain": (msg/s, cpu µs per message)}."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    name = f"bench-{'lean' if lean else 'stock'}-{'tls' if tls else 'tcp'}"
    proc = ctx.Process(target=_subscriber, args=(lean, broker.url(tls), broker.ca, name, child))
    proc.start()
    out: dict[str, tuple[float, ...]] = {}
    try:
        assert parent.poll(60) and parent.recv() == "ready"
        for members in loads:
            stop = threading.Event()
            pub = threading.Thread(target=_publisher, args=(broker.plain, members, seconds + 3, stop))
            pub.start()
            time.sleep(1.5)  # warm-up: the publisher reaches its rate
            parent.send(("window", seconds))
            assert parent.poll(seconds + 60)
            msgs, cpu, wall = parent.recv()
            stop.set()
            pub.join()
            time.sleep(1.0)  # the tail of the publisher drains
            out[f"steady-{members}"] = (cpu / max(msgs, 1) * 1e6, cpu / wall * 100, msgs / wall)
        parent.send(("away",))
        assert parent.poll(30) and parent.recv() == "away"
        _backlog(broker.plain, backlog)
        parent.send(("drain", backlog))
        assert parent.poll(700)
        msgs, cpu, wall = parent.recv()
        out["drain"] = (msgs / wall, cpu / max(msgs, 1) * 1e6)
        parent.send(("stop",))
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    return out


def _broker_conf(workdir: Path, plain: int, tls: int) -> str:
    from tests.deploy.pki import make_pki

    pki = make_pki(workdir / "pki")
    return (
        f"listener {plain} 127.0.0.1\nlistener {tls} 127.0.0.1\n"
        f"cafile {pki.ca_cert}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "allow_anonymous true\nmax_queued_messages 200000\nmax_inflight_messages 1000\n"
        "log_dest stderr\nlog_type error\n" + ("user root\n" if os.geteuid() == 0 else "")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--loads", type=int, nargs="+", default=[100, 5000], help="members, one sample/s each")
    p.add_argument("--backlog", type=int, default=30_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, tls_port = free_port(), free_port()
        conf = _broker_conf(Path(tmp), plain, tls_port)
        with running_mosquitto_with_conf(Path(tmp) / "mq", conf, tls_port):
            broker = Broker(plain, tls_port, str(Path(tmp) / "pki" / "ca.crt"))
            results = {
                (tls, lean): run_variant(broker, lean, tls, args.loads, args.seconds, args.backlog)
                for tls in (False, True)
                for lean in (False, True)
            }
    print(f"paho-mqtt {paho_version}, {args.seconds:.0f} s windows, backlog {args.backlog}")
    for tls in (False, True):
        stock, lean = results[(tls, False)], results[(tls, True)]
        transport = "TLS" if tls else "TCP"
        for key in stock:
            a, b = stock[key], lean[key]
            if key == "drain":
                print(
                    f"{transport} drain           : stock {a[0]:8.0f} msg/s ({a[1]:5.1f} µs/msg)  "
                    f"lean {b[0]:8.0f} msg/s ({b[1]:5.1f} µs/msg)  lean/stock rate {b[0] / a[0]:.2f}"
                )
            else:
                print(
                    f"{transport} {key:<15} : stock {a[0]:5.1f} µs/msg {a[1]:5.1f}% core ({a[2]:5.0f} msg/s)  "
                    f"lean {b[0]:5.1f} µs/msg {b[1]:5.1f}% core ({b[2]:5.0f} msg/s)  lean/stock CPU {b[0] / a[0]:.2f}"
                )


if __name__ == "__main__":
    main()
