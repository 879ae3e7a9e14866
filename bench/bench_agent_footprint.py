"""What the path probe costs the member's device: CPU, memory and bandwidth at the shipped rate.

Runs the agent's ``PathProber`` (10 probes/s) against the collector's ``Reflector`` on loopback in
this one process for ``--seconds`` and prints the CPU time per second of the prober side (the
reflector's work is included, so this is an upper bound), the resident memory, and the bytes per
second on the wire each way (UDP + IPv4 headers) — all measured in this run. The probes are signed
(issue 11: SSID + HMAC TLV, 64 octets) and the reflector checks them, as the shipped pair does;
``--unsigned`` measures the 44-octet probes of before.

    .venv/bin/python bench/bench_agent_footprint.py [--seconds 30] [--rate-hz 10]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.probes.path import PathProbeConfig, PathProber
from collector.auth.probekeys import ProbeKeys, ssid_for
from collector.peers.reflector import Reflector
from likavillkor import stamp


async def run(seconds: float, rate_hz: float, signed: bool) -> None:
    keys = ProbeKeys(b"s" * 32, ["bench-device"]) if signed else None
    reflector = Reflector(keys=keys)
    await reflector.start("127.0.0.1", 0)
    prober = PathProber(
        PathProbeConfig(host="127.0.0.1", port=reflector.port or 0, rate_hz=rate_hz), auth_required=signed
    )
    if keys is not None:
        prober.set_auth(ssid_for("bench-device"), keys.key_for("bench-device"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, wall0 = time.process_time(), time.monotonic()
    await prober.start()
    await asyncio.sleep(seconds)
    snap = prober.snapshot()
    await prober.stop()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    await reflector.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent = prober.stats.counters["sent"]
    wire_bytes = (stamp.AUTH_SIZE if signed else stamp.BASE_SIZE) + 8 + 20  # payload + UDP + IPv4
    print(f"probes sent            {sent} in {wall:.1f} s ({sent / wall:.1f}/s)")
    print(f"CPU (prober+reflector) {1000 * cpu / wall:.2f} ms per second = {100 * cpu / wall:.2f} % of one core")
    print(f"max RSS                {rss_after / 1024:.1f} MiB (grew {(rss_after - rss_before) / 1024:.2f} MiB)")
    print(f"on the wire            {sent / wall * wire_bytes * 8 / 1000:.2f} kbit/s each way")
    print(f"path                   {snap}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--unsigned", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.rate_hz, not args.unsigned))


if __name__ == "__main__":
    main()
