"""The secretary's meeting form, pure (collector/web/meeting_form.py): the roster's table -> the form
-> the edit saved through RosterFile, round trip without loss; unreadable fields said in Swedish
(nothing saved); an imported invitation (.ics) -> a filled-in form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from collector.planning.icsimport import parse_ics
from collector.planning.rosterfile import RosterFile
from collector.web import meeting_form as mf
from likavillkor.roster import load_body_table
from tests.planning.test_icsimport import OUTLOOK

ROSTER = """# IT's comment stays
[[meeting]]
id = "ks-1"
body = "kommunstyrelsen"
start = 2026-12-01T09:00:00+01:00
end = 2026-12-01T12:00:00+01:00
room = "Sessionssalen"
system = "compodium"
system_exception = "Teknik i salen"
program_url = "https://teams.example/ks-1"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "anna-ipad"
monitoring = "browser"
email = "anna@example.org"
requested_at = 2026-11-28T10:00:00+01:00
notice_decision = "allowed"

[[meeting.participant]]
name = "Bo Berg"
role = "ersättare"
serving = true
device_id = "bo-pc"
"""


def _as_form(values: mf.FormValues) -> dict[str, str]:
    form = {
        k: str(getattr(values, k))
        for k in (
            "id",
            "body",
            "start",
            "end",
            "room",
            "system",
            "system_exception",
            "program_url",
            "replaces",
            "revision",
        )
    }
    if values.secret:
        form["secret"] = "on"
    for i, row in enumerate(values.rows()):
        for key in mf.PARTICIPANT_FIELDS:
            if key != "remove":
                form[f"p{i}.{key}"] = row.get(key, "")
    return form


def test_a_meeting_goes_through_the_form_and_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER, encoding="utf-8")
    rf = RosterFile(path, load_body_table())
    text, revision = rf.read()
    table = mf.meeting_table(text, "ks-1")
    assert table is not None
    values = mf.values_of_form(_as_form(mf.values_of_table(table, revision)))
    assert values.start == "2026-12-01T09:00" and values.participants[0]["requested_at"] == "2026-11-28T10:00"
    assert values.participants[1]["serving"] == "yes" and values.participants[0]["notice_decision"] == "allowed"
    edit, errors = mf.edit_of(values)
    assert errors == [] and edit is not None
    rf.save_meeting(edit, revision, replaces="ks-1")
    roster, _ = rf.load()
    m = roster.meetings["ks-1"]
    assert m.system.value == "compodium" and m.room == "Sessionssalen" and m.program_url.endswith("/ks-1")
    anna, bo = m.participants
    assert anna.notice_decision is not None and anna.notice_decision.value == "allowed"
    assert anna.requested_at == dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC).timestamp()
    assert bo.serving and bo.role.value == "ersättare"
    after = path.read_text(encoding="utf-8")
    assert after.startswith("# IT's comment stays") and 'system_exception = "Teknik i salen"' in after


def test_blank_rows_are_left_out_and_removed_rows_dropped() -> None:
    form = {
        "id": "ks-2",
        "body": "kommunstyrelsen",
        "start": "2026-12-01T09:00",
        "end": "2026-12-01T10:00",
        "p0.name": "Anna",
        "p0.device_id": "a",
        "p1.name": "Bo",
        "p1.device_id": "b",
        "p1.remove": "on",
        "p2.name": "",
        "p2.device_id": "",
    }
    edit, errors = mf.edit_of(mf.values_of_form(form))
    assert errors == [] and edit is not None and [p.name for p in edit.participants] == ["Anna"]


def test_unreadable_fields_are_said_in_swedish_and_nothing_is_made() -> None:
    form = {
        "id": "",
        "body": "",
        "start": "i morgon",
        "end": "",
        "system": "zoom",
        "p0.name": "Anna",
        "p0.device_id": "",
        "p0.email": "anna at example",
        "p0.requested_at": "igår",
        "p1.name": "",
        "p1.device_id": "x",
        "p1.role": "ordförande",
    }
    edit, errors = mf.edit_of(mf.values_of_form(form))
    assert edit is None
    assert errors == [
        "Skriv mötets id (till exempel ks-2026-12-01).",
        "Välj nämnd.",
        "Skriv när mötet börjar (datum och klockslag).",
        "Skriv när mötet slutar (datum och klockslag).",
        "Välj mötessystem i listan.",
        "Skriv enhetens id för Anna.",
        "Tiden då Anna anmälde distansdeltagande går inte att läsa.",
        "E-postadressen för Anna ser inte ut som en e-postadress.",
        "Skriv namnet på deltagare 2.",
        "Välj roll för deltagare 2: ledamot eller ersättare.",
    ]


def test_an_outlook_invitation_fills_the_form() -> None:
    [draft] = parse_ics(OUTLOOK.replace("\n", "\r\n").encode(), load_body_table())
    values = mf.values_of_draft(draft, "rev")
    assert (values.id, values.body, values.start, values.end) == (
        "kommunstyrelsen-2026-12-01",
        "kommunstyrelsen",
        "2026-12-01T09:00",
        "2026-12-01T12:00",
    )
    assert [(p["name"], p["role"], p["email"]) for p in values.participants] == [
        ("Anna Andersson", "ledamot", "anna.andersson@politik.kommun.example"),
        ("Fatima Said", "ersättare", "fatima.said@politik.kommun.example"),
    ]
    assert values.replaces == "" and values.revision == "rev"
