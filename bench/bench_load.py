"""Load: N simulated devices at 1 sample/s against a real collector process and Mosquitto (issue 8).

    .venv/bin/python bench/bench_load.py                       # 5,000 devices, 600 s (the long form)
    .venv/bin/python bench/bench_load.py --devices 1000 --duration 60

- ``--publishers`` processes (default 2) each publish for a slice of the devices through one paho
  connection (QoS 1, like the agent), spread evenly over each second; the roster (meetings of
  ``--meeting-size`` remote participants) is generated.
- Sample-to-verdict latency: ``--watch`` extra devices (default 10, in a meeting of their own) are
  published from this process with a distinctive ``rtt_ms``; the meeting view (``GET
  /api/meetings/{id}``: verdict and participants computed from the samples) is polled every
  ``--poll-ms`` (default 50 ms); latency = first poll showing the value - its publish time, so it
  includes up to one poll period.
- The collector's resident memory (VmRSS) at start (up, before load), after the first minute and
  at the end; its CPU time; ingest and store counters; verdicts at the end (false alarms under load).

Traffic stays on loopback. Everything is stopped by PID.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.auth import local_headers  # noqa: E402
from likavillkor import topics, wire  # noqa: E402
from tests.support.collector import write_config  # noqa: E402
from tests.support.roster import iso  # noqa: E402
from tests.support.services import free_port, running_mosquitto, stop_pid  # noqa: E402

WATCH_MEETING = "watch"


def write_roster(path: Path, n: int, size: int, watch: int) -> list[str]:
    """Meetings load-0.. of ``size`` participants plus the watched meeting; returns the load devices."""
    start, end = time.time() - 1800, time.time() + 6 * 3600
    devices = [f"sim-{i:05d}" for i in range(n)]
    out: list[str] = []
    groups = [(f"load-{g}", devices[g * size : (g + 1) * size]) for g in range((n + size - 1) // size)]
    groups.append((WATCH_MEETING, [f"watch-{i:02d}" for i in range(watch)]))
    for mid, devs in groups:
        out += [
            "[[meeting]]",
            f'id = "{mid}"',
            'body = "kommunstyrelsen"',
            f"start = {iso(start)}",
            f"end = {iso(end)}",
            'room = "Sessionssalen"',
            "",
        ]
        for d in devs:
            out += ["[[meeting.participant]]", f'name = "{d}"', f'member_id = "m-{d}"', f'device_id = "{d}"', ""]
    path.write_text("\n".join(out), encoding="utf-8")
    return devices


def make_sample(device: str, seq: int, meeting: str, rtt_ms: float) -> bytes:
    return wire.encode(
        wire.Sample(
            device_id=device,
            boot_id="load",
            seq=seq,
            ts=time.time(),
            meeting_id=meeting,
            link=wire.LinkType.WIFI,
            rtt_ms=rtt_ms,
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
    )


def publisher(
    port: int, devices: list[str], size: int, first: int, rate: float, t0: float, t_end: float, out: Any
) -> None:
    """One process: every device once per 1/rate s, spread evenly; reports sent and worst lag."""
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"load-{os.getpid()}", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(2000)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    n = len(devices)
    topics_ = [topics.device_topic(d, "sample") for d in devices]
    meetings = [f"load-{(first + i) // size}" for i in range(n)]
    sent, worst_lag = 0, 0
    while True:
        now = time.time()
        if now >= t_end:
            break
        due = int((now - t0) * rate * n)
        worst_lag = max(worst_lag, due - sent)
        while sent < due:
            i = sent % n
            c.publish(topics_[i], make_sample(devices[i], sent // n, meetings[i], 20.0 + (sent // n) % 7), qos=1)
            sent += 1
        time.sleep(0.01)
    c.disconnect()
    c.loop_stop()
    out.put((sent, worst_lag))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watcher:
    """Publishes the watched devices (1/s each, distinctive rtt_ms) and polls their meeting view."""

    def __init__(self, base: str, headers: dict[str, str], port: int, n: int, poll_s: float) -> None:
        self.base, self.headers, self.poll_s = base, headers, poll_s
        self.devices = [f"watch-{i:02d}" for i in range(n)]
        self.sent: dict[tuple[str, float], float] = {}
        self.latencies: list[float] = []
        self.missed = 0
        self._stop = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="load-watch", protocol=paho.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish_loop(self) -> None:
        k = 0
        while not self._stop.is_set():
            for i, d in enumerate(self.devices):
                rtt = 30.0 + (k * len(self.devices) + i) % 4000 / 100  # 30.00 .. 69.99 ms, unique for a while
                self.sent[(d, rtt)] = time.time()
                self.client.publish(topics.device_topic(d, "sample"), make_sample(d, k, WATCH_MEETING, rtt), qos=1)
                if self._stop.wait(1.0 / len(self.devices)):
                    return
            k += 1

    def poll_loop(self) -> None:
        seen: dict[str, float | None] = {}
        with httpx.Client(headers=self.headers, timeout=5) as http:
            while not self._stop.is_set():
                try:
                    view = http.get(f"{self.base}/api/meetings/{WATCH_MEETING}").json()
                except (httpx.HTTPError, ValueError):
                    self.missed += 1
                    time.sleep(self.poll_s)
                    continue
                now = time.time()
                for p in view["participants"]:
                    rtt = p["rtt_ms"]
                    if rtt is not None and seen.get(p["device_id"]) != rtt:
                        seen[p["device_id"]] = rtt
                        t = self.sent.pop((p["device_id"], rtt), None)
                        if t is not None:
                            self.latencies.append(now - t)
                time.sleep(self.poll_s)

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.publish_loop, daemon=True),
            threading.Thread(target=self.poll_loop, daemon=True),
        ]
        for t in threads:
            t.start()
        return threads

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    ap.add_argument("--rate", type=float, default=1.0, help="samples per second per device")
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--meeting-size", type=int, default=100)
    ap.add_argument("--watch", type=int, default=10)
    ap.add_argument("--poll-ms", type=float, default=50.0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-load-"))
    with running_mosquitto(tmp / "mosquitto") as broker:
        devices = write_roster(tmp / "roster.toml", args.devices, args.meeting_size, args.watch)
        port = free_port()
        cfg = write_config(
            tmp / "collector.toml",
            data_dir=tmp / "data",
            roster=tmp / "roster.toml",
            mqtt_url=broker.url,
            http_port=port,
        )
        log = open(tmp / "collector.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(cfg)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            headers = local_headers(tmp / "data")
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/health", headers=headers, timeout=2).json()["broker"]["connected"]:
                        break
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"collector did not come up: see {tmp / 'collector.log'}")
                time.sleep(0.2)
            time.sleep(2.0)
            rss_start, cpu_start = rss_mb(proc.pid), cpu_s(proc.pid)
            t0 = time.time() + 1.0
            t_end = t0 + args.duration
            q: Any = mp.get_context("fork").Queue()
            per = (len(devices) + args.publishers - 1) // args.publishers
            procs = [
                mp.get_context("fork").Process(
                    target=publisher,
                    args=(
                        broker.port,
                        devices[k * per : (k + 1) * per],
                        args.meeting_size,
                        k * per,
                        args.rate,
                        t0,
                        t_end,
                        q,
                    ),
                )
                for k in range(args.publishers)
            ]
            for p in procs:
                p.start()
            watcher = Watcher(base, headers, broker.port, args.watch, args.poll_ms / 1000)
            watcher.start()
            rss_trace: list[tuple[float, float]] = []
            while time.time() < t_end:
                time.sleep(min(10.0, max(0.1, t_end - time.time())))
                rss_trace.append((time.time() - t0, rss_mb(proc.pid)))
                print(
                    f"  t={rss_trace[-1][0]:6.0f} s  collector RSS {rss_trace[-1][1]:7.1f} MB  "
                    f"latency samples {len(watcher.latencies)}",
                    flush=True,
                )
            watcher.stop()
            results = [q.get(timeout=60) for _ in procs]
            for p in procs:
                p.join(30)
            time.sleep(3.0)  # let the collector drain
            health = httpx.get(f"{base}/api/health", headers=headers, timeout=10).json()
            rss_end, cpu_end = rss_mb(proc.pid), cpu_s(proc.pid)
        finally:
            stop_pid(proc, timeout=30)
            log.close()
    db = sqlite3.connect(tmp / "data" / "likavillkor.db")
    stored = db.execute("SELECT COUNT(*) FROM samples WHERE device_id LIKE 'sim-%'").fetchone()[0]
    db.close()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    sent = sum(r[0] for r in results)
    lat = [x * 1000 for x in watcher.latencies]
    ingest = health["ingest"]
    verdicts: dict[str, int] = {}
    for m in health["meetings"]:
        verdicts[m["verdict"]] = verdicts.get(m["verdict"], 0) + 1
    first_min = next((r for t, r in rss_trace if t >= 60), rss_trace[-1][1] if rss_trace else float("nan"))
    print(
        f"\nbench_load: {args.devices} devices x {args.rate:g} sample/s for {args.duration:g} s, "
        f"{args.publishers} publisher processes, meetings of {args.meeting_size}"
    )
    print(
        f"  published {sent} samples ({sent / args.duration:.0f}/s), worst publisher lag "
        f"{max(r[1] for r in results)} samples"
    )
    print(
        f"  collector received {ingest['received']}, outcomes {ingest['outcomes']}, "
        f"rejected {sum(ingest['rejected'].values())} {dict((k, v) for k, v in ingest['rejected'].items() if v)}"
    )
    print(
        f"  store written {health['store']['written']}, dropped {health['store']['dropped']}, "
        f"queued {health['store']['queued']}"
    )
    print(
        f"  sample-to-verdict latency (view polled every {args.poll_ms:g} ms, {len(lat)} samples): "
        f"p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, max {max(lat, default=float('nan')):.0f} ms; "
        f"mean {statistics.fmean(lat) if lat else float('nan'):.0f} ms"
    )
    print(
        f"  collector RSS: start {rss_start:.1f} MB, after 60 s {first_min:.1f} MB, end {rss_end:.1f} MB, "
        f"max {max((r for _, r in rss_trace), default=float('nan')):.1f} MB"
    )
    print(
        f"  collector CPU: {cpu_end - cpu_start:.1f} s over {args.duration:g} s "
        f"= {100 * (cpu_end - cpu_start) / args.duration:.0f} % of one core (machine: {os.cpu_count()} cores)"
    )
    print(f"  verdicts at the end: {verdicts}")
    print(
        f"  stored/published load samples: {stored}/{sent} = {stored / max(1, sent):.4f}"
        + (f"; data kept in {tmp}" if args.keep else "")
    )


if __name__ == "__main__":
    main()
