"""Invitations (H7) through a real SMTP server on loopback (aiosmtpd, STARTTLS, AUTH): what arrived is
read back; a server that refuses or stalls gives a Swedish message and stores nothing."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import icalendar
import pytest

from collector.planning import invitation, mailer
from collector.planning.mailer import MailError, SmtpSection
from likavillkor.roster import Meeting, Participant, Role, System
from tests.support.smtp import PASSWORD, USER, Mailbox, smtp_server

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=invitation.STOCKHOLM).timestamp()
MEETING = Meeting(
    "ks-2026-12-01",
    "kommunstyrelsen",
    START,
    START + 3 * 3600,
    "Sessionssalen",
    System.TEAMS,
    False,
    (),
    program_url="https://teams.microsoft.com/l/meetup-join/abc",
)
ANNA = Participant(
    "anna.andersson", "Anna Andersson", Role.LEDAMOT, "ks-ipad-07", "anna.andersson@politik.kommun.example"
)
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
LINK = "https://likavillkor.kommun.example/selftest/ks-2026-12-01/tok123"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[SmtpSection, Mailbox]]:
    with smtp_server(tmp_path / "pki") as (port, box, ca):
        yield (
            SmtpSection(
                host="127.0.0.1",
                port=port,
                username=USER,
                password=PASSWORD,
                sender="Sara Sekreterare <sara@kommun.example>",
                ca_file=str(ca),
                timeout_s=5,
            ),
            box,
        )


def message(sequence: int = 0) -> invitation.EmailMessage:
    inv = invitation.Invitation(
        MEETING,
        ANNA,
        LINK,
        sender="Sara Sekreterare <sara@kommun.example>",
        servicedesk="08-606 78 00",
        sequence=sequence,
        domain="kommun.example",
    )
    return invitation.build(inv, NOW)


def test_the_member_receives_her_link_and_a_calendar_booking(server: tuple[SmtpSection, Mailbox]) -> None:
    config, box = server
    mailer.send(config, message())
    [got] = box.messages
    assert box.envelopes == [("sara@kommun.example", ["anna.andersson@politik.kommun.example"])]
    assert got["Subject"] == "Inbjudan: Kommunstyrelsen tisdag 1 december 2026 – distansdeltagande"
    text = got.get_body(("plain",)).get_content()
    assert LINK in text and "kl. 08.45" in text and "08-606 78 00" in text and MEETING.program_url in text
    [ics] = [p for p in got.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert ics.get_param("method") == "REQUEST"
    cal = icalendar.Calendar.from_ical(ics.get_content())
    [ev] = cal.walk("VEVENT")
    ev = cast(Any, ev)
    assert ev["DTSTART"].dt == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    assert str(ev["URL"]) == MEETING.program_url and LINK in str(ev["DESCRIPTION"])
    assert str(ev["UID"]) == "ks-2026-12-01.anna.andersson@kommun.example"


def test_a_repeated_invitation_updates_the_same_calendar_entry(server: tuple[SmtpSection, Mailbox]) -> None:
    config, box = server
    mailer.send(config, message(0))
    mailer.send(config, message(1))
    events: list[Any] = [
        icalendar.Calendar.from_ical(p.get_content()).walk("VEVENT")[0]
        for m in box.messages
        for p in m.iter_attachments()
    ]
    assert [str(e["UID"]) for e in events] == [str(events[0]["UID"])] * 2
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1]


def test_a_wrong_password_is_said_in_swedish(server: tuple[SmtpSection, Mailbox]) -> None:
    config, box = server
    with pytest.raises(MailError) as err:
        mailer.send(config, message(), password="fel")
    assert "Inloggningen på e-postservern misslyckades" in err.value.message_sv
    assert box.messages == []


def test_a_refused_recipient_is_said_and_nothing_arrives(server: tuple[SmtpSection, Mailbox]) -> None:
    config, box = server
    box.refuse = True
    with pytest.raises(MailError) as err:
        mailer.send(config, message())
    assert "mottagarens adress" in err.value.message_sv
    assert box.messages == []


def test_a_stalling_server_meets_the_deadline(server: tuple[SmtpSection, Mailbox]) -> None:
    config, box = server
    box.stall_s = 30
    with pytest.raises(MailError) as err:
        mailer.send(SmtpSection(**{**_fields(config), "timeout_s": 1.0}), message())
    assert "svarade inte inom 1 s" in err.value.message_sv
    assert box.stalled.is_set() and box.messages == []


def test_an_unconfigured_server_is_said() -> None:
    with pytest.raises(MailError) as err:
        mailer.send(SmtpSection(), message())
    assert "[smtp]" in err.value.message_sv


def test_a_member_without_an_address_gets_no_message() -> None:
    inv = invitation.Invitation(MEETING, Participant("bo", "Bo", Role.LEDAMOT, "d"), LINK, sender="s@k.example")
    with pytest.raises(ValueError):
        invitation.build(inv, NOW)


def _fields(config: SmtpSection) -> dict[str, Any]:
    return {f: getattr(config, f) for f in config.__struct_fields__}
