"""Issue 17: the agent with two real Mosquittos. It moves to the second broker when the first stops
answering (SIGKILL: refused; SIGSTOP: keep-alive loss), keeping its outbox and sequence numbers, and
sets its last will per connection; and a configurable topic root keeps two municipalities apart on
one broker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.identity import Identity
from agent.monitor import Monitor
from agent.mqtt import AgentMqtt, broker_stalled, next_broker
from agent.outbox import Outbox
from likavillkor import topics, wire
from likavillkor.config import loads
from tests.agent.conftest import Subscriber, spawn_agent, write_config
from tests.support.services import Mosquitto, running_mosquitto, stop_pid


def test_next_broker_rotates() -> None:
    assert next_broker(None, 1) == 0 and next_broker(0, 1) == 0
    assert [next_broker(i, 3) for i in (None, 0, 1, 2)] == [0, 1, 2, 0]
    with pytest.raises(ValueError):
        next_broker(None, 0)


def test_broker_stalled() -> None:
    assert broker_stalled(inflight=3, progress_at=10.0, now=14.0, timeout_s=4.0)
    assert not broker_stalled(inflight=3, progress_at=10.0, now=13.9, timeout_s=4.0)
    assert not broker_stalled(inflight=0, progress_at=0.0, now=100.0, timeout_s=4.0)  # nothing waits
    assert not broker_stalled(inflight=3, progress_at=0.0, now=100.0, timeout_s=0.0)  # off


def test_config_brokers_list_and_single_url() -> None:
    many = loads('[mqtt]\nbrokers = ["mqtts://a.example:8883", "mqtts://b.example"]\n', AgentConfig)
    assert many.mqtt.broker_urls == ["mqtts://a.example:8883", "mqtts://b.example"]
    assert many.mqtt.tls and many.mqtt.host == "a.example" and many.mqtt.port == 8883
    one = loads('[mqtt]\nurl = "mqtt://a.example"\n', AgentConfig)
    assert one.mqtt.broker_urls == ["mqtt://a.example"] and one.mqtt.port == 1883
    assert one.mqtt.topic_root == topics.ROOT
    for bad, why in [
        ('url = "mqtt://a"\nbrokers = ["mqtt://b"]', "not both"),
        ('brokers = ["mqtt://a", "mqtts://b"]', "mqtts"),
        ('brokers = ["http://a"]', "mqtt://host"),
        ('topic_root = "lv/+/x"', "topic root"),
        ('topic_root = "/lv"', "topic root"),
    ]:
        with pytest.raises(Exception, match=why):
            loads(f"[mqtt]\n{bad}\n", AgentConfig)


def _two_broker_config(
    a: Mosquitto, b: Mosquitto, tmp_path: Path, period_s: float, keepalive_s: int = 5, ack_timeout_s: float = 4.0
) -> str:
    return (
        f'device_id = "dev-ha"\ndata_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nbrokers = ["{a.url}", "{b.url}"]\nkeepalive_s = {keepalive_s}\nconnect_timeout_s = 2\n'
        f"ack_timeout_s = {ack_timeout_s}\n"
        f"reconnect_min_s = 1\nreconnect_max_s = 1\n[monitor]\nsample_period_s = {period_s}\n"
        "path_probe = false\ncamera_state_every_s = 0\n"
    )


@pytest.mark.parametrize("fault", ["sigkill", "sigstop-keepalive", "sigstop-ack"])
def test_broker_dies_mid_stream_agent_moves_on_and_loses_nothing(tmp_path: Path, fault: str) -> None:
    """SIGKILL: the connection drops and the first broker refuses; SIGSTOP: the socket stays open
    but nothing answers: with the acknowledgement timeout off, paho's keep-alive notices (5 s
    here); with a 60 s keep-alive, the missing PUBACKs do (``ack_timeout_s`` 2 s) - waiting for the
    keep-alive would outlast the test's deadline. Either way every sample of the boot
    arrives, once per (device, boot, seq) after de-duplication, at the subscribers of the two
    brokers (a collector subscribes to both), and nothing is renumbered."""
    with running_mosquitto(tmp_path / "a") as a, running_mosquitto(tmp_path / "b") as b:
        sub_a = Subscriber(a, "likavillkor/v1/devices/+/+")
        sub_b = Subscriber(b, "likavillkor/v1/devices/+/+")
        knobs = {
            "sigkill": {},
            "sigstop-keepalive": {"ack_timeout_s": 0.0},
            "sigstop-ack": {"keepalive_s": 60, "ack_timeout_s": 2.0},
        }[fault]
        cfg = loads(_two_broker_config(a, b, tmp_path, 0.05, **knobs), AgentConfig)  # type: ignore[arg-type]
        identity = Identity("dev-ha")
        outbox = Outbox(tmp_path / "outbox.sqlite")
        link = AgentMqtt(cfg.mqtt, identity, outbox)
        monitor = Monitor(cfg, identity, link.publish, dropped=lambda: outbox.dropped)
        assert a.proc is not None
        pid_a = a.proc.pid

        async def scenario() -> int:
            await link.start()
            await monitor.start()
            while link.counters["acked"] < 20:  # streaming through the first broker
                await asyncio.sleep(0.05)
            assert link.broker_url == a.url
            os.kill(pid_a, signal.SIGKILL if fault == "sigkill" else signal.SIGSTOP)
            await asyncio.sleep(0)
            at_fault = monitor.samples
            while not (link.broker_url == b.url and link.connected and link.counters["acked"] > at_fault + 40):
                await asyncio.sleep(0.1)
            await monitor.stop()
            assert await link.flush(30), f"outbox not drained: {len(outbox)} left"
            await link.stop()
            return monitor.samples

        try:
            total = asyncio.run(asyncio.wait_for(scenario(), 90))
            if fault != "sigkill":
                os.kill(pid_a, signal.SIGCONT)  # it wakes up and delivers what it had: duplicates
            keys: list[tuple[str, str, int]] = []
            online_on_b: list[wire.Status] = []
            deadline = time.monotonic() + 30
            while len(set(keys)) < total and time.monotonic() < deadline:
                for _t, m, _r in sub_a.drain() + sub_b.drain():
                    if isinstance(m, wire.Sample):
                        keys.append((m.device_id, m.boot_id, m.seq))
                    elif isinstance(m, wire.Status) and m.state is wire.DeviceState.ONLINE:
                        online_on_b.append(m)
                time.sleep(0.1)
        finally:
            sub_a.client.loop_stop()  # its broker may be gone: no clean disconnect
            sub_b.close()
            outbox.close()
    assert link.counters["broker_switches"] >= 1
    assert (link.counters.get("ack_timeouts", 0) >= 1) == (fault == "sigstop-ack")
    assert {k[:2] for k in keys} == {("dev-ha", identity.boot_id)}
    assert sorted(set(k[2] for k in keys)) == list(range(total)), (
        f"missing: {sorted(set(range(total)) - {k[2] for k in keys})[:10]}"
    )
    # the status seq grows per connection (a fresh will each time), never reusing a sample's seq
    assert all(s.seq >= 2**52 for s in online_on_b)


def test_last_will_is_set_per_connection(tmp_path: Path) -> None:
    """After moving to the second broker, a SIGKILLed agent's will is published there, with a
    status seq newer than the will it had left with the first broker."""
    with running_mosquitto(tmp_path / "a") as a, running_mosquitto(tmp_path / "b") as b:
        sub_b = Subscriber(b, "likavillkor/v1/devices/+/status")
        cfg = write_config(tmp_path / "agent.toml", _two_broker_config(a, b, tmp_path, 0.2))
        proc = spawn_agent("monitor", "--config", str(cfg))
        try:
            sub_a = Subscriber(a, "likavillkor/v1/devices/+/status")
            first = sub_a.wait_for(lambda _t, m, _r: isinstance(m, wire.Status), timeout=30)
            a.kill()
            sub_a.client.loop_stop()
            online = sub_b.wait_for(
                lambda _t, m, _r: isinstance(m, wire.Status) and m.state is wire.DeviceState.ONLINE, timeout=30
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            will = sub_b.wait_for(
                lambda _t, m, _r: isinstance(m, wire.Status) and m.state is wire.DeviceState.OFFLINE, timeout=30
            )
        finally:
            stop_pid(proc)  # type: ignore[arg-type]
            sub_b.close()
    assert isinstance(first, wire.Status) and isinstance(online, wire.Status) and isinstance(will, wire.Status)
    assert will.reason == "will" and will.boot_id == online.boot_id == first.boot_id
    # the will sent with the CONNECT to b was made for that connection: newer than a's online
    assert first.seq < will.seq < online.seq


def test_two_topic_roots_on_one_broker_do_not_meet(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Two municipalities' agents (real processes) on one broker: a subscriber to each root's
    wildcard sees only its own municipality's device."""
    roots = {"solna": "lv/solna", "sundbyberg": "lv/sundbyberg"}
    assert topics.roots_disjoint(*roots.values())
    subs = {name: Subscriber(mosquitto, topics.device_wildcard(root)) for name, root in roots.items()}
    procs = []
    try:
        for name, root in roots.items():
            cfg = write_config(
                tmp_path / f"{name}.toml",
                f'device_id = "dev-{name}"\ndata_dir = "{tmp_path / name}"\n'
                f'[mqtt]\nurl = "{mosquitto.url}"\ntopic_root = "{root}"\n'
                "[monitor]\nsample_period_s = 0.1\npath_probe = false\n",
            )
            procs.append(spawn_agent("monitor", "--config", str(cfg)))
        seen: dict[str, set[str]] = {name: set() for name in roots}

        def collect() -> None:
            for name, sub in subs.items():
                for topic, msg, _r in sub.drain():
                    assert topics.parse_device_topic(topic, roots[name]) is not None, topic
                    seen[name].add(msg.device_id)

        deadline = time.monotonic() + 60
        while not all(seen.values()) and time.monotonic() < deadline:
            collect()
            time.sleep(0.1)
        time.sleep(1.0)  # both publish: a while longer, nothing of the other root may come
        collect()
    finally:
        for p in procs:
            stop_pid(p)  # type: ignore[arg-type]
        for sub in subs.values():
            sub.close()
    assert seen == {"solna": {"dev-solna"}, "sundbyberg": {"dev-sundbyberg"}}
    # and the default root is untouched by either
    assert topics.parse_device_topic("lv/solna/devices/d/sample") is None
    assert topics.parse_device_topic("likavillkor/v1/devices/d/sample") == ("d", "sample")


def test_will_left_behind_on_a_hung_broker_is_dated_as_superseded(tmp_path: Path) -> None:
    """The agent leaves a hung broker (SIGSTOP) for the other one; when the hung broker wakes up it
    publishes the will of the session left behind. ``collector.ha.wills.will_superseded`` dates it
    from the status seqs heard on both brokers: superseded (no loss), while the will of the
    connection in use (the agent SIGKILLed at the end) is not."""
    from collector.ha.wills import will_superseded

    with running_mosquitto(tmp_path / "a") as a, running_mosquitto(tmp_path / "b") as b:
        subs = [Subscriber(a, "likavillkor/v1/devices/+/status"), Subscriber(b, "likavillkor/v1/devices/+/status")]
        cfg = write_config(tmp_path / "agent.toml", _two_broker_config(a, b, tmp_path, 0.1, ack_timeout_s=1.0))
        proc = spawn_agent("monitor", "--config", str(cfg))
        statuses: list[wire.Status] = []

        def collect(pred: Callable[[wire.Status], bool], timeout: float = 60) -> wire.Status:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for sub in subs:
                    for _t, m, _r in sub.drain():
                        if isinstance(m, wire.Status):
                            statuses.append(m)
                for s in statuses:
                    if pred(s):
                        return s
                time.sleep(0.05)
            raise AssertionError(f"no such status among {statuses}")

        try:
            collect(lambda s: s.state is wire.DeviceState.ONLINE)
            assert a.proc is not None
            os.kill(a.proc.pid, signal.SIGSTOP)
            first_online = max(s.seq for s in statuses)
            collect(lambda s: s.state is wire.DeviceState.ONLINE and s.seq > first_online)  # now on b
            os.kill(a.proc.pid, signal.SIGCONT)  # a wakes, sees the agent's socket closed: its will
            left_behind = collect(lambda s: s.reason == "will")
            newest = max(s.seq for s in statuses if s.state is wire.DeviceState.ONLINE)
            assert will_superseded(left_behind.seq, newest)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            current = collect(lambda s: s.reason == "will" and s.seq != left_behind.seq)
            assert not will_superseded(current.seq, max(s.seq for s in statuses if s.reason != "will"))
        finally:
            if a.proc is not None and a.proc.poll() is None:
                os.kill(a.proc.pid, signal.SIGCONT)
            stop_pid(proc)  # type: ignore[arg-type]
            for sub in subs:
                sub.client.loop_stop()
