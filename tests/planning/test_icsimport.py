"""Calendar invitations in: Outlook's export shape, bounds, malformed files."""

import datetime as dt

import pytest

from collector.planning.icsimport import MAX_BYTES, IcsError, parse_ics
from likavillkor.roster import load_body_table

# ruff: noqa: E501 (the lines as Outlook writes them)
# The shape Outlook/Exchange exports: Windows time-zone name with its own VTIMEZONE, CN and ROLE on
# attendees, the Teams link in the description.
OUTLOOK = """BEGIN:VCALENDAR
METHOD:REQUEST
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ORGANIZER;CN=Sara Sekreterare:mailto:sara.sekreterare@kommun.example
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Anna Andersson:mailto:anna.andersson@politik.kommun.example
ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Fatima Said:mailto:fatima.said@politik.kommun.example
DESCRIPTION;LANGUAGE=sv-SE:Ansluta till Microsoft Teams-mötet\\nhttps://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0\\n
UID:040000008200E00074C5B7101A82E00800000000
SUMMARY;LANGUAGE=sv-SE:Kommunstyrelsen sammanträde
DTSTART;TZID=W. Europe Standard Time:20261201T090000
DTEND;TZID=W. Europe Standard Time:20261201T120000
LOCATION;LANGUAGE=sv-SE:Sessionssalen, Kommunalhuset
STATUS:CONFIRMED
SEQUENCE:0
END:VEVENT
END:VCALENDAR
"""


def test_an_outlook_invitation_becomes_a_draft() -> None:
    [d] = parse_ics(OUTLOOK.replace("\n", "\r\n").encode(), load_body_table())
    assert d.start == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    assert d.end - d.start == dt.timedelta(hours=3)
    assert d.location == "Sessionssalen, Kommunalhuset"
    assert d.body_guess == "kommunstyrelsen"
    assert d.suggested_id == "kommunstyrelsen-2026-12-01"
    assert d.url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert [(a.name, a.email, a.role) for a in d.attendees] == [
        ("Anna Andersson", "anna.andersson@politik.kommun.example", "REQ-PARTICIPANT"),
        ("Fatima Said", "fatima.said@politik.kommun.example", "OPT-PARTICIPANT"),
    ]
    assert d.organizer == "sara.sekreterare@kommun.example"


def test_cancelled_events_are_left_out_and_unknown_bodies_noted() -> None:
    two = OUTLOOK.replace(
        "END:VCALENDAR",
        OUTLOOK.split("END:VTIMEZONE\n", 1)[1].split("END:VCALENDAR")[0].replace("STATUS:CONFIRMED", "STATUS:CANCELLED")
        + "END:VCALENDAR",
    )
    assert len(parse_ics(two.encode(), load_body_table())) == 1
    [d] = parse_ics(OUTLOOK.replace("Kommunstyrelsen sammanträde", "Fika").encode(), load_body_table())
    assert d.body_guess == "" and d.notes


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"hello", "ingen kalenderinbjudan"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "inget möte"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "går inte att läsa"),
        (
            OUTLOOK.replace(
                "DTEND;TZID=W. Europe Standard Time:20261201T120000",
                "DTEND;TZID=W. Europe Standard Time:20261201T080000",
            ).encode(),
            "slutar innan",
        ),
        (
            OUTLOOK.replace(
                "DTSTART;TZID=W. Europe Standard Time:20261201T090000", "DTSTART;VALUE=DATE:20261201"
            ).encode(),
            "heldagshändelse",
        ),
        (b"BEGIN:VCALENDAR" + b" " * MAX_BYTES, "för stor"),
    ],
)
def test_malformed_files_get_a_swedish_message(data: bytes, needle: str) -> None:
    with pytest.raises(IcsError) as err:
        parse_ics(data, load_body_table())
    assert needle in err.value.message_sv
