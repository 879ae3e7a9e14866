"""The meeting report names people and explains itself (issue 15): adjournments by the person's name
(not the user name), each substitution once with who stepped in, and a legend of the timeline."""

from __future__ import annotations

from collector.web import report, report_timeline
from collector.web.queries import MeetingHistory
from tests.web.test_report import MEETING, action, at, state


def test_people_by_name_and_each_substitution_once() -> None:
    sub = {**action("substitute", 77), "member_id": "bo", "substitute_id": "anna"}
    told = {**action("unequal_terms", 3), "by": "member:anna", "member_id": "anna"}
    h = MeetingHistory(
        actions=[told, action("adjourn", 40), action("resume", 50), sub],
        # bo replaced, heard again, replaced again: one substitution, at the first time
        state_changes=[
            state("bo", "ok", 1),
            state("bo", "replaced", 75),
            state("bo", "ok", 76),
            state("bo", "replaced", 78),
        ],
        verdicts=[],
        incidents=[],
    )
    rep = report.build(MEETING, h, now=at(130), people={"ordf": "Eva Ordförande"})
    assert [a.value for a in rep.adjournments] == ["Eva Ordförande"]
    assert rep.substitutions == [(at(75), "Bo Berg → Anna Andersson")]
    csv_text = report.to_csv(rep, "sv")
    assert csv_text.count("substitution,") == 1 and "ordf," not in csv_text
    assert report.who_name("member:anna", rep.names, {}) == "Anna Andersson"
    assert report.who_name("it-lisa", rep.names, {}) == "it-lisa"  # no name on file: as recorded
    # the member's own report (H17) is in the report, by her name, with her words
    assert [(name, words) for _, name, words in rep.told] == [("Anna Andersson", "")]
    assert "unequal_terms," in csv_text


def test_the_legend_explains_every_fill_and_pattern_shown() -> None:
    h = MeetingHistory(
        actions=[action("item_start", 5, "1"), action("adjourn", 40), action("resume", 50)],
        state_changes=[state("anna", "ok", 1), state("anna", "lost", 35), state("bo", "excused", 10)],
        verdicts=[],
        incidents=[],
    )
    rep = report.build(MEETING, h, now=at(130))
    legend = report_timeline.legend(rep, "sv")
    keys = [entry["key"] for entry in legend]
    shown = {iv.value for ivs in rep.timelines.values() for iv in ivs}
    assert set(keys) == shown | {"adjourned", "item"}
    by_key = {entry["key"]: entry for entry in legend}
    assert by_key["lost"]["means"].startswith("inte lika villkor")
    assert "ajournerat" in by_key["adjourned"]["means"] and "ärende" in by_key["item"]["means"]
    assert all(not entry["means"].startswith("rep.legend") for entry in legend)  # every text in the catalogs
    assert report_timeline.legend(rep, "en")[0]["means"] != legend[0]["means"]


def test_the_chairs_present_confirmations_are_in_the_report() -> None:
    """H16: the chair's word that a member who lost the agent's contact is still in the meeting program is
    audited in the report (who, when, why), in the page and in the CSV."""
    confirmed = {**action("present", 20), "member_id": "anna", "note": "syns i Teams, agenten har tappat nätet"}
    h = MeetingHistory(actions=[confirmed], state_changes=[], verdicts=[], incidents=[])
    rep = report.build(MEETING, h, now=at(130), people={"ordf": "Eva Ordförande"})
    assert rep.present == [(at(20), "Anna Andersson", "syns i Teams, agenten har tappat nätet", "Eva Ordförande")]
    csv_text = report.to_csv(rep, "sv")
    assert "present,syns i Teams, agenten har tappat nätet" in csv_text or 'present,"syns i Teams' in csv_text
