"""The secretary's meeting form (issue 15), pure: the roster's TOML table of a meeting -> the form's
values, the posted form -> a :class:`~collector.planning.rosterfile.MeetingEdit` or Swedish messages
for the fields that cannot be read, and an imported calendar invitation (.ics) -> the form's values.

The form is plain HTML (no script needed): one fieldset per participant, named ``p{i}.{field}``, and a
few blank rows for new participants; a blank row (no name and no device) is left out, a row with
"Ta bort" ticked is removed. Times are ``datetime-local`` values read as Stockholm time. Nothing here
writes: :mod:`collector.web.planning` saves through ``RosterFile`` (lock, revision, validation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import tomlkit

from collector.planning.icsimport import MeetingDraft
from collector.planning.rosterfile import MeetingEdit, ParticipantEdit
from collector.web import i18n
from collector.web.msgids import N_
from likavillkor.roster import slug

STOCKHOLM = ZoneInfo("Europe/Stockholm")
#: blank participant rows under the filled ones (more after each save)
BLANK_ROWS = 3
#: at most this many participant rows are read from one form (a meeting's remote members)
MAX_ROWS = 200
PARTICIPANT_FIELDS = (
    "name",
    "member_id",
    "role",
    "serving",
    "device_id",
    "monitoring",
    "email",
    "requested_at",
    "notice_decision",
    "remove",
)
ROLES = ("ledamot", "ersättare")
MONITORING = ("", "agent", "browser", "none")
SYSTEMS = ("", "teams", "compodium")
SERVING = ("", "yes", "no")
MAX_FIELD = 500
#: the form's and the meeting page's composed keys ('plan.system.' ~ value, ...), for pybabel extract
MSGIDS = (
    *(N_("plan.system.default"), N_("plan.system.teams"), N_("plan.system.compodium")),
    *(N_("plan.mon.default"), N_("plan.mon.agent"), N_("plan.mon.browser"), N_("plan.mon.none")),
    *(N_("plan.serving.default"), N_("plan.serving.yes"), N_("plan.serving.no")),
    *(N_("plan.decide.allowed"), N_("plan.decide.refused"), N_("plan.decided.allowed"), N_("plan.decided.refused")),
    *(N_("plan.decision.allowed"), N_("plan.decision.refused")),
)


@dataclass
class FormValues:
    """What the form shows: strings, exactly as typed (a refused save shows them again)."""

    id: str = ""
    body: str = ""
    start: str = ""
    end: str = ""
    room: str = ""
    system: str = ""
    system_exception: str = ""
    secret: bool = False
    program_url: str = ""
    participants: list[dict[str, str]] = field(default_factory=list)
    #: the meeting's id when it was loaded ("" for a new meeting): a renamed meeting replaces it
    replaces: str = ""
    revision: str = ""

    def rows(self) -> list[dict[str, str]]:
        """The participants and :data:`BLANK_ROWS` blank rows."""
        return [*self.participants, *({} for _ in range(BLANK_ROWS))]


def say(key: str, lang: str, **params: object) -> str:
    """A message in ``lang`` (Swedish first) with its values filled in."""
    return i18n.t(key, lang).format(**params)


def local_input(value: dt.datetime | float | None) -> str:
    """A time as a ``datetime-local`` value in Stockholm time ("2026-12-01T09:00")."""
    if value is None:
        return ""
    when = dt.datetime.fromtimestamp(value, STOCKHOLM) if isinstance(value, int | float) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=STOCKHOLM)
    return when.astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str) -> dt.datetime | None:
    """A ``datetime-local`` value (or ISO 8601 with an offset) -> an aware time; None when unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=STOCKHOLM)


def meeting_table(text: str, meeting_id: str) -> dict[str, Any] | None:
    """The meeting's table as written in the roster TOML (so ``system`` and ``system_exception`` are
    what IT wrote, not what the parser derived), or None."""
    doc = tomlkit.parse(text).unwrap() if text.strip() else {}
    for table in doc.get("meeting", []):
        if isinstance(table, dict) and table.get("id") == meeting_id:
            return table
    return None


def values_of_table(table: Mapping[str, Any], revision: str) -> FormValues:
    people = []
    for p in table.get("participant", []):
        serving = p.get("serving")
        people.append(
            {
                "name": str(p.get("name", "")),
                "member_id": str(p.get("member_id", "")),
                "role": str(p.get("role", "ledamot")),
                "serving": "" if serving is None else ("yes" if serving else "no"),
                "device_id": str(p.get("device_id", "")),
                "monitoring": str(p.get("monitoring", "")),
                "email": str(p.get("email", "")),
                "requested_at": local_input(p.get("requested_at")),
                "notice_decision": str(p.get("notice_decision", "")),
            }
        )
    return FormValues(
        id=str(table.get("id", "")),
        body=str(table.get("body", "")),
        start=local_input(table.get("start")),
        end=local_input(table.get("end")),
        room=str(table.get("room", "")),
        system=str(table.get("system", "")),
        system_exception=str(table.get("system_exception", "")),
        secret=bool(table.get("secret", False)),
        program_url=str(table.get("program_url", "")),
        participants=people,
        replaces=str(table.get("id", "")),
        revision=revision,
    )


def values_of_draft(draft: MeetingDraft, revision: str) -> FormValues:
    """A calendar invitation as a new meeting's form: the secretary adds roles and devices. The
    organizer is not a participant; an optional attendee (ROLE=OPT-PARTICIPANT) is an ersättare."""
    people = [
        {
            "name": a.name,
            "member_id": slug(a.name),
            "email": a.email,
            "role": "ersättare" if a.role == "OPT-PARTICIPANT" else "ledamot",
        }
        for a in draft.attendees
        if a.email.casefold() != draft.organizer.casefold() and a.role != "NON-PARTICIPANT"
    ]
    return FormValues(
        id=draft.suggested_id,
        body=draft.body_guess,
        start=local_input(draft.start),
        end=local_input(draft.end),
        room=draft.location,
        program_url=draft.url if draft.url.startswith("https://") else "",
        participants=people,
        revision=revision,
    )


def values_of_form(form: Mapping[str, str]) -> FormValues:
    """The posted form as typed (each field cut at :data:`MAX_FIELD` characters)."""

    def get(key: str) -> str:
        return str(form.get(key, ""))[:MAX_FIELD].strip()

    people = []
    for i in range(MAX_ROWS):
        row = {f: get(f"p{i}.{f}") for f in PARTICIPANT_FIELDS}
        if not any(f"p{i}.{f}" in form for f in PARTICIPANT_FIELDS):
            break
        if row["name"] or row["device_id"] or row["email"]:
            people.append(row)
    return FormValues(
        id=get("id"),
        body=get("body"),
        start=get("start"),
        end=get("end"),
        room=get("room"),
        system=get("system"),
        system_exception=get("system_exception"),
        secret=get("secret") in ("on", "true", "1"),
        program_url=get("program_url"),
        participants=people,
        replaces=get("replaces"),
        revision=get("revision"),
    )


def edit_of(values: FormValues, lang: str = "sv") -> tuple[MeetingEdit | None, list[str]]:
    """The edit to save, or the Swedish messages for what cannot be read (then nothing is saved).
    The rules themselves (body, system, devices, H6-H23) are the roster parser's, on save."""
    errors: list[str] = []
    if not values.id:
        errors.append(say(N_("plan.err.id"), lang))
    if not values.body:
        errors.append(say(N_("plan.err.body"), lang))
    start, end = parse_local(values.start), parse_local(values.end)
    if start is None:
        errors.append(say(N_("plan.err.start"), lang))
    if end is None:
        errors.append(say(N_("plan.err.end"), lang))
    if values.system not in SYSTEMS:
        errors.append(say(N_("plan.err.system"), lang))
    people: list[ParticipantEdit] = []
    for n, row in enumerate(values.participants, start=1):
        if row.get("remove"):
            continue
        person, problems = _participant(n, row, lang)
        errors += problems
        if person is not None:
            people.append(person)
    if errors or start is None or end is None:
        return None, errors
    return MeetingEdit(
        id=values.id,
        body=values.body,
        start=start,
        end=end,
        room=values.room,
        system=values.system,
        system_exception=values.system_exception,
        secret=values.secret,
        program_url=values.program_url,
        participants=people,
    ), []


def _participant(n: int, row: Mapping[str, str], lang: str) -> tuple[ParticipantEdit | None, list[str]]:
    name = row.get("name", "")
    who = name or say(N_("plan.err.participant_n"), lang, n=n)
    errors = []
    if not name:
        errors.append(say(N_("plan.err.name"), lang, n=n))
    if not row.get("device_id"):
        errors.append(say(N_("plan.err.device"), lang, who=who))
    role = row.get("role") or "ledamot"
    if role not in ROLES:
        errors.append(say(N_("plan.err.role"), lang, who=who))
    monitoring = row.get("monitoring", "")
    if monitoring not in MONITORING:
        errors.append(say(N_("plan.err.monitoring"), lang, who=who))
    serving = row.get("serving", "")
    if serving not in SERVING:
        errors.append(say(N_("plan.err.serving"), lang, who=who))
    requested = parse_local(row.get("requested_at", ""))
    if row.get("requested_at") and requested is None:
        errors.append(say(N_("plan.err.requested_at"), lang, who=who))
    email = row.get("email", "")
    if email and ("@" not in email or " " in email):
        errors.append(say(N_("plan.err.email"), lang, who=who))
    decision = row.get("notice_decision", "")
    if decision not in ("", "allowed", "refused"):
        decision = ""
    if errors:
        return None, errors
    return ParticipantEdit(
        name=name,
        device_id=row.get("device_id", ""),
        role=role,
        member_id=row.get("member_id", ""),
        email=email,
        serving=None if not serving else serving == "yes",
        monitoring=monitoring,
        requested_at=requested,
        notice_decision=decision,
    ), []
