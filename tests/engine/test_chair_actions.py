"""The chair's part of issue 15 in the pure engine (injected clock): the adjourned banner's fields
(whom the meeting waits for, when the five minutes run out, H15/H16), the phase and the H8 deadline,
the chair's confirmation that a member without contact is still in the meeting program (H16,
``present``), the roll call (H13, ``roll_call``) and the devices on no roster in a meeting's window
(H12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from collector.engine import Action, ActionKind, Engine
from collector.web import refusals
from tests.engine.conftest import END, START, Feeder

PRESENT_HOLD_S = 600.0  # the shipped policy (likavillkor/data/policy.toml)


def act(engine: Engine, kind: ActionKind, at: float, **kw: Any) -> list[Any]:
    return engine.act(Action(meeting_id="ks-1", kind=kind, at=at, by="ordf", **kw))


def part(engine: Engine, member_id: str, now: float) -> Any:
    view = engine.view("ks-1", now)
    assert view is not None
    return next(p for p in view.participants if p.member_id == member_id)


def lose_anna(make: Callable[..., tuple[Engine, Feeder]]) -> tuple[Engine, Feeder]:
    """Anna and Bo heard from the start; Anna silent from START + 10 (lost at ~START + 16)."""
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START, START + 10)
    feed.run(["bo-ipad"], START + 10, START + 30)
    assert part(engine, "anna", START + 30).state == "lost"
    return engine, feed


def test_the_view_names_whom_an_adjournment_waits_for_and_when_five_minutes_run_out(make: Any) -> None:
    engine, feed = lose_anna(make)
    view = engine.view("ks-1", START + 30)
    assert view is not None and view.verdict == "adjourn" and view.phase == "running"
    assert view.waiting_for == ["Anna"]
    lost = part(engine, "anna", START + 30).lost_since
    assert view.five_minutes_at == pytest.approx(lost + 300)  # H16: from the loss
    act(engine, ActionKind.ADJOURN, START + 30)
    view = engine.view("ks-1", START + 31)
    assert view is not None and view.adjourned_since == START + 30 and view.waiting_for == ["Anna"]
    # the five minutes run out: still waiting for her substitute, no clock any more
    feed.run(["bo-ipad"], START + 30, START + 330)
    view = engine.view("ks-1", START + 330)
    assert view is not None and view.verdict == "substitute_due"
    assert view.waiting_for == ["Anna"] and view.five_minutes_at is None


def test_phase_and_the_connect_deadline_before_the_start(make: Any) -> None:
    engine, _ = make("anna")
    engine.tick(START - 1200)
    view = engine.view("ks-1", START - 1200)
    assert view is not None and view.phase == "pre" and view.connect_by == START - 900  # H8: 15 minutes
    assert view.waiting_for == [] and view.five_minutes_at is None
    view = engine.view("ks-1", END + 1)
    assert view is not None and view.phase == "ended"


def test_present_in_the_meeting_program_holds_then_expires(make: Any) -> None:
    engine, feed = lose_anna(make)
    t = START + 40
    changes = act(engine, ActionKind.PRESENT, t, member_id="anna", note="syns i Teams, agenten har tappat nätet")
    assert changes[0].action.kind == "present"
    p = part(engine, "anna", t + 1)
    assert p.state == "not_monitored" and p.lost_since is None and p.substitute_in_s is None
    assert p.present_until == t + PRESENT_HOLD_S and p.present_reason.startswith("syns i Teams")
    assert p.reason is not None and p.reason.code == "present_confirmed" and "ordföranden" in p.reason.sv
    feed.run(["bo-ipad"], START + 30, t + 300)  # ticks: she is not lost while it holds
    view = engine.view("ks-1", t + 300)
    assert view is not None and view.verdict == "not_all_monitored" and view.waiting_for == []
    assert part(engine, "anna", t + 300).state == "not_monitored"
    # the confirmation runs out with her device still silent: lost from its end, five minutes from then
    feed.run(["bo-ipad"], t + 300, t + PRESENT_HOLD_S + 10)
    p = part(engine, "anna", t + PRESENT_HOLD_S + 10)
    assert p.state == "lost" and p.lost_since == t + PRESENT_HOLD_S
    assert p.substitute_in_s == pytest.approx(300 - 10)


def test_present_ends_when_her_device_is_heard_and_a_later_silence_counts(make: Any) -> None:
    engine, feed = lose_anna(make)
    act(engine, ActionKind.PRESENT, START + 40, member_id="anna", note="syns")
    feed.run(["anna-ipad", "bo-ipad"], START + 50, START + 60)
    assert part(engine, "anna", START + 60).state == "ok"
    feed.run(["bo-ipad"], START + 60, START + 80)  # silent again, inside the old confirmation's span
    assert part(engine, "anna", START + 80).state == "lost"


@pytest.mark.parametrize(("note", "code"), [("", "present_reason_needed"), ("x" * 501, "present_reason_too_long")])
def test_present_needs_a_reason(make: Any, note: str, code: str) -> None:
    engine, _ = lose_anna(make)
    with pytest.raises(ValueError) as exc:
        act(engine, ActionKind.PRESENT, START + 40, member_id="anna", note=note)
    assert refusals.code_of(exc.value) == code
    assert part(engine, "anna", START + 41).state == "lost"  # nothing half-recorded
    assert engine.actions("ks-1") == []


def test_present_is_refused_with_contact_and_for_a_replaced_member(make: Any) -> None:
    engine, feed = lose_anna(make)
    with pytest.raises(ValueError) as exc:
        act(engine, ActionKind.PRESENT, START + 40, member_id="bo", note="syns")
    assert refusals.code_of(exc.value) == "present_has_contact"
    feed.run(["bo-ipad"], START + 30, START + 330)
    assert part(engine, "anna", START + 330).state == "replaced"
    with pytest.raises(ValueError) as exc:
        act(engine, ActionKind.PRESENT, START + 331, member_id="anna", note="syns")
    assert refusals.code_of(exc.value) == "present_unavailable"


def test_roll_call_is_recorded_per_member_in_order_and_survives_a_restart(make: Any, policies: Any) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START, START + 5)
    act(engine, ActionKind.ROLL_CALL, START + 3, member_id="anna", note="heard, seen,answered")
    act(engine, ActionKind.ROLL_CALL, START + 4, member_id="bo", note="")  # did not answer
    assert part(engine, "anna", START + 5).roll_call == ["answered", "seen", "heard"]
    assert part(engine, "anna", START + 5).roll_call_at == START + 3
    assert part(engine, "bo", START + 5).roll_call == []
    kinds = [(a.kind, a.member_id, a.note) for a in engine.actions("ks-1")]
    assert kinds == [("roll_call", "anna", "heard, seen,answered"), ("roll_call", "bo", "")]
    blob = engine.snapshot()
    from tests.engine.conftest import roster

    again = Engine(roster("anna", "bo"), policies, now=START + 6)
    again.restore(blob, START + 6)
    assert part(again, "anna", START + 6).roll_call == ["answered", "seen", "heard"]


def test_roll_call_refuses_an_unknown_mark(make: Any) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START, START + 2)
    with pytest.raises(ValueError) as exc:
        act(engine, ActionKind.ROLL_CALL, START + 2, member_id="anna", note="seen,smiling")
    assert refusals.code_of(exc.value) == "roll_call_mark"
    assert part(engine, "anna", START + 2).roll_call is None


def test_unknown_devices_in_the_meeting_window_only(make: Any) -> None:
    engine, feed = make("anna")
    feed.sample("stranger", START + 5)  # on no roster (H12)
    assert engine.unknown_devices == {"stranger": START + 5}
    view = engine.view("ks-1", START + 6, [("old-laptop", START - 86400), ("ipad-x", START + 1)])
    assert view is not None and view.unknown_devices == ["stranger", "ipad-x"]  # the most recent first


def test_present_survives_a_restart(make: Any, policies: Any) -> None:
    engine, _ = lose_anna(make)
    act(engine, ActionKind.PRESENT, START + 40, member_id="anna", note="syns")
    from tests.engine.conftest import roster

    again = Engine(roster("anna", "bo"), policies, now=START + 50)
    again.restore(engine.snapshot(), START + 50)
    again.tick(START + 60)
    p = part(again, "anna", START + 60)
    assert p.state == "not_monitored" and p.present_until == START + 40 + PRESENT_HOLD_S
