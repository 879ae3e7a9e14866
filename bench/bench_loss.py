"""Path-probe loss accuracy against injected random loss: 5 % and 20 % for 60 s each (root needed).

The collector's STAMP reflector runs in a network namespace; an nftables rule there drops the
given share of the packets leaving it (``numgen random mod 100 < N drop``). The agent's path
prober runs at its shipped rate (10 probes/s) in the root namespace. Prints the injected and
measured loss, the difference in percentage points, and the binomial standard deviation expected
from the number of probes — all from this one run.

    sudo .venv/bin/python bench/bench_loss.py [--seconds 60] [--rate-hz 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.probes.path import PathProbeConfig, PathProber
from tests.support.netns import NetNs


async def probe(host: str, seconds: float, rate_hz: float) -> tuple[dict[str, object], int]:
    cfg = PathProbeConfig(host=host, rate_hz=rate_hz, window_s=seconds + 5, timeout_ms=1000)
    prober = PathProber(cfg)
    await prober.start()
    await asyncio.sleep(seconds)
    await prober.stop()
    await asyncio.sleep(1.1)
    return prober.snapshot(), prober.stats.counters["sent"]


def measure(percent: int, seconds: float, rate_hz: float) -> None:
    with NetNs() as ns:
        proc = ns.popen([sys.executable, "-m", "collector.reflector", "--host", ns.ns_ip, "--port", "8862"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        proc.stdout.readline()
        ns.loss(percent)
        snap, sent = asyncio.run(probe(ns.ns_ip, seconds, rate_hz))
    measured = float(snap["loss_percent"])  # type: ignore[arg-type]
    sd = 100 * math.sqrt(percent / 100 * (1 - percent / 100) / sent)
    print(f"{percent:8d} % {measured:9.2f} % {measured - percent:+8.2f} pp {sd:8.2f} pp {sent:7d} "
          f"{snap['rtt_ms']!s:>8} {snap['mos']!s:>6}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--loss", type=int, nargs="*", default=[5, 20])
    args = parser.parse_args()
    print(f"{'injected':>10} {'measured':>10} {'diff':>11} {'exp. sd':>11} {'probes':>7} {'rtt_ms':>8} {'mos':>6}")
    for percent in args.loss:
        measure(percent, args.seconds, args.rate_hz)


if __name__ == "__main__":
    main()
