"""Sustained 20 % random loss (nftables ``numgen random`` drop on everything the member's namespace
sends) turns the member ``failing`` from the agent's sequential loss test, and she is ``ok`` again
after the loss ends (issue 11). Real processes: the agent in a network namespace with signed probes
to the collector's reflector, Mosquitto and the collector in the root namespace.

The test waits for states (generous deadlines) and checks what the real agent put on the wire: the
failing comes with ``loss_alarm: true`` samples (the test's conclusion, not a window's share), and
the clean link before and after carries ``loss_alarm: false``. How fast: bench/bench_loss.py --detect.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from likavillkor import topics, wire
from tests.faults.harness import Agent, Collector
from tests.support.netns import NetNs
from tests.support.services import Mosquitto, free_port
from tests.support.waiting import wait_until

DEVICE = "dev-lossy"


class Samples:
    """Every sample the agent publishes, read from the real broker."""

    def __init__(self, port: int, trace: Path) -> None:
        self.lock = threading.Lock()
        self.seen: list[wire.Sample] = []
        self.bad = 0
        self.trace = open(trace, "w")  # noqa: SIM115 - closed in close(); the sample stream, for a failure's story
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="loss-watch")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topics.device_topic(DEVICE, "sample"), qos=1)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        print(f"{time.monotonic():.2f} {bytes(msg.payload)[:2000]!r}", file=self.trace, flush=True)
        try:
            decoded = wire.decode(bytes(msg.payload))
        except wire.WireError:
            self.bad += 1
            return
        if isinstance(decoded, wire.Sample):
            with self.lock:
                self.seen.append(decoded)

    def since(self, n: int) -> list[wire.Sample]:
        with self.lock:
            return list(self.seen[n:])

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        self.trace.close()


def test_20_percent_loss_fails_from_the_loss_test_and_clears_after(
    ns: NetNs, broker: Mosquitto, tmp_path: Path
) -> None:
    reflector_port = free_port(kind=socket.SOCK_DGRAM)
    col = Collector(tmp_path / "collector", broker.url, [DEVICE], silence_s=5.0, reflector_port=reflector_port)
    agent = Agent(
        ns, DEVICE, broker.port, tmp_path, period_s=1.0, collector_port=col.port, reflector_port=reflector_port
    )
    samples = Samples(broker.port, tmp_path / "samples.trace")
    col.start()
    try:
        agent.start()

        def clean_ok() -> bool:
            p = col.participant(DEVICE)
            return bool(p["state"] == "ok" and p["loss_percent"] == 0.0)

        wait_until(clean_ok, timeout=90, what="ok with a clean probe window", log=agent.log, detail=col.view)
        clean = samples.since(0)
        assert clean and clean[-1].loss_alarm is False, clean[-1:]
        mark = samples.count()

        ns.loss(20)
        print(f"{time.monotonic():.2f} LOSS ON", file=samples.trace, flush=True)
        wait_until(
            lambda: col.state_is(DEVICE, "failing", "adjourn"),
            timeout=60,
            what="failing + Ajournera under 20 % loss",
            log=agent.log,
            detail=col.view,
        )
        p = col.participant(DEVICE)
        assert p["reason"]["code"] in ("loss_percent", "mos"), p["reason"]
        during = samples.since(mark)
        assert any(s.loss_alarm is True for s in during), [(s.loss_alarm, s.loss_percent) for s in during]
        alarmed = [s for s in during if s.loss_alarm is True]
        assert all(s.loss_percent is not None and s.loss_percent > 10.0 for s in alarmed), alarmed

        ns.clear_loss()
        print(f"{time.monotonic():.2f} LOSS OFF", file=samples.trace, flush=True)
        mark = samples.count()
        wait_until(
            lambda: col.state_is(DEVICE, "ok", "equal_terms"),
            timeout=60,
            what="ok again after the loss ends",
            log=agent.log,
            detail=col.view,
        )
        after = samples.since(mark)
        assert after and after[-1].loss_alarm is False, [(s.loss_alarm, s.loss_percent) for s in after]
        assert samples.bad == 0
    finally:
        samples.close()
        agent.stop()
        col.stop()
