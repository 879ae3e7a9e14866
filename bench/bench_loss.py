"""Path-probe loss accuracy against injected random loss: 5 % and 20 % for 60 s each (root needed).

The collector's STAMP reflector runs in a network namespace; an nftables rule there drops the
given share of the packets leaving it (``numgen random mod 100 < N drop``). The agent's path
prober runs at its shipped rate (10 probes/s) in the root namespace. Prints the injected and
measured loss, the difference in percentage points, and the binomial standard deviation expected
from the number of probes — all from this one run.

    sudo .venv/bin/python bench/bench_loss.py [--seconds 60] [--rate-hz 10]
    sudo .venv/bin/python bench/bench_loss.py --detect [--runs 5] [--loss 20]

``--detect`` (issue 11): the whole chain with real processes on the shipped policy: a real agent
(signed probes, 1 s samples) in the namespace, the collector (its reflector) and Mosquitto outside;
nftables drops ``--loss`` % of everything the namespace sends. Prints the time from the start of
the loss to the participant ``failing``, and from its end back to ``ok``, per run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
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
        proc = ns.popen(
            [sys.executable, "-m", "collector.peers.reflector", "--host", ns.ns_ip, "--port", "8862"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        ns.loss(percent)
        snap, sent = asyncio.run(probe(ns.ns_ip, seconds, rate_hz))
    measured = float(snap["loss_percent"])  # type: ignore[arg-type]
    sd = 100 * math.sqrt(percent / 100 * (1 - percent / 100) / sent)
    print(
        f"{percent:8d} % {measured:9.2f} % {measured - percent:+8.2f} pp {sd:8.2f} pp {sent:7d} "
        f"{snap['rtt_ms']!s:>8} {snap['mos']!s:>6}"
    )


def detect(runs: int, percent: int) -> None:
    import socket
    import tempfile
    import time

    from tests.faults.harness import Agent, Collector, broker_for, default_route
    from tests.support.services import free_port
    from tests.support.waiting import wait_until

    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-lossdetect-"))
    to_failing: list[float] = []
    to_ok: list[float] = []
    with NetNs() as ns, broker_for(ns, tmp / "mosquitto") as broker:
        default_route(ns)
        rport = free_port(kind=socket.SOCK_DGRAM)
        col = Collector(tmp / "collector", broker.url, ["dev-loss"], silence_s=5.0, reflector_port=rport)
        agent = Agent(ns, "dev-loss", broker.port, tmp, period_s=1.0, collector_port=col.port, reflector_port=rport)
        col.start()
        try:
            agent.start()
            for run in range(runs):
                wait_until(
                    lambda: col.state_is("dev-loss", "ok") and col.participant("dev-loss")["loss_percent"] == 0.0,
                    timeout=120,
                    what=f"run {run}: ok with a clean probe window",
                    log=agent.log,
                    detail=col.view,
                )
                ns.loss(percent)
                began = time.monotonic()
                wait_until(
                    lambda: col.state_is("dev-loss", "failing"),
                    timeout=120,
                    what=f"run {run}: failing",
                    detail=col.view,
                )
                to_failing.append(time.monotonic() - began)
                ns.clear_loss()
                ended = time.monotonic()
                story: list[tuple[float, str, str]] = []  # what kept her from ok: (s, state, reasons)

                def back_ok(story: list[tuple[float, str, str]] = story, ended: float = ended) -> bool:
                    p = col.participant("dev-loss")
                    seen = (p["state"], ",".join(r["code"] for r in p.get("reasons") or []))
                    if not story or story[-1][1:] != seen:
                        story.append((time.monotonic() - ended, *seen))
                    return bool(p["state"] == "ok")

                wait_until(back_ok, timeout=120, what=f"run {run}: ok again", detail=col.view)
                to_ok.append(time.monotonic() - ended)
                if to_ok[-1] > 12:
                    print(
                        "    on the way back: " + "; ".join(f"{t:.1f} s {st} {why}" for t, st, why in story), flush=True
                    )
                print(
                    f"  run {run + 1}: failing after {to_failing[-1]:.2f} s, ok {to_ok[-1]:.2f} s after the loss ended",
                    flush=True,
                )
        finally:
            agent.stop()
            col.stop()
    print(
        f"\nbench_loss --detect: {percent} % random loss, {runs} runs, shipped policy and agent (loss fail > 10 %, "
        "the agent's sequential loss test, clear when none of 10 samples cross)"
    )
    for name, xs in (("loss start -> failing", to_failing), ("loss end -> ok", to_ok)):
        print(f"  {name:22} min {min(xs):.2f} s, p50 {statistics.median(xs):.2f} s, max {max(xs):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--detect", action="store_true", help="time to failing and back (real processes)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--loss", type=int, nargs="*", default=[5, 20])
    args = parser.parse_args()
    if args.detect:
        detect(args.runs, args.loss[-1] if args.loss != [5, 20] else 20)
        return
    print(f"{'injected':>10} {'measured':>10} {'diff':>11} {'exp. sd':>11} {'probes':>7} {'rtt_ms':>8} {'mos':>6}")
    for percent in args.loss:
        measure(percent, args.seconds, args.rate_hz)


if __name__ == "__main__":
    main()
