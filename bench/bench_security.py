"""Issue 12: what an attacker's requests cost the collector (a real collector process, real Mosquitto).

1. sign-in flood: ``--signins`` failed sign-ins at once (argon2id each) while a plain page
   (``GET /login``) is asked for every 50 ms; its latency (median, max) during the flood.
2. body flood: ``--bodies`` chunked POSTs of ``--body-mib`` MiB each without credentials to
   ``/api/meetings/{id}/actions``; the collector's RSS before and after, and how many bytes each
   client could send before the answer.

    PYTHONPATH=. .venv/bin/python bench/bench_security.py [--signins 48] [--bodies 4] [--body-mib 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.support.services import running_mosquitto
from tests.web.conftest import make_collector
from tests.web.security_support import chunked_post, rss_bytes


def signin_flood(base: str, n: int) -> dict[str, float]:
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            httpx.get(f"{base}/login", timeout=60)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.05)

    def fail(i: int) -> None:
        httpx.post(f"{base}/login", data={"username": f"nobody-{i}", "password": "wrong password!"}, timeout=120)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.5)
    base_line = list(latencies)
    flood = [threading.Thread(target=fail, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in flood:
        t.start()
    for t in flood:
        t.join()
    took = time.monotonic() - t0
    stop.set()
    prober.join()
    during = latencies[len(base_line) :]
    return {
        "flood_s": took,
        "page_median_ms": statistics.median(during) * 1000,
        "page_max_ms": max(during) * 1000,
        "idle_median_ms": statistics.median(base_line) * 1000,
    }


def body_flood(base: str, pid: int, n: int, mib: int) -> dict[str, float]:
    before = rss_bytes(pid)
    sent: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: sent.append(chunked_post(base, "/api/meetings/ks-test/actions", mib * 1024 * 1024).sent)
        )
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "rss_before_mib": before / 2**20,
        "rss_after_mib": rss_bytes(pid) / 2**20,
        "max_sent_mib": max(sent) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--signins", type=int, default=48)
    ap.add_argument("--bodies", type=int, default=4)
    ap.add_argument("--body-mib", type=int, default=300)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-security-"))
    with running_mosquitto(work / "mosquitto") as broker:
        c = make_collector(work / "collector", broker)
        c.start()
        try:
            assert c.proc is not None
            print("sign-in flood:", {k: round(v, 1) for k, v in signin_flood(c.base, args.signins).items()})
            print(
                "body flood:",
                {k: round(v, 1) for k, v in body_flood(c.base, c.proc.pid, args.bodies, args.body_mib).items()},
            )
        finally:
            c.stop()


if __name__ == "__main__":
    main()
