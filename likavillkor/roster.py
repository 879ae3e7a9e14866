"""Meetings and their remote participants, from the TOML file the secretary edits.

Example (``deploy/roster.example.toml``)::

    [[meeting]]
    id = "ks-2026-12-01"
    body = "kommunstyrelsen"
    start = 2026-12-01T09:00:00+01:00
    end = 2026-12-01T12:00:00+01:00
    room = "Sessionssalen"
    # system = "teams"        # default from the body table (H22)
    # secret = false          # true requires Compodium (H21)

    [[meeting.participant]]
    name = "Anna Andersson"
    role = "ledamot"          # or "ersättare"
    # serving = true          # an ersättare who serves (tjänstgörande) from the start (H16)
    device_id = "anna-ipad"

Refused with the line at fault: a remote participant in a body that meets physically only (H23),
a secret meeting on any system other than Compodium (H21, H22), a device or a member id on two
participants of one meeting, duplicate meeting ids, a body that is not in the body table (with the
nearest known name as a hint), a system that contradicts the body's (H22) unless the meeting gives
the reason (``system_exception = "..."``), ``serving`` on a ledamot (a ledamot always serves),
``monitoring = "agent"`` on a device that cannot run the agent.

How a participant is watched (``monitoring``, the secretary's choice; see :func:`default_monitoring`):
``"agent"`` (the agent on her device publishes), ``"browser"`` (her companion page, *följesidan*,
while it is open) or ``"none"`` (nothing: the chair checks her at the roll call, H13). The
municipality's standard device is a tablet that runs no agent (H9, H10).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import msgspec

from likavillkor.bodies import BodyInfo as BodyInfo  # the body table's names, still importable from here
from likavillkor.bodies import BodyTable, System, load_body_table, normalize_body
from likavillkor.config import ConfigError, Section, convert

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Role(StrEnum):
    LEDAMOT = "ledamot"
    ERSATTARE = "ersättare"


class Monitoring(StrEnum):
    """How the system watches a participant (docs/engine.md, "Monitoring modes")."""

    AGENT = "agent"  # likavillkor-agent on her device: silence means lost contact (H15)
    BROWSER = "browser"  # her companion page while it is open; hidden or closed -> not monitored
    NONE = "none"  # nothing watches her: never lost, never "equal terms" claimed for her (H13)


class DeviceKind(StrEnum):
    """What a ``[[device]]`` is; decides the default monitoring of a participant using it."""

    PC = "pc"  # Windows or Linux: runs the agent
    MAC = "mac"  # macOS: runs the agent
    IPAD = "ipad"  # the handbook's standard tablet (H9, H10): no agent, the browser only
    PHONE = "phone"  # no agent, the browser only


#: the kinds that cannot run likavillkor-agent
AGENTLESS_KINDS = frozenset({DeviceKind.IPAD, DeviceKind.PHONE})


def default_monitoring(device_kind: DeviceKind | None) -> Monitoring:
    """The default when a participant names no ``monitoring``: a device listed as an iPad or a phone
    is watched by the browser (its companion page); anything else, including a device that is not
    listed in ``[[device]]``, by the agent that publishes under its ``device_id``."""
    return Monitoring.BROWSER if device_kind in AGENTLESS_KINDS else Monitoring.AGENT


class RosterError(ConfigError):
    """A roster that breaks a rule. ``code`` names the rule and ``params`` its values, so that a page can
    say it in Swedish (collector.planning.messages); the message itself stays English for the log."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        params: dict[str, Any] | None = None,
        source: str = "",
        line: int | None = None,
        key: str = "",
    ) -> None:
        super().__init__(message, source=source, line=line, key=key)
        self.code = code
        self.params = dict(params or {})


class NoticeDecision(StrEnum):
    """The chair's decision on a request for remote attendance that came in late (H6)."""

    ALLOWED = "allowed"
    REFUSED = "refused"


class _ParticipantIn(Section):
    name: str
    device_id: str
    role: Role = Role.LEDAMOT
    #: an ersättare who serves (tjänstgörande) from the start; a ledamot always serves (H16)
    serving: bool | None = None
    member_id: str | None = None
    email: str | None = None
    monitoring: Monitoring | None = None  # default: default_monitoring(kind of the device)
    #: when her request to attend remotely reached the chair and secretary (H6: 5 working days ahead)
    requested_at: dt.datetime | None = None
    #: the chair's decision on a late request (H6: "the chair decides, also on shorter notice")
    notice_decision: NoticeDecision | None = None


class _MeetingIn(Section):
    id: str
    body: str
    start: dt.datetime
    end: dt.datetime
    room: str = ""
    system: System | None = None
    #: why this meeting uses another system than the body table's (H22): required for an exception
    system_exception: str = ""
    secret: bool = False
    #: the meeting program's link (Teams or Compodium), sent in the invitation (H7)
    program_url: str = ""
    participant: list[_ParticipantIn] = msgspec.field(default_factory=list)


class _DeviceIn(Section):
    id: str
    member_id: str | None = None
    description: str = ""
    kind: DeviceKind | None = None


class _RosterIn(Section):
    meeting: list[_MeetingIn] = msgspec.field(default_factory=list)
    device: list[_DeviceIn] = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Participant:
    member_id: str
    name: str
    role: Role
    device_id: str
    email: str | None = None
    monitoring: Monitoring = Monitoring.AGENT
    #: takes part in the decisions (H16): a ledamot, or an ersättare who serves (tjänstgörande)
    serving: bool = True
    #: when her request to attend remotely came in (epoch seconds; H6), if the secretary noted it
    requested_at: float | None = None
    notice_decision: NoticeDecision | None = None


@dataclass(frozen=True, slots=True)
class Meeting:
    id: str
    body: str
    start: float  # epoch seconds
    end: float
    room: str
    system: System
    secret: bool
    participants: tuple[Participant, ...]
    program_url: str = ""

    def participant_for_device(self, device_id: str) -> Participant | None:
        for p in self.participants:
            if p.device_id == device_id:
                return p
        return None


@dataclass(slots=True)
class Roster:
    meetings: dict[str, Meeting] = field(default_factory=dict)
    #: every device the municipality knows: from the meetings and from [[device]] entries
    devices: dict[str, str | None] = field(default_factory=dict)  # device_id -> member_id
    device_kinds: dict[str, DeviceKind] = field(default_factory=dict)  # [[device]] entries that name a kind

    def meetings_for_device(self, device_id: str) -> list[Meeting]:
        return [m for m in self.meetings.values() if m.participant_for_device(device_id)]

    def current_meeting_for_device(self, device_id: str, now: float, early_s: float = 3600) -> Meeting | None:
        """The meeting this device is in at ``now``: the one whose window (start - early_s .. end)
        holds ``now``, the earliest start first."""
        best: Meeting | None = None
        for m in self.meetings_for_device(device_id):
            if m.start - early_s <= now <= m.end and (best is None or m.start < best.start):
                best = m
        return best


#: the device ids and member ids of a meeting's participants so far
_Seen = tuple[set[str], set[str]]
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _nth_table_line(text: str, header: str, n: int, within: tuple[int, int] | None = None) -> int | None:
    count = -1
    lines = text.splitlines()
    lo, hi = within or (1, len(lines))
    for number in range(lo, hi + 1):
        if lines[number - 1].strip().replace(" ", "") == header:
            count += 1
            if count == n:
                return number
    return None


def _meeting_span(text: str, index: int) -> tuple[int, int]:
    start = _nth_table_line(text, "[[meeting]]", index) or 1
    nxt = _nth_table_line(text, "[[meeting]]", index + 1)
    return start, (nxt - 1) if nxt else len(text.splitlines())


def _epoch(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
    return value.timestamp()


def slug(name: str) -> str:
    base = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", ".", base).strip(".") or "member"


def parse_roster(text: str, *, source: str = "<roster>", bodies: BodyTable | None = None) -> Roster:
    """Parse and validate a roster. Raises :class:`ConfigError` naming the line at fault."""
    bodies = bodies or load_body_table()
    parsed = convert(_toml(text, source), _RosterIn, source=source, text=text)
    roster = Roster()
    kinds = {d.id: d.kind for d in parsed.device if d.kind is not None}
    for i, mt in enumerate(parsed.meeting):
        fail = _MeetingFail(text, source, _meeting_span(text, i), mt.id)
        roster.meetings[mt.id] = _meeting(mt, bodies, kinds, roster, fail)
    for d in parsed.device:
        roster.devices[d.id] = d.member_id or roster.devices.get(d.id)
    roster.device_kinds = kinds
    return roster


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", source=source, line=int(m.group(1)) if m else None) from None


class _MeetingFail:
    """Refuses one meeting of the roster: a coded :class:`RosterError` at the line of ``key`` (looked
    for from the meeting's table, or from its ``participant``-th ``[[meeting.participant]]`` table)."""

    __slots__ = ("meeting", "source", "span", "text")

    def __init__(self, text: str, source: str, span: tuple[int, int], meeting: str) -> None:
        self.text, self.source, self.span, self.meeting = text, source, span, meeting

    def __call__(self, code: str, msg: str, key: str = "", participant: int | None = None, **params: Any) -> NoReturn:
        raise RosterError(
            msg,
            code=code,
            params={"meeting": self.meeting, **params},
            source=self.source,
            line=self._line(key, participant),
            key=key,
        )

    def _line(self, key: str, participant: int | None) -> int:
        line = self.span[0]
        if participant is not None:
            line = _nth_table_line(self.text, "[[meeting.participant]]", participant, self.span) or line
        if key:
            for number in range(line, self.span[1] + 1):
                if re.match(rf"^\s*{re.escape(key)}\s*=", self.text.splitlines()[number - 1]):
                    return number
        return line


def _meeting(
    mt: _MeetingIn, bodies: BodyTable, kinds: dict[str, DeviceKind], roster: Roster, fail: _MeetingFail
) -> Meeting:
    """One ``[[meeting]]``, checked (H7, H21-H23); its participants' devices noted on ``roster``."""
    if not _ID_RE.match(mt.id):
        fail("bad_meeting_id", f"meeting id {mt.id!r} must be letters, digits, '.', '_' or '-'", "id")
    if mt.id in roster.meetings:
        fail("meeting_id_twice", f"meeting id {mt.id!r} is used twice", "id")
    system = _meeting_system(mt, bodies, fail)
    if mt.program_url and not re.match(r"^https://[^\s/]+", mt.program_url):
        msg = f"program_url {mt.program_url!r} must be an https:// address (H7)"
        fail("program_url_not_https", msg, "program_url", url=mt.program_url)
    start, end = _epoch(mt.start), _epoch(mt.end)
    if end <= start:
        fail("ends_before_start", f"meeting {mt.id!r} ends before it starts", "end")
    participants = _participants(mt, kinds, roster, fail)
    return Meeting(mt.id, mt.body, start, end, mt.room, system, mt.secret, participants, program_url=mt.program_url)


def _meeting_system(mt: _MeetingIn, bodies: BodyTable, fail: _MeetingFail) -> System:
    """The meeting's system: its body's (H22) unless it gives the reason for another; Compodium when
    secret (H21); no remote participant in a body that meets physically only (H23)."""
    info = bodies.lookup(mt.body)
    if info is None:
        hint = difflib.get_close_matches(normalize_body(mt.body), list(bodies.bodies), n=1, cutoff=0.6)
        msg = f"body {mt.body!r} is not in the body table (H22)" + (f": did you mean {hint[0]!r}?" if hint else "")
        fail("unknown_body", msg, "body", body=mt.body, hint=hint[0] if hint else "")
    system = mt.system or info.system
    if mt.secret and system != System.COMPODIUM:
        msg = (
            f"meeting {mt.id!r} is secret but uses {system.value}: matters under "
            "secrecy are handled only in Compodium (H21, H22)"
        )
        fail("secret_not_compodium", msg, "secret", system=system.value)
    if system != info.system and not mt.system_exception.strip():
        msg = (
            f"{mt.body} meets in {info.system.value} (H22), not {system.value}: "
            'give the reason for the exception with system_exception = "..."'
        )
        fail("system_exception_needed", msg, "system", body=mt.body, expected=info.system.value, system=system.value)
    if info.physical_only and mt.participant:
        msg = f"{mt.body} meets physically only (H23): no remote participants are allowed"
        fail("physical_only", msg, participant=0, body=mt.body)
    return system


def _participants(
    mt: _MeetingIn, kinds: dict[str, DeviceKind], roster: Roster, fail: _MeetingFail
) -> tuple[Participant, ...]:
    """The meeting's participants in order, each checked against those before her."""
    devices: set[str] = set()
    members: set[str] = set()
    participants: list[Participant] = []
    for j, p in enumerate(mt.participant):
        participant = _participant(mt.id, p, j, kinds.get(p.device_id), fail, (devices, members))
        participants.append(participant)
        roster.devices.setdefault(p.device_id, participant.member_id)
    return tuple(participants)


def _participant(
    meeting: str, p: _ParticipantIn, j: int, kind: DeviceKind | None, fail: _MeetingFail, before: _Seen
) -> Participant:
    """The ``j``-th participant; ``before`` (the devices and member ids of those before her) grows."""
    devices, members = before
    if not _ID_RE.match(p.device_id):
        msg = f"device_id {p.device_id!r} must be letters, digits, '.', '_' or '-'"
        fail("bad_device_id", msg, "device_id", j, device=p.device_id, name=p.name)
    if p.device_id in devices:
        msg = f"device {p.device_id!r} is given to two participants of {meeting!r}"
        fail("device_twice", msg, "device_id", j, device=p.device_id, name=p.name)
    devices.add(p.device_id)
    if p.monitoring is Monitoring.AGENT and kind in AGENTLESS_KINDS:
        msg = (
            f"device {p.device_id!r} is listed as kind = '{kind}', which cannot run "
            'the agent: say monitoring = "browser" (her companion page) or "none"'
        )
        fail("agentless_device", msg, "monitoring", j, device=p.device_id, name=p.name, kind=str(kind))
    member_id = p.member_id or slug(p.name)
    if member_id in members:
        msg = f"member id {member_id!r} is on two participants of {meeting!r}"
        fail("member_twice", msg, "member_id" if p.member_id else "name", j, member=member_id, name=p.name)
    members.add(member_id)
    if p.role is Role.LEDAMOT and p.serving is False:
        msg = f"{p.name} is a ledamot, who always serves: serving = false is for an ersättare (H16)"
        fail("ledamot_not_serving", msg, "serving", j, name=p.name)
    serving = p.role is Role.LEDAMOT or bool(p.serving)
    requested_at = _epoch(p.requested_at) if p.requested_at else None
    monitoring = p.monitoring or default_monitoring(kind)
    return Participant(
        member_id,
        p.name,
        p.role,
        p.device_id,
        p.email,
        monitoring=monitoring,
        serving=serving,
        requested_at=requested_at,
        notice_decision=p.notice_decision,
    )


def load_roster(path: str | Path, *, bodies: BodyTable | None = None) -> Roster:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read roster: {exc.strerror}", source=str(p)) from None
    return parse_roster(text, source=str(p), bodies=bodies)
