"""H17: the member herself tells the chair she does not take part on equal terms (issue 15).

The report is an action (``unequal_terms``) recorded with time and who; the chair's banner names her
at once and the meeting is at least at risk, until the chair resumes after an adjournment or records
that she left, was excused or returned. It survives a restart (snapshot)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from collector.engine import Action, ActionKind, Engine
from collector.engine.types import Verdict
from likavillkor.policy import PolicySet
from tests.engine.conftest import START, Feeder, roster

Make = Callable[..., tuple[Engine, Feeder]]


def _banner(engine: Engine, t: float) -> tuple[Verdict, list[str]]:
    view = engine.view("ks-1", t)
    assert view is not None
    return view.verdict, [r.sv for r in view.reasons]


def _report(engine: Engine, t: float, member: str = "anna") -> list[object]:
    return engine.act(
        Action(meeting_id="ks-1", kind=ActionKind.UNEQUAL_TERMS, at=t, by=f"member:{member}", member_id=member)
    )


def test_a_members_report_reaches_the_banner_with_her_name_h17(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    assert _banner(engine, START + 10)[0] is Verdict.EQUAL_TERMS
    changes = _report(engine, START + 10)
    assert any(type(c).__name__ == "VerdictChanged" for c in changes)  # at once, not at the next tick
    verdict, reasons = _banner(engine, START + 10)
    assert verdict is Verdict.AT_RISK
    assert reasons[0].startswith("Anna") and "deltar inte på lika villkor" in reasons[0], reasons
    view = engine.view("ks-1", START + 10)
    assert view is not None and view.reasons[0].rule == "H17" and view.reasons[0].member_id == "anna"
    # a second press keeps the first time and is recorded too
    _report(engine, START + 20)
    assert [a.kind for a in engine.actions("ks-1")].count(ActionKind.UNEQUAL_TERMS) == 2
    assert _banner(engine, START + 20)[1][0] == reasons[0]


def test_the_report_stands_until_the_chair_resumes_h17(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    _report(engine, START + 10)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.ADJOURN, at=START + 20, by="ordf"))
    feed.run(["anna-ipad", "bo-ipad"], START + 20, START + 30)
    assert any("deltar inte på lika villkor" in r for r in _banner(engine, START + 30)[1])
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.RESUME, at=START + 30, by="ordf"))
    verdict, reasons = _banner(engine, START + 30)
    assert verdict is Verdict.EQUAL_TERMS and not any("deltar inte på lika villkor" in r for r in reasons)


def test_excused_member_cannot_report_and_excuse_answers_the_report_h17_h18(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    _report(engine, START + 10)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.EXCUSE, at=START + 11, by="ordf", member_id="anna"))
    assert not any("deltar inte på lika villkor" in r for r in _banner(engine, START + 11)[1])
    with pytest.raises(ValueError, match="does not take part now"):
        _report(engine, START + 12)
    with pytest.raises(ValueError, match="not a remote participant"):
        _report(engine, START + 12, member="zed")


def test_the_report_survives_a_restart_h17(make: Make, policies: PolicySet) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    _report(engine, START + 10)
    blob = engine.snapshot()
    again = Engine(roster("anna", "bo"), policies, now=START + 11)
    again.restore(blob, START + 11)
    Feeder(again).run(["anna-ipad", "bo-ipad"], START + 11, START + 13)
    verdict, reasons = _banner(again, START + 13)
    assert verdict is Verdict.AT_RISK and reasons[0].startswith("Anna"), reasons
