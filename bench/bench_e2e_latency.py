"""End-to-end latency through real processes (collector with its private Mosquitto, SQLite).

1. sample -> API: a device publishes a sample with a distinctive rtt_ms; time until
   GET /api/meetings/{id} shows it (median and p95 over --samples).
2. silence -> verdict: the real agent is SIGKILLed; time until the API shows the member ``lost``
   and the meeting ``adjourn``, compared with the configured silence limit (H15).

    .venv/bin/python bench/bench_e2e_latency.py [--samples 50] [--kills 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from likavillkor import topics, wire  # noqa: E402
from tests.e2e.test_collector_process import _HEADERS, SILENCE_S, collector, device  # noqa: E402


def _view(base: str) -> Any:
    return httpx.get(f"{base}/api/meetings/ks-test", headers=_HEADERS, timeout=2).json()


def sample_to_api(base: str, broker_port: int, n: int) -> list[float]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-e2e", protocol=paho.MQTTv5)
    c.connect("127.0.0.1", broker_port)
    c.loop_start()
    out = []
    for i in range(n):
        rtt = 100.0 + i
        s = wire.Sample(device_id="dev-b", boot_id="bench", seq=i, ts=time.time(), meeting_id="ks-test",
                        link=wire.LinkType.WIFI, rtt_ms=rtt)
        t0 = time.perf_counter()
        c.publish(topics.device_topic("dev-b", "sample"), wire.encode(s), qos=1)
        while True:
            p = next(p for p in _view(base)["participants"] if p["device_id"] == "dev-b")
            if p["rtt_ms"] == rtt:
                out.append(time.perf_counter() - t0)
                break
            if time.perf_counter() - t0 > 10:
                raise TimeoutError("sample never showed")
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return out


def kill_to_verdict(base: str, broker_port: int, tmp: Path, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with device(broker_port, "dev-a", tmp, base) as proc:
            deadline = time.monotonic() + 20
            while next(p for p in _view(base)["participants"] if p["device_id"] == "dev-a")["state"] != "ok":
                if time.monotonic() > deadline:
                    raise TimeoutError("agent never ok")
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            while True:
                v = _view(base)
                a = next(p for p in v["participants"] if p["device_id"] == "dev-a")
                if a["state"] == "lost" and v["verdict"] == "adjourn":
                    out.append(time.monotonic() - t0)
                    break
                time.sleep(0.02)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--kills", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, collector(Path(tmp), devices=("dev-a", "dev-b")) as base:
        port = int(httpx.get(f"{base}/api/health", headers=_HEADERS, timeout=2).json()["broker"]["url"]
                   .rsplit(":", 1)[1])
        lat = sample_to_api(base, port, args.samples)
        kills = kill_to_verdict(base, port, Path(tmp), args.kills)
    lat_ms = sorted(x * 1000 for x in lat)
    print(f"sample -> API   : median {statistics.median(lat_ms):.1f} ms, "
          f"p95 {lat_ms[int(0.95 * (len(lat_ms) - 1))]:.1f} ms, max {lat_ms[-1]:.1f} ms (n={len(lat_ms)})")
    print(f"kill -> lost+adjourn: {', '.join(f'{k:.2f}' for k in kills)} s "
          f"(silence limit {SILENCE_S} s; required <= {SILENCE_S + 1.0} s: "
          f"{'PASS' if max(kills) <= SILENCE_S + 1.0 else 'FAIL'})")


if __name__ == "__main__":
    main()
