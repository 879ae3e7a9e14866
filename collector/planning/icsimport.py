"""Calendar invitations in (.ics, RFC 5545, as Outlook/Exchange export them) -> meeting drafts the
secretary completes with roles and devices on the roster page.

Bounded before parsing: at most :data:`MAX_BYTES` of text, :data:`MAX_EVENTS` events and
:data:`MAX_ATTENDEES` attendees per event. Anything malformed raises :class:`IcsError` with a
Swedish message (``message_sv``) and an English one for the log; nothing is half-imported.
Outlook writes Windows time-zone names (``TZID:W. Europe Standard Time``) with its own VTIMEZONE;
the icalendar library resolves those, and a time without a zone is read as Stockholm time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.error import BrokenCalendarProperty

from likavillkor.roster import BodyTable, normalize_body, slug

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MAX_BYTES = 1 << 20
MAX_EVENTS = 200
MAX_ATTENDEES = 500


class IcsError(ValueError):
    def __init__(self, message: str, message_sv: str) -> None:
        super().__init__(message)
        self.message_sv = message_sv


@dataclass(frozen=True, slots=True)
class Attendee:
    name: str
    email: str
    #: RFC 5545 ROLE: REQ-PARTICIPANT, OPT-PARTICIPANT (a hint for ledamot / ersättare), CHAIR
    role: str = "REQ-PARTICIPANT"


@dataclass(frozen=True, slots=True)
class MeetingDraft:
    uid: str
    summary: str
    start: dt.datetime
    end: dt.datetime
    location: str = ""
    url: str = ""
    organizer: str = ""
    attendees: tuple[Attendee, ...] = ()
    #: the body the summary most likely names (from the body table), or "" when none is close
    body_guess: str = ""
    suggested_id: str = ""
    notes: tuple[str, ...] = field(default=())


def parse_ics(data: bytes, bodies: BodyTable | None = None) -> list[MeetingDraft]:
    """Every VEVENT of an .ics file as a draft, in start order. Cancelled events are left out."""
    if len(data) > MAX_BYTES:
        raise IcsError(
            f"calendar file over {MAX_BYTES} bytes", f"Kalenderfilen är för stor (högst {MAX_BYTES // 1024} kB)."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "BEGIN:VCALENDAR" not in text.upper():
        raise IcsError("not an iCalendar file", "Filen är ingen kalenderinbjudan (.ics).")
    try:
        cal = icalendar.Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError) as exc:
        raise IcsError(
            f"unreadable iCalendar file: {exc}",
            "Kalenderfilen går inte att läsa. Exportera inbjudan från Outlook igen.",
        ) from None
    events = list(cal.walk("VEVENT"))
    if not events:
        raise IcsError("no VEVENT in calendar", "Kalenderfilen innehåller inget möte.")
    if len(events) > MAX_EVENTS:
        raise IcsError(f"over {MAX_EVENTS} events", f"Kalenderfilen har fler än {MAX_EVENTS} möten.")
    drafts = [_checked_draft(ev, n, bodies) for n, ev in enumerate(events, start=1)]
    return sorted((d for d in drafts if d is not None), key=lambda d: d.start)


def _checked_draft(ev: Any, n: int, bodies: BodyTable | None) -> MeetingDraft | None:
    try:
        return _draft(ev, n, bodies)
    except IcsError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, BrokenCalendarProperty) as exc:
        raise IcsError(
            f"event {n} unreadable: {exc}",
            f"Möte {n} i kalenderfilen går inte att läsa. Exportera inbjudan från Outlook igen.",
        ) from None


def _draft(ev: Any, n: int, bodies: BodyTable | None) -> MeetingDraft | None:
    if str(ev.get("STATUS", "")).upper() == "CANCELLED":
        return None
    summary = str(ev.get("SUMMARY", "")).strip()
    start = _when(ev, "DTSTART", n, summary)
    end = _end(ev, start, n, summary)
    attendees = _attendees(ev, n)
    body = _guess_body(summary, bodies)
    notes = [] if body else ["Välj nämnd: mötets rubrik nämner ingen nämnd i nämndtabellen."]
    return MeetingDraft(
        uid=str(ev.get("UID", f"event-{n}")),
        summary=summary,
        start=start,
        end=end,
        location=str(ev.get("LOCATION", "")).strip(),
        url=_url(ev),
        organizer=_address(ev.get("ORGANIZER")),
        attendees=attendees,
        body_guess=body,
        suggested_id=_suggest_id(body or summary, start),
        notes=tuple(notes),
    )


def _when(ev: Any, key: str, n: int, summary: str) -> dt.datetime:
    prop = ev.get(key)
    if prop is None:
        raise IcsError(f"event {n} has no {key}", f"Mötet {summary or n} saknar starttid.")
    value = prop.dt
    if not isinstance(value, dt.datetime):  # an all-day event: not a meeting with a time
        raise IcsError(f"event {n} is all-day", f"Mötet {summary or n} är en heldagshändelse utan klockslag.")
    return value if value.tzinfo else value.replace(tzinfo=STOCKHOLM)


def _end(ev: Any, start: dt.datetime, n: int, summary: str) -> dt.datetime:
    if ev.get("DTEND") is not None:
        end = _when(ev, "DTEND", n, summary)
    elif ev.get("DURATION") is not None:
        end = start + ev.get("DURATION").dt
    else:
        raise IcsError(f"event {n} has no end", f"Mötet {summary or n} saknar sluttid.")
    if end <= start:
        raise IcsError(f"event {n} ends before it starts", f"Mötet {summary or n} slutar innan det börjar.")
    return end


def _attendees(ev: Any, n: int) -> tuple[Attendee, ...]:
    raw = ev.get("ATTENDEE") or []
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_ATTENDEES:
        raise IcsError(f"event {n} has over {MAX_ATTENDEES} attendees", f"Mötet har fler än {MAX_ATTENDEES} deltagare.")
    out: list[Attendee] = []
    for item in items:
        email = _address(item)
        if not email:
            continue
        params = getattr(item, "params", {})
        name = str(params.get("CN", "")).strip().strip('"') or email.split("@")[0]
        out.append(Attendee(name=name, email=email, role=str(params.get("ROLE", "REQ-PARTICIPANT")).upper()))
    return tuple(out)


def _address(prop: Any) -> str:
    if prop is None:
        return ""
    text = str(prop)
    text = re.sub(r"^mailto:", "", text, flags=re.IGNORECASE).strip()
    return text if re.match(r"^[^@\s]+@[^@\s]+$", text) else ""


def _url(ev: Any) -> str:
    """The meeting program's link: URL, or the first Teams/Compodium https link in the description."""
    url = str(ev.get("URL", "")).strip()
    if url.startswith("https://"):
        return url
    found = re.search(r"https://[^\s<>\"']+", str(ev.get("DESCRIPTION", "")))
    return found.group(0).rstrip(".,)>") if found else ""


def _guess_body(summary: str, bodies: BodyTable | None) -> str:
    if bodies is None or not summary:
        return ""
    text = normalize_body(summary)
    known = list(bodies.bodies)
    for name in sorted(known, key=len, reverse=True):
        if name in text:
            return name
    words = re.findall(r"[\wåäö]+", text)
    for word in words:
        hit = difflib.get_close_matches(word, known, n=1, cutoff=0.85)
        if hit:
            return hit[0]
    return ""


def _suggest_id(base: str, start: dt.datetime) -> str:
    local = start.astimezone(STOCKHOLM)
    return f"{slug(base)[:40] or 'mote'}-{local:%Y-%m-%d}"
