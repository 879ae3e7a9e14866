"""The open incidents across meetings, and the HA adoption of the leader's incident ids (issue 17):
a standby that follows the leader (collector/ha/follow.py) takes the id and start of the same open
incident, so that after a takeover the incident is updated, not recorded twice. Pure functions over
the engine's meetings; :class:`~collector.engine.engine.Engine` delegates to them."""

from __future__ import annotations

from collections.abc import Mapping

from collector.engine import incidents as inc_
from collector.engine.records import MeetingRt
from collector.engine.types import Incident


def open_incidents(meetings: Mapping[str, MeetingRt]) -> list[Incident]:
    """A copy of every open incident."""
    return [
        inc_.copy(oi.incident)
        for mt in meetings.values()
        for m in mt.members.values()
        for oi in (m.incidents or {}).values()
    ]


def open_incident_ids(meetings: Mapping[str, MeetingRt]) -> dict[tuple[str, str, str], str]:
    """(meeting, member, kind) -> id of every open incident."""
    return {
        (mt.meeting.id, m.member_id, kind): oi.incident.id
        for mt in meetings.values()
        for m in mt.members.values()
        for kind, oi in (m.incidents or {}).items()
    }


def adopt_incident(
    meetings: Mapping[str, MeetingRt], meeting_id: str, member_id: str, kind: str, incident_id: str, started_at: float
) -> bool:
    """Take the leader's id and start for the same open incident here. False when none is open."""
    mt = meetings.get(meeting_id)
    m = mt.members.get(member_id) if mt is not None else None
    oi = (m.incidents or {}).get(kind) if m is not None else None
    if oi is None:
        return False
    oi.incident.id = incident_id
    oi.incident.started_at = started_at
    return True
