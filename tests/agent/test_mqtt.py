"""The agent against a real Mosquitto: samples at the configured period, retained status, the last
will when the process is SIGKILLed, and no lost or reordered message across a broker restart
(the durable outbox, issue 8)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from agent.config import AgentConfig
from agent.identity import Identity
from agent.monitor import Monitor
from agent.mqtt import AgentMqtt
from agent.outbox import Outbox
from likavillkor import wire
from likavillkor.config import loads
from tests.agent.conftest import Subscriber, spawn_agent, write_config
from tests.support.services import Mosquitto, stop_pid


def _config(broker: Mosquitto, tmp_path: Path, period_s: float, device: str = "dev-1", extra: str = "") -> str:
    return (
        f'device_id = "{device}"\ndata_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nurl = "{broker.url}"\nkeepalive_s = 5\nreconnect_min_s = 1\nreconnect_max_s = 1\n'
        f"[monitor]\nsample_period_s = {period_s}\n" + extra
    )


def _is(kind: type, device: str = "dev-1") -> Callable[[str, wire.Message, bool], bool]:
    return lambda _t, m, _r: isinstance(m, kind) and m.device_id == device


def test_agent_process_status_samples_and_last_will(
    mosquitto: Mosquitto, subscriber: Subscriber, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "a.toml", _config(mosquitto, tmp_path, 0.2))
    proc = spawn_agent("monitor", "--config", str(cfg))
    try:
        online = subscriber.wait_for(_is(wire.Status), timeout=15)
        assert isinstance(online, wire.Status) and online.state is wire.DeviceState.ONLINE
        samples = [subscriber.wait_for(_is(wire.Sample), timeout=5) for _ in range(8)]
        # a fresh subscriber gets the retained "online"
        late = Subscriber(mosquitto)
        retained = late.wait_for(lambda t, m, r: r and isinstance(m, wire.Status))
        late.close()
        assert isinstance(retained, wire.Status) and retained.state is wire.DeviceState.ONLINE
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        will = subscriber.wait_for(_is(wire.Status), timeout=15)
    finally:
        stop_pid(proc)  # type: ignore[arg-type]
    assert isinstance(will, wire.Status) and will.state is wire.DeviceState.OFFLINE and will.reason == "will"
    seqs = [s.seq for s in samples]
    assert seqs == list(range(seqs[0], seqs[0] + 8))
    periods = [b.ts - a.ts for a, b in itertools.pairwise(samples)]
    assert abs(statistics.median(periods) - 0.2) < 0.05, periods
    first = samples[0]
    assert isinstance(first, wire.Sample) and first.mem_available_percent is not None and first.cpu_percent is not None
    assert first.link is not None and first.outbox_dropped == 0


def test_clean_stop_publishes_offline_shutdown(mosquitto: Mosquitto, subscriber: Subscriber, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", _config(mosquitto, tmp_path, 0.5, device="dev-2"))
    proc = spawn_agent("monitor", "--config", str(cfg))
    try:
        subscriber.wait_for(_is(wire.Status, "dev-2"), timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        offline = subscriber.wait_for(_is(wire.Status, "dev-2"), timeout=10)
    finally:
        stop_pid(proc)  # type: ignore[arg-type]
    assert isinstance(offline, wire.Status) and offline.reason == "shutdown"


def test_broker_restart_loses_nothing_and_keeps_order(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sub = Subscriber(mosquitto, "likavillkor/v1/devices/+/sample", persistent=True)
    cfg = loads(_config(mosquitto, tmp_path, 0.05), AgentConfig)
    identity = Identity("dev-1")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    link = AgentMqtt(cfg.mqtt, identity, outbox)
    monitor = Monitor(cfg, identity, link.publish, dropped=lambda: outbox.dropped)

    async def scenario() -> tuple[int, int]:
        await link.start()
        await monitor.start()
        while link.counters["acked"] < 10:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(mosquitto.stop)
        down_at = monitor.samples
        await asyncio.sleep(1.0)  # samples pile up in the outbox while the broker is down
        backlog = len(outbox)
        await asyncio.to_thread(mosquitto.start)
        while monitor.samples < down_at + 40:
            await asyncio.sleep(0.05)
        await monitor.stop()
        assert await link.flush(15), f"outbox not drained: {len(outbox)} left"
        await link.stop()
        return backlog, monitor.samples

    try:
        backlog, total = asyncio.run(asyncio.wait_for(scenario(), 40))
        assert backlog >= 10, "samples should have waited in the outbox while the broker was down"
        assert link.counters["connects"] >= 2
        seen: list[int] = []
        deadline = time.monotonic() + 15
        while len(set(seen)) < total and time.monotonic() < deadline:
            seen += [m.seq for _, m, _ in sub.drain()]
            time.sleep(0.05)
    finally:
        sub.close()
        outbox.close()
    first_seen = list(dict.fromkeys(seen))  # duplicates (QoS 1 redelivery) are allowed, gaps are not
    assert first_seen == list(range(total)), f"missing: {sorted(set(range(total)) - set(seen))[:10]}"


def test_full_outbox_drops_oldest_and_samples_say_so(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Issue 8: with the broker away, the bounded outbox keeps the newest samples; the count of
    dropped ones travels in Sample.outbox_dropped."""
    sub = Subscriber(mosquitto, "likavillkor/v1/devices/+/sample", persistent=True)
    mosquitto.stop()
    cfg = loads(_config(mosquitto, tmp_path, 0.02), AgentConfig)
    identity = Identity("dev-1")
    outbox = Outbox(tmp_path / "outbox.sqlite", max_messages=10)
    link = AgentMqtt(cfg.mqtt, identity, outbox)
    monitor = Monitor(cfg, identity, link.publish, dropped=lambda: outbox.dropped)

    async def scenario() -> int:
        await link.start()
        await monitor.start()
        while monitor.samples < 30:
            await asyncio.sleep(0.02)
        await monitor.stop()
        assert len(outbox) == 10 and outbox.dropped == monitor.samples - 10
        await asyncio.to_thread(mosquitto.start)
        assert await link.flush(15)
        await link.stop()
        return monitor.samples

    try:
        total = asyncio.run(asyncio.wait_for(scenario(), 40))
        got: list[wire.Sample] = []
        deadline = time.monotonic() + 10
        while len({m.seq for m in got}) < 10 and time.monotonic() < deadline:
            got += [m for _, m, _ in sub.drain() if isinstance(m, wire.Sample)]
            time.sleep(0.05)
    finally:
        sub.close()
        outbox.close()
    seqs = list(dict.fromkeys(m.seq for m in got))
    assert seqs == list(range(total - 10, total)), seqs  # the newest ten, in order
    assert got[-1].outbox_dropped == total - 11  # counted when that sample was made


def test_selftest_result_is_published(mosquitto: Mosquitto, subscriber: Subscriber, tmp_path: Path) -> None:
    from tests.agent.conftest import run_agent

    cfg = write_config(
        tmp_path / "a.toml",
        _config(mosquitto, tmp_path, 1.0, device="dev-st")
        + '[selftest]\nskip = ["path", "bandwidth", "camera", "microphone", "mediapath"]\n',
    )
    proc = run_agent("selftest", "--meeting", "ks-9", "--config", str(cfg))
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Resultatet är skickat" in proc.stderr
    msg = subscriber.wait_for(_is(wire.SelftestResult, "dev-st"))
    assert isinstance(msg, wire.SelftestResult) and msg.meeting_id == "ks-9"
    assert [c.id for c in msg.checks][:4] == ["network.link", "battery.level", "host.cpu", "host.memory"]
    assert {1: "warn", 2: "fail", 0: "pass"}[proc.returncode] == msg.overall
    # a one-shot self-test neither announces the device online nor leaves it "offline"
    assert not [m for _, m, _ in subscriber.drain() if isinstance(m, wire.Status)]
