"""The engine's memory: one small slotted record per (meeting, participant) and per meeting.

No behaviour lives here: the decisions are pure functions in :mod:`collector.engine.decide`.
Records are ``__slots__`` classes with a handful of floats and ints (debounce histories as
bitmasks) so 10,000 participants fit in a few tens of MB.
"""

from __future__ import annotations

from typing import Any

from collector.engine.debounce import Judge
from collector.engine.types import Action, Incident, ParticipantState, Reason, Verdict
from likavillkor import wire
from likavillkor.media.report import PathReport
from likavillkor.policy import Policy
from likavillkor.roster import Meeting, Participant


class OpenIncident:
    """An incident being recorded, with running min/max/sum/count of the metrics."""

    __slots__ = ("incident", "stats")

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self.stats: dict[str, list[float]] = {}


class Member:
    """One remote participant of one meeting."""

    __slots__ = (
        "bad",
        "companion_open",
        "device_id",
        "excused_at",
        "excused_item",
        "fail_up",
        "first_contact",
        "handled_at",
        "hist",
        "incidents",
        "last_contact",
        "last_probe",
        "left_at",
        "left_cause",
        "link",
        "lost_cause",
        "lost_cause_at",
        "lost_since",
        "may_not_return",
        "media_levels",
        "mediapath",
        "meeting_id",
        "member_id",
        "monitoring",
        "name",
        "open_from",
        "open_until",
        "peer_name",
        "present_at",
        "present_reason",
        "present_until",
        "reconnected_at",
        "replaced_at",
        "returned_at",
        "role",
        "roll_call",
        "roll_call_at",
        "sample",
        "selftest",
        "serving",
        "since",
        "state",
        "substitute_for",
        "substituted_by",
        "unequal_at",
        "unwatched_since",
        "warn_up",
        "will_at",
    )

    def __init__(self, meeting_id: str, p: Participant, judge: Judge, now: float) -> None:
        self.meeting_id = meeting_id
        self.member_id = p.member_id
        self.name = p.name
        self.role = str(p.role)
        #: takes part in the decisions (H16): a ledamot, a serving ersättare, or one who stepped in
        self.serving = p.serving
        self.substitute_for: str | None = None  # member id this ersättare stepped in for (H16)
        self.substituted_by: str | None = None  # member id of the ersättare who stepped in (H16)
        self.peer_name: str | None = None  # the other one's name (who stepped in / for whom), for reasons
        self.device_id = p.device_id
        self.open_from = 0.0  # the meeting's window: samples count from here (start - watch_before_s)
        self.open_until = 0.0  # ... to the end
        self.first_contact: float | None = None
        self.last_contact: float | None = None
        self.last_probe: float | None = None  # the newest signed path probe (issue 11): evidence of life
        self.lost_since: float | None = None  # sticky once lost (persisted): the five-minute origin
        self.lost_cause = ""  # "silence" | "will" | "shutdown"
        self.lost_cause_at: float | None = None
        self.will_at: float | None = None  # a last will received, not yet confirmed (will_confirm_s)
        self.replaced_at: float | None = None
        self.handled_at: float | None = None  # the chair recorded the substitute (H16)
        self.reconnected_at: float | None = None  # contact after replacement (H16: may not return)
        self.may_not_return = False
        self.excused_at: float | None = None
        self.excused_item: str | None = None
        self.returned_at: float | None = None
        self.left_at: float | None = None  # recorded by the chair, or by the five-minute rule (H16)
        self.left_cause = ""  # "" the chair recorded it; "five_minutes": an ersättare not serving (H16)
        #: the chair: present in the meeting program without the agent's contact (H16, issue 15)
        self.present_at: float | None = None
        self.present_until: float | None = None
        self.present_reason: str | None = None
        self.roll_call_at: float | None = None  # the roll call (H13, issue 15)
        self.roll_call: list[str] | None = None
        self.hist = judge.fresh()
        self.warn_up = 0
        self.fail_up = 0
        self.bad: dict[int, float] = {}  # channel -> last value over its limit (shown in the reason)
        self.link: str | None = None
        self.sample: wire.Sample | None = None
        self.selftest: Any = None  # SelftestSummary
        self.mediapath: PathReport | None = None  # the latest media path check (collector/engine/media.py)
        self.media_levels: dict[str, int] | None = None  # media path check direction -> 0/1/2
        self.state = ParticipantState.EXPECTED
        self.since = now
        self.incidents: dict[str, OpenIncident] | None = None
        self.monitoring = str(getattr(p, "monitoring", "agent"))  # "agent" | "browser" | "none"
        self.companion_open = False  # her companion page is open and visible (not persisted: it reconnects)
        self.unwatched_since: float | None = None  # the companion page was hidden or closed
        #: H17: when she told the chair she does not take part on equal terms (cleared on resume)
        self.unequal_at: float | None = None


class MeetingRt:
    """One meeting at run time: its roster entry, policy, members and the chair's record."""

    __slots__ = (
        "actions",
        "adjourned_since",
        "adjournments",
        "agenda_item",
        "judge",
        "meeting",
        "members",
        "policy",
        "verdict",
        "verdict_reasons",
        "verdict_since",
        "vote_running",
        "vote_since",
    )

    def __init__(self, meeting: Meeting, policy: Policy, judge: Judge, now: float) -> None:
        self.meeting = meeting
        self.policy = policy
        self.judge = judge
        self.members: dict[str, Member] = {p.member_id: Member(meeting.id, p, judge, now) for p in meeting.participants}
        self.verdict = Verdict.NOT_STARTED
        self.verdict_since = now
        #: why, as last decided with the verdict (collector.engine.verdict); None: not decided since
        #: a restore
        self.verdict_reasons: list[Reason] | None = []
        self.adjourned_since: float | None = None
        self.adjournments: list[list[float | None]] = []  # [start, end or None]
        self.vote_running = False
        self.vote_since: float | None = None
        self.agenda_item: str | None = None
        self.actions: list[Action] = []


class DeviceTrack:
    """Per device: duplicate memory (bitmask of recent seqs per boot), clock offset, members."""

    __slots__ = ("boots", "lag_base", "last_lag", "members")

    def __init__(self) -> None:
        # boot_id -> [max_seq, bitmask of seen seqs below/at max_seq (bit 0 = max_seq)]
        self.boots: dict[str, list[int]] = {}
        self.lag_base: float | None = None  # usual received_at - ts: the device clock's offset
        self.last_lag: tuple[float, int, float] | None = None  # (lag, how many in a row, device ts)
        self.members: list[Member] = []
