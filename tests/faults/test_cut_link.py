"""A cut link (veth down: no last will is possible) is seen from the device's signed path probes
(issue 11), with real processes: the agent in a network namespace probing the collector's reflector
ten times a second, Mosquitto and the collector in the root namespace.

The policy's silence limit for samples is 30 s here, so within the 15 s this test waits only the
probes' silence (``probe_silence_lost_s``, 1.2 s) can make the member lost: the test waits for
states, and bench/bench_fault_detection.py measures how fast (p95 over 50 cuts)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.faults.harness import Agent, Collector, restore
from tests.support.netns import NetNs
from tests.support.services import Mosquitto, free_port
from tests.support.waiting import wait_until


def test_cut_link_is_lost_from_the_probes_silence(ns: NetNs, broker: Mosquitto, tmp_path: Path) -> None:
    reflector_port = free_port(kind=socket.SOCK_DGRAM)
    col = Collector(tmp_path / "collector", broker.url, ["dev-cut"], silence_s=30.0, reflector_port=reflector_port)
    agent = Agent(
        ns, "dev-cut", broker.port, tmp_path, period_s=1.0, collector_port=col.port, reflector_port=reflector_port
    )
    col.start()
    try:
        agent.start()

        def probed_ok() -> bool:
            p = col.participant("dev-cut")
            return bool(p["state"] == "ok" and p["loss_percent"] is not None and p["loss_percent"] < 5)

        wait_until(probed_ok, timeout=60, what="agent ok with signed probes answered", log=agent.log, detail=col.view)
        ns.cut()
        wait_until(
            lambda: col.state_is("dev-cut", "lost", "adjourn"),
            timeout=15,
            what="lost + Ajournera from the probes' silence",
            log=col.log,
            detail=col.view,
        )
        assert col.participant("dev-cut")["reason"]["code"] == "no_contact"
        restore(ns)
        wait_until(
            lambda: col.state_is("dev-cut", "ok"),
            timeout=60,
            what="contact back after the link returns",
            log=agent.log,
            detail=col.view,
        )
        assert col.health()["monitoring"]["own_gaps"] == 0
    finally:
        agent.stop()
        col.stop()
