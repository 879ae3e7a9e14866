"""The invitation a remote member gets by e-mail (H7): her personal self-test link and a calendar
booking (.ics) holding the meeting time, the meeting program's link and the self-test link, in
Swedish. Pure: builds an :class:`email.message.EmailMessage`; :mod:`collector.planning.mailer`
sends it.

The calendar event's UID is stable per meeting and member, and its SEQUENCE is the number of the
sending, so a repeated invitation updates the member's calendar entry instead of adding a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import icalendar

from likavillkor.roster import Meeting, Participant

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONNECT_EARLY_MIN = 15  # H8
_DAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
_MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)


@dataclass(frozen=True, slots=True)
class Invitation:
    meeting: Meeting
    participant: Participant
    selftest_url: str
    sender: str
    organizer_name: str = "Nämndsekreteraren"
    servicedesk: str = ""
    sequence: int = 0
    domain: str = "likavillkor.invalid"


def uid_for(meeting_id: str, member_id: str, domain: str) -> str:
    return f"{meeting_id}.{member_id}@{domain}"


def swedish_date(when: dt.datetime) -> str:
    local = when.astimezone(STOCKHOLM)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def build(inv: Invitation, now: dt.datetime) -> EmailMessage:
    """The e-mail: a plain-text body in Swedish and the booking as ``text/calendar; method=REQUEST``."""
    if not inv.participant.email:
        raise ValueError(f"{inv.participant.member_id} has no e-mail address")
    start = dt.datetime.fromtimestamp(inv.meeting.start, STOCKHOLM)
    msg = EmailMessage()
    msg["Subject"] = f"Inbjudan: {inv.meeting.body.capitalize()} {swedish_date(start)} – distansdeltagande"
    msg["From"] = inv.sender
    msg["To"] = f"{inv.participant.name} <{inv.participant.email}>"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=inv.domain)
    msg.set_content(body_text(inv))
    msg.add_attachment(
        calendar(inv, now).to_ical(),
        maintype="text",
        subtype="calendar",
        filename="inbjudan.ics",
        params={"method": "REQUEST"},
    )
    return msg


def body_text(inv: Invitation) -> str:
    start = dt.datetime.fromtimestamp(inv.meeting.start, STOCKHOLM)
    end = dt.datetime.fromtimestamp(inv.meeting.end, STOCKHOLM)
    early = start - dt.timedelta(minutes=CONNECT_EARLY_MIN)
    lines = [
        f"Hej {inv.participant.name}!",
        "",
        f"Du deltar på distans i {inv.meeting.body} {swedish_date(start)} kl. {start:%H.%M}–{end:%H.%M}.",
        f"Sammanträdet leds från {inv.meeting.room}." if inv.meeting.room else "",
        "",
        f"Logga in senast kl. {early:%H.%M}, en kvart före start, och testa ljud och bild (H8).",
        "",
        "Din personliga testlänk (öppna den på den enhet du deltar med):",
        inv.selftest_url,
        "",
    ]
    if inv.meeting.program_url:
        lines += ["Länk till sammanträdet:", inv.meeting.program_url, ""]
    lines += [
        "Kontrollera före mötet att du sitter ostört, att ingen obehörig kan se eller höra, att du har",
        "hörlurar och att datorn eller plattan är laddad. Om ljud, bild eller anslutning inte fungerar",
        "under mötet: säg till ordföranden direkt.",
    ]
    if inv.servicedesk:
        lines += ["", f"Vid tekniska problem: ring Servicedesk {inv.servicedesk}."]
    lines += ["", "Länken är personlig. Dela den inte.", "", inv.organizer_name]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


def calendar(inv: Invitation, now: dt.datetime) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Likavillkor//Inbjudan//SV")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    ev = icalendar.Event()
    ev.add("uid", uid_for(inv.meeting.id, inv.participant.member_id, inv.domain))
    ev.add("sequence", inv.sequence)
    ev.add("dtstamp", now.astimezone(dt.UTC))
    ev.add("dtstart", dt.datetime.fromtimestamp(inv.meeting.start, dt.UTC))
    ev.add("dtend", dt.datetime.fromtimestamp(inv.meeting.end, dt.UTC))
    ev.add("summary", f"{inv.meeting.body.capitalize()} (distans)")
    if inv.meeting.room:
        ev.add("location", inv.meeting.room)
    if inv.meeting.program_url:
        ev.add("url", inv.meeting.program_url)
    description = [f"Självtest: {inv.selftest_url}"]
    if inv.meeting.program_url:
        description.insert(0, f"Sammanträdet: {inv.meeting.program_url}")
    ev.add("description", "\n".join(description))
    organizer = icalendar.vCalAddress(f"mailto:{_address(inv.sender)}")
    organizer.params["cn"] = icalendar.vText(inv.organizer_name)
    ev.add("organizer", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{inv.participant.email}")
    attendee.params["cn"] = icalendar.vText(inv.participant.name)
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["rsvp"] = icalendar.vText("FALSE")
    ev.add("attendee", attendee)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Logga in och testa ljud och bild (H8)")
    alarm.add("trigger", dt.timedelta(minutes=-(CONNECT_EARLY_MIN + 5)))
    ev.add_component(alarm)
    cal.add_component(ev)
    return cal


def _address(sender: str) -> str:
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()
