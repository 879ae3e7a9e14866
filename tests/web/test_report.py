"""The meeting report (pure): per agenda item and vote whether equal terms held, who was affected,
adjournments, substitutions, a timeline; CSV. Built from a hand-written history."""

from __future__ import annotations

import csv
import io

from collector.web import report, report_timeline
from collector.web.queries import MeetingHistory
from likavillkor.roster import Meeting, Participant, Role, System

T0 = 1_800_000_000.0  # the meeting starts


def at(minutes: float) -> float:
    return T0 + minutes * 60


MEETING = Meeting(
    id="ks-1",
    body="kommunstyrelsen",
    start=T0,
    end=at(120),
    room="Sessionssalen",
    system=System.TEAMS,
    secret=False,
    participants=(
        Participant("anna", "Anna Andersson", Role.LEDAMOT, "dev-a"),
        Participant("bo", "Bo Berg", Role.LEDAMOT, "dev-b"),
    ),
)


def action(kind: str, minutes: float, item: str | None = None) -> dict[str, object]:
    return {"kind": kind, "at": at(minutes), "by": "ordf", "item": item, "note": None, "member_id": None}


def state(member: str, new: str, minutes: float) -> dict[str, object]:
    return {"member_id": member, "new": new, "at": at(minutes), "old": "", "device_id": ""}


def history() -> MeetingHistory:
    return MeetingHistory(
        actions=[
            action("item_start", 5, "1"),
            action("vote_start", 20),
            action("vote_end", 22),
            action("item_start", 30, "2"),
            action("adjourn", 40),
            action("resume", 50),
            action("item_start", 60, "3"),
            action("item_start", 90, "4"),
        ],
        state_changes=[
            state("anna", "ok", 1),
            state("bo", "ok", 1),
            state("anna", "lost", 35),
            state("anna", "ok", 38),  # during § 2, before the adjournment
            state("bo", "lost", 41),
            state("bo", "ok", 49),  # only while adjourned: no harm
            state("bo", "lost", 70),
            state("bo", "replaced", 75),
        ],
        verdicts=[
            {"at": at(1), "new": "equal_terms"},
            {"at": at(35), "new": "adjourn"},
            {"at": at(38), "new": "equal_terms"},
            {"at": at(70), "new": "adjourn"},
            {"at": at(75), "new": "substitute_due"},
            {"at": at(80), "new": "equal_terms"},
            {"at": at(95), "new": "monitoring_interrupted"},
            {"at": at(96), "new": "equal_terms"},
        ],
        incidents=[],
    )


def test_items_and_votes_are_judged_outside_adjournments() -> None:
    rep = report.build(MEETING, history(), now=at(200))
    by = {(s.kind, s.label): s for s in rep.segments}
    assert by[("item", "1")].equal_terms == "held" and by[("vote", "")].equal_terms == "held"
    assert by[("item", "2")].equal_terms == "not_held" and by[("item", "2")].affected == ["Anna Andersson"]
    assert by[("item", "3")].equal_terms == "not_held" and by[("item", "3")].affected == ["Bo Berg"]
    assert by[("item", "4")].equal_terms == "unknown"  # monitoring was interrupted: nobody can say
    assert by[("whole", "")].equal_terms == "not_held"
    assert [(a.start, a.end) for a in rep.adjournments] == [(at(40), at(50))]
    assert rep.substitutions == [(at(75), "Bo Berg")]
    assert rep.end == MEETING.end


def test_a_running_meeting_ends_at_now_and_an_open_adjournment_at_the_end() -> None:
    h = history()
    h.actions = [action("item_start", 5, "1"), action("adjourn", 10)]
    h.state_changes = h.state_changes[:2]
    rep = report.build(MEETING, h, now=at(30))
    assert rep.end == at(30) and [(a.start, a.end) for a in rep.adjournments] == [(at(10), at(30))]


def test_csv_and_timeline_say_it_in_words() -> None:
    rep = report.build(MEETING, history(), now=at(200))
    rows = list(csv.reader(io.StringIO(report.to_csv(rep, "sv"))))
    assert rows[0] == ["meeting_id", "section", "label", "from", "to", "equal_terms", "affected"]
    assert ["ks-1", "item", "§ 2", "09:30:00", "09:00:00"][:3] == next(r for r in rows if r[2] == "§ 2")[:3]
    assert next(r for r in rows if r[2] == "§ 2")[5:] == ["not_held", "Anna Andersson"]
    assert any(r[1] == "substitution" and r[2] == "Bo Berg" for r in rows)
    assert any(r[1] == "state" and r[2] == "Anna Andersson" and r[5] == "lost" for r in rows)
    svg = report_timeline.timeline_svg(rep, "sv")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Anna Andersson" in svg and "Ingen kontakt" in svg and "§ 3" in svg and "url(#hatch)" in svg
    assert "No contact" in report_timeline.timeline_svg(rep, "en")
