"""Retention (``[retention]``): every table that names a member or a device is purged, with the
clock injected (``now``): rows just past their period go, rows just inside it stay, open incidents
stay whatever their age."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import RetentionSection
from collector.planning import records
from collector.store import Store, retention
from collector.store import schema as s
from tests.collector.conftest import RuntimeFactory
from tests.collector.test_ops_seed import put_meeting, put_member, table_dump

NOW = 1_800_000_000.0
DAY = retention.DAY_S


def test_every_table_naming_a_member_or_device_has_a_retention_period() -> None:
    personal = {t.name for t in s.metadata.sorted_tables if {"member_id", "device_id"} & set(t.c.keys())}
    personal.add("verdicts")  # its reasons name members (collector.engine.reasons.member_state)
    assert personal == set(retention.PERSONAL_TABLES)
    defaults = RetentionSection()
    assert all(hasattr(defaults, setting) for setting in retention.PERSONAL_TABLES.values())
    assert 0 < defaults.samples_days <= defaults.incidents_days


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'r.db'}", flush_interval_s=0.02)
    st.start()
    yield st
    st.stop()


def test_purge_with_an_injected_clock_removes_old_rows_and_keeps_recent(store: Store, tmp_path: Path) -> None:
    r = RetentionSection()
    samples_s, incidents_s = r.samples_days * DAY, r.incidents_days * DAY
    # just outside and just inside each period; "mid" is old for samples but recent for incidents
    put_member(store, "old", "d-old", NOW - incidents_s - 60, tag="o")
    put_member(store, "mid", "d-mid", NOW - samples_s - 60, tag="m")
    put_member(store, "new", "d-new", NOW - samples_s + 60, tag="n")
    put_meeting(store, NOW - incidents_s - 60)
    store.put(
        "incident",
        {
            "id": "open",
            "meeting_id": "ks",
            "body": "kommunstyrelsen",
            "member_id": "old",
            "device_id": "d-old",
            "kind": "connection_lost",
            "started_at": NOW - incidents_s - 999,
            "ended_at": None,
            "peak_severity": "failure",
            "adjourned": False,
            "adjourned_s": 0.0,
            "substitute_called": False,
            "metrics": {},
        },
    )
    for member, at in (("old", NOW - incidents_s - 60), ("mid", NOW - samples_s - 60), ("new", NOW - 60)):
        records.claim(store.engine, "ks", member, f"{member}@example.org", at=at, by="sekr")  # H7
    assert store.flush(10)
    deleted = retention.purge(store, NOW, samples_days=r.samples_days, incidents_days=r.incidents_days)
    left = table_dump(f"sqlite:///{tmp_path / 'r.db'}")

    def members(table: str) -> set[str]:
        return {row["member_id"] for row in left[table]}

    for table in ("samples", "selftests", "mediapath", "devices"):  # samples_days
        assert members(table) == {"new"}, table
    for table in ("state_changes", "actions", "invitations"):  # incidents_days
        assert members(table) == {"mid", "new"}, table
    assert {(row["member_id"], row["ended_at"] is None) for row in left["incidents"]} == {
        ("mid", False),
        ("new", False),
        ("old", True),
    }  # the open one stays
    assert left["verdicts"] == []
    assert deleted == {
        "samples": 2,
        "selftests": 2,
        "mediapath": 2,
        "devices": 2,
        "incidents": 1,
        "state_changes": 1,
        "verdicts": 1,
        "actions": 2,
        "invitations": 1,
    }


def test_purge_of_nothing_old_deletes_nothing(store: Store) -> None:
    put_member(store, "new", "d-new", NOW - 10)
    assert store.flush(10)
    deleted = retention.purge(store, NOW, samples_days=90, incidents_days=730)
    assert set(deleted.values()) == {0} and store.count(s.samples) == 1


def test_the_runtimes_purge_logs_what_it_deleted(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting personal data is logged (issue 16): one line per purge that deleted something, with
    the periods and the counts per table; a purge that found nothing old stays quiet."""
    import logging
    import time

    rt = make_runtime([], name="purge")
    with caplog.at_level(logging.INFO, logger="collector.runtime.housekeeping"):
        rt.purge()
        assert not [r for r in caplog.records if "retention purge" in r.getMessage()]
        put_member(rt.store, "gone", "d-gone", time.time() - 800 * DAY, tag="g")
        assert rt.store.flush(10)
        rt.purge()
    lines = [r.getMessage() for r in caplog.records if "retention purge" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "samples 90 d, incidents 730 d" in lines[0] and "samples 1" in lines[0] and "incidents 1" in lines[0]
