"""Pure mapping: engine changes and ingested messages -> typed store rows and InfluxDB points.

No I/O and no clock: :mod:`collector.runtime.core` calls these with the lock held and hands the
results to the store's queue (``Store.put(row.op, row.as_dict())``) and the InfluxDB buffer. The
row types name the ``collector/store/schema.py`` columns they fill; the points are line protocol
from ``collector/store/influx.py`` (docs/influx-schema.md).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import msgspec

from collector.engine import (
    ActionRecorded,
    Incident,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    MeetingView,
    StateChanged,
    VerdictChanged,
)
from collector.store import influx as fx
from collector.store.schema import SAMPLE_NUMERIC_FIELDS
from likavillkor import wire

#: a meeting's body (kommun, nämnd) for the points' ``body`` tag; "" for a meeting on no roster
BodyOf = Callable[[str], str]


class Row(msgspec.Struct, kw_only=True):
    """One row for one store table; ``op`` is the :meth:`collector.store.Store.put` operation."""

    op: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class StateChangeRow(Row, kw_only=True):
    op: ClassVar[str] = "state_change"
    at: float
    meeting_id: str
    member_id: str
    device_id: str
    old: str
    new: str
    reason: Any  # the engine's Reason as builtins (JSON column), or None


class VerdictRow(Row, kw_only=True):
    op: ClassVar[str] = "verdict"
    at: float
    meeting_id: str
    old: str
    new: str
    reasons: list[Any]


class IncidentRow(Row, kw_only=True):
    op: ClassVar[str] = "incident"
    id: str
    meeting_id: str
    body: str
    member_id: str
    device_id: str
    kind: str
    started_at: float
    ended_at: float | None
    peak_severity: str
    adjourned: bool
    adjourned_s: float
    substitute_called: bool
    metrics: dict[str, float]


class ActionRow(Row, kw_only=True):
    op: ClassVar[str] = "action"
    meeting_id: str
    kind: str
    at: float
    by: str
    member_id: str | None
    item: str | None
    note: str | None
    substitute_id: str | None = None


class SelftestRow(Row, kw_only=True):
    op: ClassVar[str] = "selftest"
    device_id: str
    member_id: str | None
    meeting_id: str | None
    msg_id: str
    received_at: float
    source: str
    overall: str
    checks: Any


class DeviceRow(Row, kw_only=True):
    op: ClassVar[str] = "device"
    device_id: str
    member_id: str | None
    known: bool
    last_seen: float
    last_status: str | None


class MediapathRow(Row, kw_only=True):
    op: ClassVar[str] = "mediapath"
    device_id: str
    member_id: str | None
    meeting_id: str | None
    at: float
    result: dict[str, Any]


class Record(msgspec.Struct, frozen=True):
    """What one engine change becomes: a row, and a point unless InfluxDB has no measurement for it."""

    row: Row
    point: str | None = None


# -- engine changes ---------------------------------------------------------------------------------
def incident_row(inc: Incident) -> IncidentRow:
    return IncidentRow(
        id=inc.id,
        meeting_id=inc.meeting_id,
        body=inc.body,
        member_id=inc.member_id,
        device_id=inc.device_id,
        kind=inc.kind,
        started_at=inc.started_at,
        ended_at=inc.ended_at,
        peak_severity=inc.peak_severity,
        adjourned=inc.adjourned,
        adjourned_s=inc.adjourned_s,
        substitute_called=inc.substitute_called,
        metrics=dict(inc.metrics),
    )


def _state(ch: StateChanged, body_of: BodyOf) -> Record:
    row = StateChangeRow(
        at=ch.at,
        meeting_id=ch.meeting_id,
        member_id=ch.member_id,
        device_id=ch.device_id,
        old=str(ch.old),
        new=str(ch.new),
        reason=msgspec.to_builtins(ch.reason),
    )
    point = fx.participant_state_line(
        meeting_id=ch.meeting_id,
        body=body_of(ch.meeting_id),
        member_id=ch.member_id,
        device_id=ch.device_id,
        state=str(ch.new),
        lost_for_s=None,
        substitute_in_s=None,
        at=ch.at,
    )
    return Record(row, point)


def _verdict(ch: VerdictChanged, body_of: BodyOf) -> Record:
    row = VerdictRow(
        at=ch.at, meeting_id=ch.meeting_id, old=str(ch.old), new=str(ch.new), reasons=msgspec.to_builtins(ch.reasons)
    )
    point = fx.meeting_verdict_line(
        meeting_id=ch.meeting_id,
        body=body_of(ch.meeting_id),
        verdict=str(ch.new),
        adjourned=str(ch.new) == "adjourn",
        at=ch.at,
    )
    return Record(row, point)


def _incident(ch: IncidentOpened | IncidentUpdated | IncidentClosed, now: float) -> Record:
    """An update is stored (the row is replaced by id) but not a point: the measurement has
    ``opened`` and ``closed`` events only (docs/influx-schema.md)."""
    inc = ch.incident
    if isinstance(ch, IncidentUpdated):
        return Record(incident_row(inc))
    if isinstance(ch, IncidentOpened):
        return Record(incident_row(inc), fx.incident_line(inc, event="opened", at=inc.started_at))
    return Record(incident_row(inc), fx.incident_line(inc, event="closed", at=inc.ended_at or now))


def _action(ch: ActionRecorded) -> Record:
    a = ch.action
    return Record(
        ActionRow(
            meeting_id=a.meeting_id,
            kind=str(a.kind),
            at=a.at,
            by=a.by,
            member_id=a.member_id,
            item=a.item,
            note=a.note,
            substitute_id=a.substitute_id,
        )
    )


def record_of(change: Any, *, body_of: BodyOf, now: float) -> Record | None:
    """The row (and point) for one engine change; None for a kind nothing is recorded of.
    ``now`` dates the point of an incident closed without an end time."""
    if isinstance(change, StateChanged):
        return _state(change, body_of)
    if isinstance(change, VerdictChanged):
        return _verdict(change, body_of)
    if isinstance(change, IncidentOpened | IncidentUpdated | IncidentClosed):
        return _incident(change, now)
    if isinstance(change, ActionRecorded):
        return _action(change)
    return None


def records_of(changes: Iterable[Any], *, body_of: BodyOf, now: float) -> list[Record]:
    return [r for ch in changes if (r := record_of(ch, body_of=body_of, now=now)) is not None]


def current_state_points(view: MeetingView, now: float) -> list[str]:
    """The periodic ``meeting_verdict`` and ``participant_state`` points of one meeting's view,
    so dashboards show current values (``[influx] state_interval_s``)."""
    points = [
        fx.meeting_verdict_line(
            meeting_id=view.meeting_id,
            body=view.body,
            verdict=str(view.verdict),
            adjourned=view.adjourned_since is not None,
            at=now,
        )
    ]
    for p in view.participants:
        lost_for = now - p.lost_since if p.lost_since is not None else None
        points.append(
            fx.participant_state_line(
                meeting_id=view.meeting_id,
                body=view.body,
                member_id=p.member_id,
                device_id=p.device_id,
                state=str(p.state),
                lost_for_s=lost_for,
                substitute_in_s=p.substitute_in_s,
                at=now,
            )
        )
    return [p for p in points if p is not None]


# -- ingested messages ------------------------------------------------------------------------------
_sample_values = operator.attrgetter(
    "battery_charging", "probe_reachable", "camera", "microphone", *SAMPLE_NUMERIC_FIELDS
)


def sample_row(msg: wire.Sample, *, member_id: str | None, outcome: str, received_at: float) -> tuple[Any, ...]:
    """One ``samples`` row as a tuple in ``schema.SAMPLE_COLUMNS`` order (the store's fast path:
    one per member per second, so no Struct in between)."""
    link = msg.link
    return (
        msg.device_id,
        member_id,
        msg.meeting_id,
        f"{msg.boot_id}:{msg.seq}",
        received_at,
        msg.ts,
        outcome,
        outcome == "late",
        None if link is None else str(link),
        *_sample_values(msg),
    )


def selftest_row(msg: wire.SelftestResult, *, member_id: str | None, received_at: float) -> SelftestRow:
    return SelftestRow(
        device_id=msg.device_id,
        member_id=member_id,
        meeting_id=msg.meeting_id,
        msg_id=msg.msg_id,
        received_at=received_at,
        source=msg.source,
        overall=str(msg.overall),
        checks=msgspec.to_builtins(msg.checks),
    )
