"""Read-only queries for IT's pages (incidents, meeting history, devices that keep failing).

They read through ``collector.store.Store`` (SQLAlchemy Core), after flushing its write queue briefly
so a page shows what the engine has just decided.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from fastapi import Query

from collector.store import schema
from collector.web import csvsafe, i18n
from likavillkor.roster import Roster

STOCKHOLM = ZoneInfo("Europe/Stockholm")

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
    #: Stockholm days from the page's date pickers (``YYYY-MM-DD``), inclusive; they set since/until
    from_date: str | None = None
    to_date: str | None = None
    #: a date that could not be read (the page says so; the filter then ignores it)
    bad_dates: tuple[str, ...] = ()

    @classmethod
    def from_query(
        cls,
        since: float | None = Query(None, description="epoch seconds"),
        until: float | None = Query(None, description="epoch seconds"),
        from_date: str | None = Query(None, max_length=32, alias="from", description="first day, YYYY-MM-DD"),
        to_date: str | None = Query(None, max_length=32, alias="to", description="last day, YYYY-MM-DD"),
        body: str | None = Query(None, max_length=200),
        member: str | None = Query(None, max_length=128),
        device: str | None = Query(None, max_length=64),
        kind: str | None = Query(None, max_length=64),
        meeting: str | None = Query(None, max_length=200),
        limit: int = Query(10_000, ge=1, le=100_000),
    ) -> IncidentFilter:
        blank = lambda v: v.strip() or None if v else None  # noqa: E731 - empty form fields mean "any"
        bad: list[str] = []
        from_date, to_date = blank(from_date), blank(to_date)
        if from_date:
            try:
                since = day_start(from_date)
            except ValueError:
                bad.append(from_date)
        if to_date:
            try:
                until = day_start(to_date, days_after=1) - 0.001
            except ValueError:
                bad.append(to_date)
        return cls(
            since=since,
            until=until,
            from_date=from_date,
            to_date=to_date,
            bad_dates=tuple(bad),
            body=blank(body),
            member=blank(member),
            device=blank(device),
            kind=blank(kind),
            meeting=blank(meeting),
            limit=limit,
        )


def day_start(day: str, days_after: int = 0) -> float:
    """Midnight in Stockholm of ``YYYY-MM-DD`` (plus ``days_after`` days), as epoch seconds."""
    d = dt.date.fromisoformat(day.strip()[:10]) + dt.timedelta(days=days_after)
    if not 2000 <= d.year <= 2100:
        raise ValueError(f"date out of range: {day!r}")
    return dt.datetime(d.year, d.month, d.day, tzinfo=STOCKHOLM).timestamp()


def iso_local(t: float | None) -> str:
    """ISO 8601 in Stockholm time with its offset (``2026-12-01T09:00:00+01:00``); "" for none."""
    return "" if t is None else dt.datetime.fromtimestamp(t, STOCKHOLM).isoformat(timespec="seconds")


def day_of(t: float | None) -> str:
    return "" if t is None else dt.datetime.fromtimestamp(t, STOCKHOLM).date().isoformat()


@dataclass(frozen=True, slots=True)
class Names:
    """Who and what the roster names: the incident filter's suggestions and the pages' names."""

    members: dict[str, str]  # member id -> name
    bodies: tuple[str, ...]
    devices: tuple[str, ...]

    @classmethod
    def of(cls, roster: Roster) -> Names:
        members: dict[str, str] = {}
        bodies: set[str] = set()
        devices: set[str] = set(roster.devices)
        for m in roster.meetings.values():
            bodies.add(m.body)
            for p in m.participants:
                members.setdefault(p.member_id, p.name)
                devices.add(p.device_id)
        return cls(
            dict(sorted(members.items(), key=lambda kv: kv[1].casefold())),
            tuple(sorted(bodies)),
            tuple(sorted(devices)),
        )

    def name(self, member_id: str | None) -> str:
        return self.members.get(member_id or "", member_id or "")


def matching(text: str, candidates: Iterable[tuple[str, str]]) -> set[str]:
    """The keys whose key or label holds ``text``, case-insensitively (Swedish letters included)."""
    needle = text.casefold().strip()
    return {key for key, label in candidates if needle in key.casefold() or needle in label.casefold()}


def by_names(rows: list[dict[str, Any]], f: IncidentFilter, names: Names) -> list[dict[str, Any]]:
    """Narrow ``rows`` by the filter's member, body and device text: by name or id, any case, a part
    of it is enough ("anna" finds Anna Andersson); rows of ids the roster no longer names match by id."""
    for col, text, cands in (
        ("member_id", f.member, lambda ids: [(k, names.members.get(k, k)) for k in ids]),
        ("body", f.body, lambda vals: [(v, v) for v in vals]),
        ("device_id", f.device, lambda vals: [(v, v) for v in vals]),
    ):
        if text:
            keys = matching(text, cands({str(r[col]) for r in rows}))
            rows = [r for r in rows if str(r[col]) in keys]
    return rows


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


def incidents(store: Any, f: IncidentFilter, names: Names | None = None) -> list[dict[str, Any]]:
    """The incidents the filter asks for. With ``names`` (the page), member, body and device are
    matched by name or id, case-insensitively (:func:`by_names`); without, exactly (the API)."""
    loose = names is not None
    rows = _flushed(store).incidents(
        since=f.since,
        until=f.until,
        body=None if loose else f.body,
        member=None if loose else f.member,
        device=None if loose else f.device,
        kind=f.kind,
        meeting=f.meeting,
        limit=f.limit,
    )
    out = [_clean_incident(r) for r in rows]
    return by_names(out, f, names) if names is not None else out


#: the page's CSV: plain columns a spreadsheet reads as they are (issue 15)
PLAIN_COLUMNS = (
    "id",
    "meeting_id",
    "body",
    "member",
    "member_id",
    "device_id",
    "kind",
    "kind_text",
    "started",
    "ended",
    "duration_s",
    "severity",
    "adjourned",
    "adjourned_s",
    "substitute_called",
)


def incidents_csv(rows: list[dict[str, Any]], names: Names | None = None, lang: str = "sv") -> str:
    """Incidents as CSV: ISO 8601 Stockholm times with offset, names beside ids, kinds and severities
    in words, one column per metric (``metric_<name>``), never epoch seconds or JSON; every text cell
    formula-neutralised (csvsafe)."""
    metric_names = sorted({k for r in rows for k in (r.get("metrics") or {})})
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow([*PLAIN_COLUMNS, *(f"metric_{m}" for m in metric_names)])
    yes, no = i18n.t("yes", lang), i18n.t("no", lang)
    for r in rows:
        end = r.get("ended_at")
        w.writerow(
            [
                r["id"],
                r["meeting_id"],
                r["body"],
                names.name(r["member_id"]) if names else r["member_id"],
                r["member_id"],
                r["device_id"],
                r["kind"],
                i18n.t(f"incident.{r['kind']}", lang),
                iso_local(r["started_at"]),
                iso_local(end),
                "" if end is None else round(end - r["started_at"], 1),
                i18n.t(f"severity.{r['peak_severity']}", lang),
                yes if r["adjourned"] else no,
                "" if r.get("adjourned_s") is None else round(r["adjourned_s"], 1),
                yes if r["substitute_called"] else no,
                *("" if (v := (r.get("metrics") or {}).get(m)) is None else v for m in metric_names),
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


def unknown_devices(health: dict[str, Any]) -> list[dict[str, Any]]:
    """Devices that published on no roster (H12), newest first: ``/api/health``'s ``unknown_devices``."""
    seen = health.get("unknown_devices") or {}
    out = [
        {
            "device_id": str(d),
            "first_seen": float(v.get("first_seen", 0.0)),
            "last_seen": float(v.get("last_seen", 0.0)),
            "count": int(v.get("count", 0)),
        }
        for d, v in seen.items()
        if isinstance(v, dict)
    ]
    return sorted(out, key=lambda d: (-d["last_seen"], d["device_id"]))


def unknown_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(("device_id", "first_seen", "last_seen", "messages"))
    for r in rows:
        w.writerow((r["device_id"], iso_local(r["first_seen"]), iso_local(r["last_seen"]), r["count"]))
    return buf.getvalue()


def failing_csv(rows: list[dict[str, Any]], names: Names, lang: str = "sv") -> str:
    """Devices that keep failing: members by name, kinds in words with their counts, ISO local times."""
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(("device_id", "members", "member_ids", "incidents", "failures", "meetings", "kinds", "last"))
    for d in rows:
        kinds = "; ".join(f"{i18n.t(f'incident.{k}', lang)} × {n}" for k, n in sorted(d["kinds"].items()))
        w.writerow(
            (
                d["device_id"],
                ", ".join(names.name(m) for m in d["member_ids"]),
                " ".join(d["member_ids"]),
                d["incidents"],
                d["failures"],
                d["meetings"],
                kinds,
                iso_local(d["last_at"]),
            )
        )
    return buf.getvalue()
