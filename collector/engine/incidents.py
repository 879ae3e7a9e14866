"""Incidents: open, summarise and close them (the I/O layer stores them); the engine's glue
(:func:`sync`, :func:`close_all`, :func:`mark_adjourned`) appends the changes to ``out``.

An incident is one stretch of one condition for one participant ("mobile data 14:02–14:09").
It remembers its peak severity, whether the meeting was adjourned during it and for how long
(H2, H15), whether a substitute was called (H16), and min/max/mean of the metrics seen during it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from collector.engine.decide import Assessment, Phase
from collector.engine.records import MeetingRt, Member, OpenIncident
from collector.engine.types import Change, Incident, IncidentClosed, IncidentOpened, IncidentUpdated, ParticipantState
from likavillkor import wire

PS = ParticipantState

#: the metrics summarised over an incident
METRICS = ("rtt_ms", "loss_percent", "jitter_ms", "battery_percent")


def incident_id(meeting_id: str, member_id: str, kind: str, started_at: float) -> str:
    return f"{meeting_id}:{member_id}:{kind}:{int(started_at * 1000)}"


def overlap_s(start: float, end: float, intervals: Sequence[Sequence[float | None]]) -> float:
    """Seconds of [start, end] covered by the (adjournment) intervals; an open interval runs to end."""
    total = 0.0
    for a, b in intervals:
        lo = max(start, a if a is not None else start)
        hi = min(end, b if b is not None else end)
        if hi > lo:
            total += hi - lo
    return total


def accumulate(stats: dict[str, list[float]], sample: wire.Sample) -> None:
    """Fold one sample's metrics into running [min, max, sum, count]."""
    for name in METRICS:
        v = getattr(sample, name)
        if v is None:
            continue
        acc = stats.get(name)
        if acc is None:
            stats[name] = [v, v, v, 1.0]
        else:
            if v < acc[0]:
                acc[0] = v
            if v > acc[1]:
                acc[1] = v
            acc[2] += v
            acc[3] += 1.0


def summary(stats: dict[str, list[float]]) -> dict[str, float]:
    """``{"rtt_ms_min": .., "rtt_ms_max": .., "rtt_ms_mean": .., ...}``."""
    out: dict[str, float] = {}
    for name, (lo, hi, total, n) in sorted(stats.items()):
        out[f"{name}_min"] = lo
        out[f"{name}_max"] = hi
        out[f"{name}_mean"] = round(total / n, 3)
    return out


def severity_name(level: int) -> str:
    return "failure" if level >= 2 else "warning"


def refreshed(oi: OpenIncident, now: float, adjournments: Sequence[Sequence[float | None]]) -> Incident:
    """The incident with its adjournment time and metrics brought up to ``now``."""
    inc = oi.incident
    end = inc.ended_at if inc.ended_at is not None else now
    inc.adjourned_s = round(overlap_s(inc.started_at, end, adjournments), 3)
    inc.adjourned = inc.adjourned or inc.adjourned_s > 0
    inc.metrics = summary(oi.stats)
    return inc


def copy(incident: Incident) -> Incident:
    """A copy for a change record: the open incident keeps changing."""
    return msgspec.structs.replace(incident, metrics=dict(incident.metrics))


def mark_adjourned(mt: MeetingRt, t: float, out: list[Change]) -> None:
    for m in mt.members.values():
        for oi in (m.incidents or {}).values():
            refreshed(oi, t, mt.adjournments)
            oi.incident.adjourned = True
            out.append(IncidentUpdated(incident=copy(oi.incident)))


def sync(mt: MeetingRt, m: Member, a: Assessment, now: float, phase: Phase, out: list[Change]) -> None:
    conds = a.conditions if phase in (Phase.PRE, Phase.RUNNING) else {}
    if not conds and not m.incidents:
        return
    if m.incidents is None:
        m.incidents = {}
    for kind, level in conds.items():
        oi = m.incidents.get(kind)
        if oi is None:
            started = a.lost_since if kind == "connection_lost" and a.lost_since is not None else now
            incident = Incident(
                id=incident_id(mt.meeting.id, m.member_id, kind, started),
                meeting_id=mt.meeting.id,
                body=mt.meeting.body,
                member_id=m.member_id,
                device_id=m.device_id,
                kind=kind,
                started_at=started,
                ended_at=None,
                peak_severity=severity_name(level),
                adjourned=mt.adjourned_since is not None,
                adjourned_s=0.0,
                substitute_called=a.state is PS.REPLACED,
                metrics={},
            )
            oi = m.incidents[kind] = OpenIncident(incident)
            if m.sample is not None:
                accumulate(oi.stats, m.sample)
            refreshed(oi, now, mt.adjournments)
            out.append(IncidentOpened(incident=copy(incident)))
            continue
        incident = oi.incident
        worse = level >= 2 and incident.peak_severity != "failure"
        called = a.state is PS.REPLACED and not incident.substitute_called
        if worse or called:
            if worse:
                incident.peak_severity = "failure"
            if called:
                incident.substitute_called = True
            refreshed(oi, now, mt.adjournments)
            out.append(IncidentUpdated(incident=copy(incident)))
    for kind in [k for k in m.incidents if k not in conds]:
        close(mt, m, kind, now, out)
    if not m.incidents:
        m.incidents = None


def close(mt: MeetingRt, m: Member, kind: str, now: float, out: list[Change]) -> None:
    assert m.incidents is not None
    oi = m.incidents.pop(kind)
    oi.incident.ended_at = max(now, oi.incident.started_at)
    refreshed(oi, now, mt.adjournments)
    out.append(IncidentClosed(incident=copy(oi.incident)))


def close_all(mt: MeetingRt, m: Member, now: float, out: list[Change]) -> None:
    if m.incidents:
        for kind in list(m.incidents):
            close(mt, m, kind, now, out)
    m.incidents = None
