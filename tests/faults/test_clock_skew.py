"""A device clock off by minutes changes no verdict (issue 8): liveness is judged by the
collector's clock, and a steady offset is learnt, not mistaken for an outbox replay.

Three real agents in one namespace: one on time, one five minutes ahead, one five minutes behind
(``skewed_agent.py`` shifts the agent's ``time.time``). All must be ``ok`` with live samples, none
marked late, and a link cut must make all three ``lost`` within the same limit (H15).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.harness import Agent, Collector, late_count, restore, tally, wait_tail
from tests.support.netns import NetNs
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until

OFFSETS_S = {"dev-ontime": 0.0, "dev-ahead": 300.0, "dev-behind": -300.0}


def test_device_clock_off_by_minutes_changes_no_verdict(ns: NetNs, broker: Mosquitto, tmp_path: Path) -> None:
    col = Collector(tmp_path / "collector", broker.url, list(OFFSETS_S))
    agents = [Agent(ns, d, broker.port, tmp_path, clock_offset_s=off) for d, off in OFFSETS_S.items()]
    col.start()
    try:
        for a in agents:
            a.start()

        def all_ok() -> bool:
            v = col.view()
            return v["verdict"] == "equal_terms" and all(
                p["state"] == "ok" and time.time() - p["last_contact"] < 1.0 for p in v["participants"]
            )

        wait_until(all_ok, timeout=40, what="all three devices ok", log=agents[-1].log, detail=col.view)
        end = time.monotonic() + 4.0
        while time.monotonic() < end:  # steady: the skewed clocks never tip anything
            assert all_ok(), col.view()
            time.sleep(0.2)
        col.settled()
        assert {d: late_count(col.db_url, d) for d in OFFSETS_S} == dict.fromkeys(OFFSETS_S, 0)
        ns.cut()
        # how fast: bench/bench_fault_detection.py, never a wall-clock budget in a test
        wait_until(
            lambda: all(p["state"] == "lost" for p in col.view()["participants"]),
            timeout=60,
            what="all three lost",
            detail=col.view,
        )
        assert col.view()["verdict"] == "adjourn"
        restore(ns)
        wait_until(all_ok, timeout=20, what="all three back", detail=col.view)
        wait_tail(col, *agents)
        for a in agents:
            a.stop()
        col.settled()
        for a in agents:
            t = tally(a, col.db_url)
            assert t.missing == [] and t.in_outbox == 0, str(t)
    finally:
        for a in agents:
            a.stop()
        col.stop()
