"""The meeting report with participants the system did not watch (issue 11): a stretch in which
someone was not monitored is "not confirmed for everyone" (H13), never "equal terms held"; worse
findings still win."""

from __future__ import annotations

from collector.web import report
from collector.web.queries import MeetingHistory
from likavillkor.roster import Meeting, Monitoring, Participant, Role, System
from tests.web.test_report import action, at, state

MEETING = Meeting(
    id="ks-1",
    body="kommunstyrelsen",
    start=at(0),
    end=at(120),
    room="Sessionssalen",
    system=System.TEAMS,
    secret=False,
    participants=(
        Participant("anna", "Anna Andersson", Role.LEDAMOT, "anna-ipad", None, Monitoring.BROWSER),
        Participant("bo", "Bo Berg", Role.LEDAMOT, "dev-b"),
    ),
)


def test_a_stretch_with_someone_unwatched_is_not_confirmed() -> None:
    h = MeetingHistory(
        # Anna's page opens at 10 (before: not monitored, the engine's first state, never a change),
        # is hidden during § 2, and she is lost during § 3
        actions=[
            action("item_start", 20, "1"),
            action("item_start", 40, "2"),
            action("item_start", 60, "3"),
            action("item_start", 90, "4"),
        ],
        state_changes=[
            state("bo", "ok", 1),
            state("anna", "ok", 10),
            state("anna", "not_monitored", 45),
            state("anna", "ok", 55),
            state("anna", "lost", 70),
            state("anna", "ok", 72),
        ],
        verdicts=[
            {"at": at(1), "new": "not_all_monitored"},
            {"at": at(10), "new": "equal_terms"},
            {"at": at(45), "new": "not_all_monitored"},
            {"at": at(55), "new": "equal_terms"},
            {"at": at(70), "new": "adjourn"},
            {"at": at(72), "new": "equal_terms"},
        ],
        incidents=[],
    )
    rep = report.build(MEETING, h, now=at(200))
    by = {(s.kind, s.label): s.equal_terms for s in rep.segments}
    assert by == {
        ("whole", ""): "not_held",
        ("item", "1"): "held",
        ("item", "2"): "unconfirmed",
        ("item", "3"): "not_held",
        ("item", "4"): "held",
    }
    assert rep.timelines["anna"][0].value == "not_monitored"  # before her page opened
    seg = next(s for s in rep.segments if s.label == "2")
    assert report.verdict_text(seg, "sv").startswith("inte bekräftat för alla")
    assert "H13" in report.verdict_text(seg, "en")
    assert "unconfirmed" in report.to_csv(rep, "sv")
