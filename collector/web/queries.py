"""Read-only queries for IT's pages (incidents, meeting history, devices that keep failing).

They read through ``collector.store.Store`` (SQLAlchemy Core), after flushing its write queue briefly
so a page shows what the engine has just decided.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
from fastapi import Query

from collector.store import schema
from collector.web import csvsafe

FLUSH_S = 1.0
INCIDENT_COLUMNS = (
    "id",
    "meeting_id",
    "body",
    "member_id",
    "device_id",
    "kind",
    "started_at",
    "ended_at",
    "peak_severity",
    "adjourned",
    "adjourned_s",
    "substitute_called",
    "metrics",
)


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    since: float | None = None
    until: float | None = None
    body: str | None = None
    member: str | None = None
    device: str | None = None
    kind: str | None = None
    meeting: str | None = None
    limit: int = 10_000

    @classmethod
    def from_query(
        cls,
        since: float | None = Query(None, description="epoch seconds"),
        until: float | None = Query(None, description="epoch seconds"),
        body: str | None = Query(None, max_length=200),
        member: str | None = Query(None, max_length=128),
        device: str | None = Query(None, max_length=64),
        kind: str | None = Query(None, max_length=64),
        meeting: str | None = Query(None, max_length=200),
        limit: int = Query(10_000, ge=1, le=100_000),
    ) -> IncidentFilter:
        blank = lambda v: v or None  # noqa: E731 - empty form fields mean "any"
        return cls(
            since=since,
            until=until,
            body=blank(body),
            member=blank(member),
            device=blank(device),
            kind=blank(kind),
            meeting=blank(meeting),
            limit=limit,
        )


def _flushed(store: Any) -> Any:
    if store is None:
        raise RuntimeError("no store")
    store.flush(FLUSH_S)
    return store


def _clean_incident(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in INCIDENT_COLUMNS}
    metrics = out.get("metrics") or {}
    if isinstance(metrics, str):
        metrics = json.loads(metrics)
    out["metrics"] = {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    out["adjourned"] = bool(out["adjourned"])
    out["substitute_called"] = bool(out["substitute_called"])
    return out


def incidents(store: Any, f: IncidentFilter) -> list[dict[str, Any]]:
    rows = _flushed(store).incidents(
        since=f.since,
        until=f.until,
        body=f.body,
        member=f.member,
        device=f.device,
        kind=f.kind,
        meeting=f.meeting,
        limit=f.limit,
    )
    return [_clean_incident(r) for r in rows]


def incidents_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(INCIDENT_COLUMNS)
    for r in rows:
        w.writerow(
            [
                json.dumps(r[c], sort_keys=True) if c == "metrics" else ("" if r[c] is None else r[c])
                for c in INCIDENT_COLUMNS
            ]
        )
    return buf.getvalue()


def store_incidents_csv(rows: list[dict[str, Any]]) -> str:
    """``Store.incidents`` rows as they come (``GET /api/incidents?format=csv``, ``likavillkor-collector
    incidents --format csv``); ``metrics`` as compact JSON."""
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(INCIDENT_COLUMNS)
    for r in rows:
        w.writerow(
            [
                msgspec.json.encode(r[c]).decode() if c == "metrics" else ("" if r[c] is None else r[c])
                for c in INCIDENT_COLUMNS
            ]
        )
    return buf.getvalue()


@dataclass
class MeetingHistory:
    actions: list[dict[str, Any]] = field(default_factory=list)
    state_changes: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)


def meeting_history(store: Any, meeting_id: str) -> MeetingHistory:
    s = _flushed(store)
    return MeetingHistory(
        actions=s.rows(schema.actions, schema.actions.c.meeting_id == meeting_id, order_by=schema.actions.c.at),
        state_changes=s.rows(
            schema.state_changes, schema.state_changes.c.meeting_id == meeting_id, order_by=schema.state_changes.c.at
        ),
        verdicts=s.rows(schema.verdicts, schema.verdicts.c.meeting_id == meeting_id, order_by=schema.verdicts.c.at),
        incidents=[_clean_incident(r) for r in s.incidents(meeting=meeting_id)],
    )


def failing_devices(store: Any, now: float, days: float, min_incidents: int) -> list[dict[str, Any]]:
    """Devices with at least ``min_incidents`` incidents in the last ``days``, most incidents first."""
    rows = _flushed(store).incidents(since=now - days * 86400)
    by_device: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = by_device.setdefault(
            r["device_id"],
            {
                "device_id": r["device_id"],
                "member_ids": set(),
                "incidents": 0,
                "failures": 0,
                "meetings": set(),
                "kinds": {},
                "last_at": 0.0,
            },
        )
        d["member_ids"].add(r["member_id"])
        d["incidents"] += 1
        d["failures"] += r["peak_severity"] == "failure"
        d["meetings"].add(r["meeting_id"])
        d["kinds"][r["kind"]] = d["kinds"].get(r["kind"], 0) + 1
        d["last_at"] = max(d["last_at"], r["started_at"])
    out = [
        {**d, "member_ids": sorted(d["member_ids"]), "meetings": len(d["meetings"])}
        for d in by_device.values()
        if d["incidents"] >= min_incidents
    ]
    return sorted(out, key=lambda d: (-d["incidents"], -d["failures"], d["device_id"]))
