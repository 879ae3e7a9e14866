"""Nothing lost across link, broker and collector faults (issue 8, H2, H15).

One meeting, one real agent in its own network namespace (veth to the root namespace), a real
Mosquitto and a real collector (SQLite store). The faults come one after another, as they would in
a long meeting; after each one the live verdict is checked, and at the end the samples the agent
issued (its seq numbers, contiguous from 0) are compared with the samples stored, per device, by
distinct msg_id. ``LIKAVILLKOR_LONG=1`` repeats the cycle and lengthens every fault.
"""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from likavillkor import topics, wire
from tests.faults.harness import (
    LONG,
    MEETING,
    SILENCE_S,
    Agent,
    Collector,
    late_count,
    restore,
    state_changes,
    tally,
    wait_tail,
)
from tests.support.netns import NetNs
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until

CYCLES = 4 if LONG else 1
pytestmark = pytest.mark.timeout(1800 if LONG else 300)
STRETCH = 5.0 if LONG else 1.0
LATE_AFTER_S = 5.0  # the shipped policy's late_after_s: a longer cut makes the outbox replay late


def _link_cut(ns: NetNs, col: Collector, dev: str, hold_s: float) -> None:
    """H15: cut the link; the device turns lost and the meeting adjourns (how fast:
    bench/bench_fault_detection.py, never a wall-clock budget in a test).
    On restore the outbox replays what was taken offline: late, history only."""
    late_before = col.health()["ingest"]["outcomes"].get("late", 0)
    ns.cut()
    cut = time.monotonic()
    wait_until(
        lambda: col.state_is(dev, "lost", "adjourn"), timeout=60, what="lost + adjourn after the cut", log=col.log
    )
    # while cut the verdict stays adjourn: nothing brings it back by itself
    time.sleep(max(0.0, hold_s - (time.monotonic() - cut)))
    assert col.state_is(dev, "lost", "adjourn")
    restore(ns)
    wait_until(lambda: col.state_is(dev, "ok"), timeout=20, what="device ok after the link came back", log=col.log)
    # the replayed backlog arrived late: counted, stored (below), never a live state
    wait_until(
        lambda: col.health()["ingest"]["outcomes"].get("late", 0) > late_before, timeout=10, what="late samples counted"
    )


def _broker_crash(broker: Mosquitto, col: Collector, dev: str) -> None:
    """SIGKILL Mosquitto: "monitoring interrupted", never "everyone lost"; back within 5 s of its return."""
    broker.kill()
    wait_until(
        lambda: col.health()["broker"]["monitoring"] == "interrupted", timeout=10, what="broker loss seen", log=col.log
    )
    gone = time.monotonic()
    while time.monotonic() - gone < (SILENCE_S + 1.0) * STRETCH:
        v = col.view()
        assert v["verdict"] == "monitoring_interrupted" and v["monitoring"] == "interrupted", v["verdict"]
        assert all(p["state"] != "lost" for p in v["participants"]), "silence without a broker proves nothing"
        time.sleep(0.2)
    broker.start()
    back = time.monotonic()
    current = wait_until(
        lambda: (
            col.view()["monitoring"] == "active"
            and col.state_is(dev, "ok", "equal_terms")
            and time.time() - col.participant(dev)["last_contact"] < 1.0
        ),
        timeout=15,
        what="verdict current again",
        log=col.log,
        detail=lambda: (time.time(), col.view()),
    )
    assert current - back <= 5.0, f"verdict current {current - back:.2f} s after the broker returned (limit 5 s)"


def _collector_crash(col: Collector, dev: str) -> None:
    """SIGKILL the collector; meanwhile the agent publishes into its persistent session. After the
    restart the state comes back from the store and the session delivers what was missed."""
    incidents_before = col.get("/api/incidents?kind=connection_lost") or []
    col.kill()
    time.sleep(3.0 * STRETCH)
    col.start()
    wait_until(
        lambda: col.state_is(dev, "ok", "equal_terms"),
        timeout=15,
        what="device ok after the collector restart",
        log=col.log,
    )
    incidents_after = col.get("/api/incidents?kind=connection_lost") or []
    assert {i["id"] for i in incidents_before} <= {i["id"] for i in incidents_after}, "history lost on restart"
    assert all(i["ended_at"] is not None for i in incidents_after), incidents_after


def _flood(broker: Mosquitto, col: Collector, dev: str, flooder: str) -> None:
    """A device on the roster floods: it is rate-limited, the others are not affected."""
    before = col.health()["ingest"]["rejected"].get("rate_limited", 0)
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"flood-{flooder}", protocol=paho.MQTTv5)
    c.connect(broker.host, broker.port, keepalive=10)
    c.loop_start()
    try:
        info = None
        for i in range(3000):
            s = wire.Sample(
                device_id=flooder,
                boot_id="flood",
                seq=i,
                ts=time.time(),
                meeting_id=MEETING,
                link=wire.LinkType.WIFI,
                rtt_ms=20.0,
                loss_percent=0.0,
                battery_percent=90.0,
                battery_charging=True,
            )
            info = c.publish(topics.device_topic(flooder, "sample"), wire.encode(s), qos=0)
        assert info is not None
        info.wait_for_publish(10)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # the well-behaved device stays ok throughout
            assert col.participant(dev)["state"] == "ok"
            time.sleep(0.1)
    finally:
        c.disconnect()
        c.loop_stop()
    wait_until(
        lambda: col.health()["ingest"]["rejected"].get("rate_limited", 0) >= before + 2000,
        timeout=10,
        what="the flood rate-limited",
    )


def test_nothing_lost_across_link_loss_bandwidth_broker_and_collector_faults(
    ns: NetNs, broker: Mosquitto, tmp_path: Path
) -> None:
    dev, flooder = "dev-a", "dev-flood"
    col = Collector(tmp_path / "collector", broker.url, [dev], spare_devices=[flooder])
    agent = Agent(ns, dev, broker.port, tmp_path)
    try:
        col.start()  # inside: a collector that never answers is stopped too
        agent.start()
        wait_until(lambda: col.state_is(dev, "ok"), timeout=30, what="agent's device ok", log=agent.log)
        for _ in range(CYCLES):
            ns.loss(30)  # random loss, nftables numgen: TCP retransmits, nothing is lost
            time.sleep(3.0 * STRETCH)
            ns.clear_loss()
            ns.shape(0.064)  # 64 kbit/s, tc tbf both ways: far more than the samples need
            time.sleep(3.0 * STRETCH)
            ns.unshape()
            _link_cut(ns, col, dev, hold_s=LATE_AFTER_S + 3.0 * STRETCH)
            _broker_crash(broker, col, dev)
            _collector_crash(col, dev)
            _flood(broker, col, dev, flooder)
        wait_until(lambda: time.time() - col.participant(dev)["last_contact"] < 1.0, timeout=10, what="live again")
        wait_tail(col, agent)
        stopped_at = time.time()
        agent.stop()
        col.settled()
        t = tally(agent, col.db_url)
        assert t.missing == [], str(t)
        assert t.in_outbox == 0, str(t)  # the link was up at the end: the outbox drained
        assert t.published >= 40, str(t)  # the agent really ran through the faults
        assert late_count(col.db_url, dev) > 0  # the outbox replay is in the history, marked late
        # late samples never flipped the live state back in time: per cut exactly lost -> ok
        news = [new for at, _old, new in state_changes(col.db_url, dev) if at < stopped_at]
        assert news.count("lost") == CYCLES, news
        for i, s in enumerate(news):
            if s == "lost":
                assert news[i + 1] == "ok", news
        print(f"\n{t}")
    finally:
        agent.stop()
        col.stop()
