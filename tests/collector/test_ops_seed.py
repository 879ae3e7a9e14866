"""Shared rows for the operator tests (no tests here): two members with a bit of everything that
names a member — samples, self-tests, media path results, incidents, state changes, actions,
verdict reasons, devices and the engine snapshot."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from collector.planning import records
from collector.store import Store
from collector.store import schema as s

MEMBERS = {"m1": "d1", "m2": "d2"}


def sample_tuple(device_id: str, member_id: str | None, msg_id: str, at: float) -> tuple[Any, ...]:
    """A queued sample row in ``schema.SAMPLE_COLUMNS`` order (the writer's hot-path shape)."""
    row: dict[str, Any] = {c: None for c in s.SAMPLE_COLUMNS}
    row.update(
        device_id=device_id,
        member_id=member_id,
        meeting_id="ks",
        msg_id=msg_id,
        received_at=at,
        device_ts=at - 0.1,
        outcome="accepted",
        late=False,
        link="wifi",
        rtt_ms=20.0,
        loss_percent=0.5,
    )
    return tuple(row[c] for c in s.SAMPLE_COLUMNS)


def put_member(store: Store, member: str, device: str, at: float, *, tag: str = "") -> None:
    """One of each personal-data row for ``member`` at time ``at``."""
    store.put("sample", sample_tuple(device, member, f"{tag}s-{at}", at))
    store.put(
        "selftest",
        {
            "device_id": device,
            "member_id": member,
            "meeting_id": "ks",
            "msg_id": f"{tag}t-{at}",
            "received_at": at,
            "source": "scheduled",
            "overall": "pass",
            "checks": [{"id": "cam"}],
        },
    )
    store.put(
        "mediapath",
        {"device_id": device, "member_id": member, "meeting_id": "ks", "at": at, "result": {"rtt_ms": 30.0}},
    )
    store.put(
        "incident",
        {
            "id": f"ks:{member}:connection_lost:{tag}{at}",
            "meeting_id": "ks",
            "body": "kommunstyrelsen",
            "member_id": member,
            "device_id": device,
            "kind": "connection_lost",
            "started_at": at - 120,
            "ended_at": at,
            "peak_severity": "failure",
            "adjourned": True,
            "adjourned_s": 60.0,
            "substitute_called": False,
            "metrics": {"rtt_ms_max": 400.0},
        },
    )
    store.put(
        "state_change",
        {
            "at": at,
            "meeting_id": "ks",
            "member_id": member,
            "device_id": device,
            "old": "ok",
            "new": "lost",
            "reason": {"code": "silence"},
        },
    )
    store.put(
        "action",
        {
            "meeting_id": "ks",
            "kind": "excuse",
            "at": at,
            "by": "secretary",
            "member_id": member,
            "item": "3",
            "note": None,
        },
    )
    store.put("device", {"device_id": device, "member_id": member, "known": True, "last_seen": at, "last_status": "ok"})


def put_meeting(store: Store, at: float) -> None:
    """Meeting-level rows: an adjournment (no member) and a verdict whose reasons name both members."""
    store.put(
        "action",
        {
            "meeting_id": "ks",
            "kind": "adjourn",
            "at": at,
            "by": "chair",
            "member_id": None,
            "item": None,
            "note": "H15",
        },
    )
    store.put(
        "verdict",
        {
            "at": at,
            "meeting_id": "ks",
            "old": "equal_terms",
            "new": "adjourn",
            "reasons": [
                {"code": "silence", "sv": "Ledamot 1: ingen kontakt", "en": "Member 1: no contact", "member_id": "m1"},
                {"code": "silence", "sv": "Ledamot 2: ingen kontakt", "en": "Member 2: no contact", "member_id": "m2"},
                {"code": "adjourned", "sv": "Ajournerat", "en": "Adjourned"},
            ],
        },
    )
    store.put("snapshot", {"id": 1, "at": at, "blob": b"\x82\xa2m1\xa2d1\xa2m2\xa2d2"})


def seed(url: str, at: float = 1_790_000_000.0) -> None:
    """Migrate ``url`` and write both members' rows through the real writer."""
    store = Store(url, flush_interval_s=0.02)
    store.start()
    try:
        for i, (member, device) in enumerate(MEMBERS.items()):
            for k in range(3):
                put_member(store, member, device, at + 10 * k + i, tag=f"{k}-")
        put_meeting(store, at)
        assert store.flush(10)
        for member in MEMBERS:  # an invitation sent to each (H7): personal, purged and forgotten too
            records.claim(store.engine, "ks", member, f"{member}@example.org", at=at, by="secretary")
    finally:
        store.stop()


def table_dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every collector table's rows, ordered by primary key (for before/after comparisons)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in s.metadata.sorted_tables
            }
    finally:
        engine.dispose()
