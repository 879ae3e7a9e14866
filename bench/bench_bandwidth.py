"""Speed-test accuracy through an injected bottleneck: tc tbf at 2, 5 and 20 Mbit/s (root needed).

The collector's speed-test server runs in a network namespace; the agent's bounded speed test
(speedtest-cli 2.1.3 with the configuration this project supplies) runs in the root namespace.
Both directions of the veth are shaped. Prints, for each rate, the measured download and upload
and their error against the injected rate, plus the bytes used — all from this one run.

    sudo .venv/bin/python bench/bench_bandwidth.py [--seconds 6]

Note: tbf counts whole Ethernet frames, the speed test counts HTTP payload, so a perfect
measurement reads about 4 % under the injected rate (1448 payload octets per 1514-octet frame).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.probes.bandwidth import SpeedtestConfig, run_speedtest
from likavillkor.wire import LinkType
from tests.support.netns import NetNs
from tests.support.services import wait_port


def measure(rate_mbit: float, seconds: float) -> None:
    with NetNs() as ns:
        ns.popen(
            [sys.executable, "-m", "collector.peers.speedtest", "--host", ns.ns_ip, "--port", "8080"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(ns.ns_ip, 8080)
        ns.shape(rate_mbit)
        cfg = SpeedtestConfig(download_s=seconds, upload_s=seconds, deadline_s=4 * seconds + 20)
        r = asyncio.run(run_speedtest(cfg, f"http://{ns.ns_ip}:8080", link=LinkType.ETHERNET))
    if r.down_mbps is None or r.up_mbps is None:
        print(f"{rate_mbit:6.1f}  failed: {r.outcome} {r.error}")
        return
    down_err = 100 * (r.down_mbps - rate_mbit) / rate_mbit
    up_err = 100 * (r.up_mbps - rate_mbit) / rate_mbit
    print(
        f"{rate_mbit:8.1f} {r.down_mbps:10.2f} {down_err:+8.1f} % {r.up_mbps:10.2f} {up_err:+8.1f} % "
        f"{r.bytes_used / 1e6:8.2f} MB {r.duration_s:6.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="download and upload time each")
    parser.add_argument("--rates", type=float, nargs="*", default=[2.0, 5.0, 20.0])
    args = parser.parse_args()
    print(f"{'injected':>8} {'down':>10} {'error':>10} {'up':>10} {'error':>10} {'used':>11} {'time':>8}")
    print(f"{'Mbit/s':>8} {'Mbit/s':>10} {'':>10} {'Mbit/s':>10}")
    for rate in args.rates:
        measure(rate, args.seconds)


if __name__ == "__main__":
    main()
