"""Public types of the equal-terms engine: states, verdicts, views, actions, incidents, changes.

Everything here is a ``msgspec.Struct`` (kw_only, encodes straight to JSON for the API and the
live view) or a ``StrEnum``. Times are epoch seconds on the collector's clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class ParticipantState(StrEnum):
    """One remote participant's state in one meeting (issue 5)."""

    EXPECTED = "expected"  # on the roster, not yet connected
    CONNECTED = "connected"  # online before the start, nothing judged yet
    READY = "ready"  # self-test passed before the start (H8, H9)
    OK = "ok"  # equal terms hold (H1)
    DEGRADED = "degraded"  # a warning: equal terms still hold
    FAILING = "failing"  # equal terms broken: cannot reliably be seen or heard (H2)
    LOST = "lost"  # no contact (H15)
    REPLACED = "replaced"  # not back within five minutes: a substitute steps in (H16)
    EXCUSED = "excused"  # planned absence for a conflict of interest (H18)
    LEFT = "left"  # left the meeting
    NOT_MONITORED = "not_monitored"  # nothing watches her now (no agent, companion page hidden/closed): H13


class Verdict(StrEnum):
    NOT_STARTED = "not_started"  # before the meeting window
    EQUAL_TERMS = "equal_terms"
    AT_RISK = "at_risk"  # someone degraded
    ADJOURN = "adjourn"  # someone failing or lost (H2, H15)
    SUBSTITUTE_DUE = "substitute_due"  # lost for five minutes, not yet handled (H16)
    MONITORING_INTERRUPTED = "monitoring_interrupted"  # the collector lost the broker: never "everyone lost"
    NOT_ALL_MONITORED = "not_all_monitored"  # nothing wrong seen, but someone is not monitored: roll call (H13)
    ENDED = "ended"


class Reason(msgspec.Struct, kw_only=True, frozen=True):
    code: str  # stable: "no_contact", "loss_percent", "mobile_data", "hotspot", "will", ...
    sv: str  # "ingen kontakt sedan 14:02:11", "paketförlust 14 %", "mobildata"
    en: str
    rule: str | None = None  # "H15"
    member_id: str | None = None


class SelftestSummary(msgspec.Struct, kw_only=True):
    overall: str
    at: float
    source: str
    failed: list[str] = []  # ids of failed checks


class ParticipantView(msgspec.Struct, kw_only=True):
    member_id: str
    name: str
    role: str
    device_id: str
    state: ParticipantState
    since: float
    reason: Reason | None  # the main reason for the state
    reasons: list[Reason]  # all current reasons
    last_contact: float | None  # collector clock
    lost_since: float | None
    substitute_in_s: float | None  # five-minute countdown (H16), remaining seconds while lost
    flags: list[str]  # "late_connect" (H8), "may_not_return" (H16), "vote_risk" (H5)
    link: str | None
    battery_percent: float | None
    battery_charging: bool | None
    rtt_ms: float | None
    jitter_ms: float | None
    loss_percent: float | None
    mos: float | None
    selftest: SelftestSummary | None
    mediapath: dict[str, Any] | None  # latest media path check result (H13 roll-call helper)
    monitoring: str = "agent"  # how she is watched (roster): "agent" | "browser" | "none"
    companion_open: bool = False  # her companion page is open and visible (monitoring "browser")
    #: takes part in the decisions (H16): a ledamot, or an ersättare who serves (tjänstgörande)
    serving: bool = True
    substitute_for: str | None = None  # the member this ersättare stepped in for (H16)
    substituted_by: str | None = None  # the ersättare who stepped in for this member (H16)
    #: the chair recorded that she, without contact with her device, is still present in the meeting
    #: program (H16, issue 15): until then she is not shown as lost; why, in the chair's words
    present_until: float | None = None
    present_reason: str | None = None
    #: the roll call (H13, issue 15): when she was called, and what held: "answered", "seen", "heard"
    roll_call_at: float | None = None
    roll_call: list[str] | None = None


class MeetingView(msgspec.Struct, kw_only=True):
    meeting_id: str
    body: str
    system: str
    room: str
    start: float
    end: float
    secret: bool
    verdict: Verdict
    reasons: list[Reason]  # why
    monitoring: str  # "active" | "interrupted"
    adjourned_since: float | None
    vote_running: bool
    agenda_item: str | None
    participants: list[ParticipantView]
    #: the meeting's phase: "closed" | "pre" | "running" | "ended" (issue 15: no Ajournera before the start)
    phase: str = "running"
    #: H8: remote members connect by then (start - connect_early_s)
    connect_by: float = 0.0
    #: while adjourned (H15): the names of the members the meeting waits for, and when the first
    #: one's five minutes run out (H16); None when nobody's clock runs
    waiting_for: list[str] = []
    five_minutes_at: float | None = None
    #: H12: devices on no roster heard in this meeting's window (start - watch_before_s .. end)
    unknown_devices: list[str] = []
    at: float  # the `now` the view was computed for (the last field: the live view's change key)


class ActionKind(StrEnum):
    """What the chair or secretary records (H5, H18), with time and who."""

    ADJOURN = "adjourn"
    RESUME = "resume"
    VOTE_START = "vote_start"
    VOTE_END = "vote_end"
    ITEM_START = "item_start"
    EXCUSE = "excuse"
    RETURN = "return"
    LEFT = "left"
    #: H16: the chair records which ersättare (``substitute_id``, on this meeting's roster) steps in
    #: for a replaced ledamot or serving ersättare (``member_id``); she serves from then on
    SUBSTITUTE = "substitute"
    #: H16 (issue 15): the member lost the agent's contact but is still present in the meeting program
    #: (``note``: why, required); holds for ``present_hold_s`` (policy) unless her device is heard again
    PRESENT = "present"
    #: H13 (issue 15): the roll call of ``member_id``; ``note``: what held, comma-separated from
    #: "answered", "seen", "heard" (empty: she did not answer)
    ROLL_CALL = "roll_call"
    #: H17: the member herself tells the chair, through her personal link, that she does not take
    #: part on equal terms (``by`` is "member:<member_id>"); shown in the banner until the chair resumes
    UNEQUAL_TERMS = "unequal_terms"


class Action(msgspec.Struct, kw_only=True):
    meeting_id: str
    kind: ActionKind
    at: float
    by: str
    member_id: str | None = None
    item: str | None = None
    note: str | None = None
    substitute_id: str | None = None  # SUBSTITUTE: the ersättare who steps in (H16)


class Incident(msgspec.Struct, kw_only=True):
    id: str  # f"{meeting_id}:{member_id}:{kind}:{int(started_at*1000)}"
    meeting_id: str
    body: str
    member_id: str
    device_id: str
    kind: str  # IncidentKind value
    started_at: float
    ended_at: float | None
    peak_severity: str  # "warning" | "failure"
    adjourned: bool
    adjourned_s: float
    substitute_called: bool
    metrics: dict[str, float]  # min/max/mean of rtt_ms, loss_percent, jitter_ms, battery_percent


class StateChanged(msgspec.Struct, kw_only=True, tag="state"):
    at: float
    meeting_id: str
    member_id: str
    device_id: str
    old: ParticipantState
    new: ParticipantState
    reason: Reason | None


class VerdictChanged(msgspec.Struct, kw_only=True, tag="verdict"):
    at: float
    meeting_id: str
    old: Verdict
    new: Verdict
    reasons: list[Reason]


class IncidentOpened(msgspec.Struct, kw_only=True, tag="incident_opened"):
    incident: Incident


class IncidentUpdated(msgspec.Struct, kw_only=True, tag="incident_updated"):
    incident: Incident


class IncidentClosed(msgspec.Struct, kw_only=True, tag="incident_closed"):
    incident: Incident


class ActionRecorded(msgspec.Struct, kw_only=True, tag="action"):
    action: Action


Change = StateChanged | VerdictChanged | IncidentOpened | IncidentUpdated | IncidentClosed | ActionRecorded


class IngestOutcome(StrEnum):
    ACCEPTED = "accepted"
    LATE = "late"  # older than the live state: history only, never flips a verdict back in time
    DUPLICATE = "duplicate"  # msg_id already seen (replay)
    UNKNOWN_DEVICE = "unknown_device"  # on no roster (H12): reported, never silently accepted
    NO_MEETING = "no_meeting"  # known device, no meeting window open now: device health only
