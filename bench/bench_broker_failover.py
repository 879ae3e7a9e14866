"""How long the agent's samples stop when the broker in use fails (issue 17): two real Mosquittos,
the agent's real MQTT link (agent.mqtt.AgentMqtt, default [mqtt] settings: keep-alive 30 s,
reconnect 1-5 s, ack_timeout_s 2 s) sending one sample every 100 ms. The broker in use is
SIGKILLed (connection refused) or SIGSTOPed (hangs: only the missing PUBACKs show it); measured is
the time from the fault to the first acknowledgement from the other broker. The failed broker is
started again (or continued) and is the next one to fail. Results: docs/performance.md.

    .venv/bin/python bench/bench_broker_failover.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.config import AgentConfig  # noqa: E402
from agent.identity import Identity  # noqa: E402
from agent.monitor import Monitor  # noqa: E402
from agent.mqtt import AgentMqtt  # noqa: E402
from agent.outbox import Outbox  # noqa: E402
from likavillkor.config import loads  # noqa: E402
from tests.support.services import Mosquitto, running_mosquitto  # noqa: E402


async def measure(runs: int, fault: str, a: Mosquitto, b: Mosquitto, tmp: Path) -> list[float]:
    cfg = loads(
        f'[mqtt]\nbrokers = ["{a.url}", "{b.url}"]\n[monitor]\nsample_period_s = 0.1\npath_probe = false\n'
        "camera_state_every_s = 0\n",
        AgentConfig,
    )
    identity = Identity("bench-failover")
    outbox = Outbox(tmp / f"outbox-{fault}.sqlite")
    link = AgentMqtt(cfg.mqtt, identity, outbox)
    monitor = Monitor(cfg, identity, link.publish, dropped=lambda: outbox.dropped)
    brokers = {a.url: a, b.url: b}
    times: list[float] = []
    await link.start()
    await monitor.start()
    try:
        while not link.connected:
            await asyncio.sleep(0.05)
        for i in range(runs):
            await asyncio.sleep(2.0)
            victim = brokers[link.broker_url]
            assert victim.proc is not None
            pid = victim.proc.pid
            acked = link.counters["acked"]
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL if fault == "sigkill" else signal.SIGSTOP)
            while link.broker_url == victim.url or not link.connected or link.counters["acked"] <= acked:
                await asyncio.sleep(0.01)
            times.append(time.monotonic() - t0)
            print(f"{fault} {i + 1}: {times[-1]:.2f} s", flush=True)
            if fault == "sigkill":
                victim.proc.wait(5)
                await asyncio.to_thread(victim.start)
            else:
                os.kill(pid, signal.SIGCONT)
    finally:
        await monitor.stop()
        await link.flush(10)
        await link.stop()
        outbox.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for fault in ("sigkill", "sigstop"):
            with running_mosquitto(tmp / f"{fault}-a") as a, running_mosquitto(tmp / f"{fault}-b") as b:
                times = asyncio.run(measure(args.runs, fault, a, b, tmp))
            q = statistics.quantiles(times, n=20)
            print(
                f"{fault}: runs={len(times)} p50 {statistics.median(times):.2f} s, p95 {q[18]:.2f} s, "
                f"max {max(times):.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
