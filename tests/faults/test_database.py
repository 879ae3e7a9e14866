"""PostgreSQL down, hung, or too slow for the queue (issue 8): ingest and verdicts go on, writes
catch up, and what had to be dropped is counted in /api/health and /metrics.

The real agent runs in its own namespace; the collector stores in a real PostgreSQL that the test
stops (fast shutdown), freezes (SIGSTOP on its process group: every query hangs) and restarts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.faults.harness import Agent, Collector, restore, tally, wait_tail
from tests.support.databases import Postgres, running_postgres
from tests.support.netns import NetNs
from tests.support.services import Mosquitto
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@contextlib.contextmanager
def _frozen(pg: Postgres) -> Iterator[None]:
    """SIGSTOP the postmaster and every backend (each backend is its own process group: setsid)."""
    assert pg.proc is not None
    main = psutil.Process(pg.proc.pid)
    procs = [main, *main.children(recursive=True)]
    for p in procs:
        os.kill(p.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def _live(col: Collector, dev: str) -> bool:
    return time.time() - col.participant(dev)["last_contact"] < 1.0 and col.state_is(dev, "ok", "equal_terms")


def test_postgres_down_and_hung_monitoring_goes_on_and_writes_catch_up(
    ns: NetNs, broker: Mosquitto, pg: Postgres, tmp_path: Path
) -> None:
    dev = "dev-pg"
    col = Collector(
        tmp_path / "collector", broker.url, [dev], store_url=pg.create_database("faults_" + uuid.uuid4().hex[:8])
    )
    agent = Agent(ns, dev, broker.port, tmp_path)
    col.start()
    try:
        agent.start()
        wait_until(lambda: _live(col, dev), timeout=30, what="device ok", log=agent.log)
        # 1. PostgreSQL down: the verdict still follows the device (a cut is still an adjournment, H15)
        pg.stop()
        try:
            wait_until(
                lambda: not col.health()["store"]["connected"],
                timeout=15,
                what="store sees the database gone",
                log=col.log,
            )
            ns.cut()
            # how fast: bench/bench_fault_detection.py, never a wall-clock budget in a test
            wait_until(
                lambda: col.state_is(dev, "lost", "adjourn"), timeout=60, what="lost + adjourn without a database"
            )
            restore(ns)
            wait_until(lambda: _live(col, dev), timeout=20, what="device back without a database")
            h, metrics = col.health(), col.metrics()
            assert h["status"] == "degraded" and h["store"]["failures"] > 0 and h["store"]["queued"] > 0, h["store"]
            assert _metric(metrics, "likavillkor_store_failures_total") > 0
            assert _metric(metrics, "likavillkor_store_queue") > 0
        finally:
            pg.start()
        col.settled(60)
        # 2. PostgreSQL hung (every query blocks): the view stays live, the queue grows, then drains
        with _frozen(pg):
            queued = col.health()["store"]["queued"]
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                assert _live(col, dev), col.participant(dev)
                time.sleep(0.2)
            assert col.health()["store"]["queued"] > queued
        col.settled(60)
        wait_tail(col, agent)
        agent.stop()
        col.settled()
        t = tally(agent, col.db_url)
        assert t.missing == [] and t.in_outbox == 0, str(t)
        assert col.health()["store"]["dropped"] == 0
        print(f"\n{t}")
    finally:
        agent.stop()
        col.stop()


def test_queue_overflow_while_postgres_is_down_is_counted(
    ns: NetNs, broker: Mosquitto, pg: Postgres, tmp_path: Path
) -> None:
    """A queue too small for the outage: rows are dropped, never blocking ingest, and every sample
    missing from the store is accounted for by the dropped counter (health and /metrics)."""
    dev = "dev-q"
    col = Collector(
        tmp_path / "collector",
        broker.url,
        [dev],
        store_extra="queue_max = 20",
        store_url=pg.create_database("faults_" + uuid.uuid4().hex[:8]),
    )
    agent = Agent(ns, dev, broker.port, tmp_path, period_s=0.1)
    col.start()
    try:
        agent.start()
        wait_until(lambda: _live(col, dev), timeout=30, what="device ok", log=agent.log)
        pg.stop()
        try:
            # 30 rows past a full queue of 20: three seconds of this device's samples at least
            wait_until(
                lambda: col.health()["store"]["dropped"] >= 30,
                timeout=20,
                what="rows dropped from a full queue",
                log=col.log,
            )
            assert _live(col, dev)
            assert _metric(col.metrics(), "likavillkor_store_dropped_total") > 0
        finally:
            pg.start()
        col.settled(60)
        wait_tail(col, agent)
        agent.stop()
        col.settled()
        t = tally(agent, col.db_url)
        dropped = col.health()["store"]["dropped"]
        assert t.in_outbox == 0 and 0 < len(t.missing) <= dropped, f"{t}; dropped {dropped}"
        print(f"\n{t}; store dropped {dropped} rows (all kinds)")
    finally:
        agent.stop()
        col.stop()
