"""Storage on SQLite and a real PostgreSQL: migrations, replays stored once, incident upserts,
the database going away and coming back (writes retry and catch up), retention and forget."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.runtime.rows import sample_row
from collector.store import Store, retention
from collector.store import schema as s
from tests.collector.helpers import sample
from tests.support.databases import Postgres

_db_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    pg: Postgres = request.getfixturevalue("postgres_server")
    return pg.create_database(f"store_{next(_db_names)}_{int(time.time() * 1000) % 10**8}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    st = Store(store_url, flush_interval_s=0.05)
    st.start()
    yield st
    st.stop()


def _incident(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "ks:m1:connection_lost:1000",
        "meeting_id": "ks",
        "body": "kommunstyrelsen",
        "member_id": "m1",
        "device_id": "d1",
        "kind": "connection_lost",
        "started_at": 1000.0,
        "ended_at": None,
        "peak_severity": "failure",
        "adjourned": True,
        "adjourned_s": 0.0,
        "substitute_called": False,
        "metrics": {"rtt_ms_max": 40.0},
    }
    row.update(over)
    return row


def test_samples_replayed_are_stored_once(store: Store) -> None:
    msgs = [sample("d1", boot_id="b1", seq=i, rtt_ms=10.0 + i, link="wifi") for i in range(50)]
    for m in msgs + msgs[:20]:  # a replay of 20 (the agent's outbox after a reconnect)
        assert store.put("sample", sample_row(m, member_id="m1", outcome="accepted", received_at=time.time()))
    assert store.flush(10)
    assert store.count(s.samples) == 50
    rows = store.rows(s.samples, s.samples.c.msg_id == "b1:7")
    assert rows[0]["rtt_ms"] == 17.0 and rows[0]["link"] == "wifi" and rows[0]["member_id"] == "m1"


def test_incident_upsert_and_filters(store: Store) -> None:
    store.put("incident", _incident())
    store.put("incident", _incident(ended_at=1300.0, adjourned_s=300.0))
    store.put(
        "incident",
        _incident(
            id="ks:m2:mobile_data:1100",
            member_id="m2",
            device_id="d2",
            kind="mobile_data",
            started_at=1100.0,
            peak_severity="warning",
        ),
    )
    assert store.flush(10)
    rows = store.incidents()
    assert [r["id"] for r in rows] == ["ks:m1:connection_lost:1000", "ks:m2:mobile_data:1100"]
    assert rows[0]["ended_at"] == 1300.0 and rows[0]["metrics"] == {"rtt_ms_max": 40.0}
    assert [r["member_id"] for r in store.incidents(kind="mobile_data")] == ["m2"]
    assert [r["member_id"] for r in store.incidents(member="m1")] == ["m1"]
    assert store.incidents(since=1400.0) == [store.incidents(member="m2")[0]]  # m2 is still open
    assert store.incidents(until=999.0) == []


def test_snapshot_roundtrip(store: Store) -> None:
    assert store.load_snapshot() is None
    store.put("snapshot", {"id": 1, "at": 1.0, "blob": b"one"})
    store.put("snapshot", {"id": 1, "at": 2.0, "blob": b"two"})
    assert store.flush(10)
    assert store.load_snapshot() == b"two"


def test_purge_and_forget(store: Store) -> None:
    now = time.time()
    old, new = now - 100 * 86_400, now - 10
    for i, (member, at) in enumerate([("m1", old), ("m1", new), ("m2", new)]):
        store.put(
            "sample",
            sample_row(sample(f"d-{member}", boot_id="b", seq=i), member_id=member, outcome="accepted", received_at=at),
        )
    store.put("incident", _incident(started_at=old, ended_at=old + 60))
    store.put("incident", _incident(id="x2", member_id="m2", device_id="d-m2", started_at=new, ended_at=None))
    store.put(
        "state_change",
        {
            "at": new,
            "meeting_id": "ks",
            "member_id": "m1",
            "device_id": "d-m1",
            "old": "ok",
            "new": "lost",
            "reason": None,
        },
    )
    assert store.flush(10)
    deleted = retention.purge(store, now, samples_days=90, incidents_days=30)
    assert deleted["samples"] == 1 and deleted["incidents"] == 1
    assert store.count(s.samples) == 2
    gone = retention.forget_member(store, "m1")
    assert gone["samples"] == 1 and gone["state_changes"] == 1
    assert {r["member_id"] for r in store.rows(s.samples)} == {"m2"}
    assert [r["member_id"] for r in store.incidents()] == ["m2"]


def test_full_queue_drops_are_counted_never_blocks(tmp_path: Path) -> None:
    st = Store(f"sqlite:///{tmp_path / 'q.db'}", queue_max=10)  # not started: nothing drains
    t0 = time.monotonic()
    results = [
        st.put("sample", sample_row(sample("d", seq=i), member_id=None, outcome="accepted", received_at=1.0))
        for i in range(25)
    ]
    assert time.monotonic() - t0 < 0.5
    assert results.count(True) == 10 and st.stats.dropped == 15


def test_database_down_then_back_writes_catch_up(postgres_server: Postgres) -> None:
    """PostgreSQL stops while rows arrive: put() stays non-blocking, the writer retries, and
    every row lands once the server is back."""
    url = postgres_server.create_database(f"outage_{int(time.time() * 1000) % 10**8}")
    st = Store(url, flush_interval_s=0.05, retry_max_s=0.5)
    st.start()
    try:
        postgres_server.stop()
        t0 = time.monotonic()
        for i in range(200):
            assert st.put(
                "sample",
                sample_row(
                    sample("d1", boot_id="down", seq=i), member_id="m1", outcome="accepted", received_at=time.time()
                ),
            )
        assert time.monotonic() - t0 < 1.0
        assert not st.flush(1.5)  # nothing can be written now
        assert st.stats.failures >= 1 and not st.stats.connected
        postgres_server.start()
        assert st.flush(20)
        assert st.count(s.samples) == 200 and st.stats.connected and st.stats.dropped == 0
    finally:
        if postgres_server.proc is None:
            postgres_server.start()
        st.stop()


def test_migrations_match_the_schema(store: Store) -> None:
    """After the migrations ran, the database has exactly the tables and columns of schema.py:
    a schema change without a migration fails here (on SQLite and PostgreSQL)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), s.metadata)
    assert diff == []
