"""Monitoring modes (issue 11): the member the system cannot watch is *not monitored*, never lost.

The handbook's standard device is a tablet that runs no agent (H9, H10). Her browser self-test is
a self-test, not contact in the meeting; her companion page watches her while it is open; a
participant watched by nothing is shown as not monitored with the roll-call advice (H13).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.engine import Engine, ParticipantState, Verdict
from collector.engine.types import Action, ActionKind
from likavillkor import wire
from likavillkor.policy import PolicySet, load_policy
from likavillkor.roster import Meeting, Monitoring, Participant, Role, Roster, System
from tests.engine.conftest import END, START, Feeder

PS = ParticipantState
Make = Callable[..., tuple[Engine, Feeder]]


def roster_with(**modes: Monitoring) -> Roster:
    r = Roster()
    parts = tuple(Participant(m, m.title(), Role.LEDAMOT, f"{m}-dev", None, mode) for m, mode in modes.items())
    r.meetings["ks-1"] = Meeting("ks-1", "kommunstyrelsen", START, END, "Sessionssalen", System.TEAMS, False, parts)
    for p in parts:
        r.devices[p.device_id] = p.member_id
    return r


def browser_selftest(feed: Feeder, device: str, t: float) -> Any:
    msg = wire.SelftestResult(
        device_id=device,
        boot_id="browser",
        seq=int(t * 1000),
        ts=t,
        meeting_id="ks-1",
        source="browser",
        overall=wire.CheckStatus.PASS,
        started_at=t - 30,
        duration_s=30,
        checks=[],
    )
    return feed.engine.ingest(msg, t)


def state(engine: Engine, member: str, now: float) -> ParticipantState:
    view = engine.view("ks-1", now)
    assert view is not None
    return next(p for p in view.participants if p.member_id == member).state


def test_browser_selftest_is_not_contact_in_the_meeting(make: Make) -> None:
    """Regression (issue 11, item 1): the browser self-test through her link made the member `lost`
    ten seconds later and `replaced` after five minutes."""
    engine, feed = make("anna", "bo")
    feed.run(["bo-ipad"], START - 600, START + 5)
    outcome, _ = browser_selftest(feed, "anna-ipad", START + 5)
    assert str(outcome) == "accepted"
    t = START + 5
    for dt in (10, 30, 400):
        feed.run(["bo-ipad"], t, START + 5 + dt)
        t = START + 5 + dt
        st = state(engine, "anna", t)
        assert st not in (PS.LOST, PS.REPLACED), (dt, st)
    view = engine.view("ks-1", START + 405)
    assert view is not None and view.verdict not in (Verdict.ADJOURN, Verdict.SUBSTITUTE_DUE)
    anna = next(p for p in view.participants if p.member_id == "anna")
    assert anna.selftest is not None and anna.selftest.source == "browser"  # the result is still recorded


def test_participant_watched_by_nothing_is_not_monitored_never_lost(policies: PolicySet) -> None:
    engine = Engine(roster_with(anna=Monitoring.NONE, bo=Monitoring.AGENT), policies, now=START - 1800)
    feed = Feeder(engine)
    view = engine.view("ks-1", START - 1000)
    assert view is not None
    anna = next(p for p in view.participants if p.member_id == "anna")
    assert anna.state is PS.NOT_MONITORED and anna.monitoring == "none"
    assert anna.reason is not None and anna.reason.code == "not_monitored" and anna.reason.rule == "H13"
    assert "uppropet" in anna.reason.sv and "roll call" in anna.reason.en
    assert "late_connect" not in anna.flags  # nothing expected her to connect
    browser_selftest(feed, "anna-dev", START - 900)
    feed.run(["bo-dev"], START - 900, START + 900, rtt_ms=20.0)
    view = engine.view("ks-1", START + 900)
    assert view is not None
    anna = next(p for p in view.participants if p.member_id == "anna")
    assert anna.state is PS.NOT_MONITORED and [r.code for r in anna.reasons] == ["not_monitored", "selftest_passed"]
    # nothing wrong is seen, but the system does not claim equal terms for everyone
    assert view.verdict is Verdict.NOT_ALL_MONITORED
    assert [r.code for r in view.reasons] == ["not_monitored"] and view.reasons[0].sv.startswith("Anna: inte")
    assert not engine.open_incidents()
    # a vote does not flag her (no claim either way) and an agent member's loss still adjourns (H15)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.VOTE_START, at=START + 901, by="ordf"))
    assert (
        "vote_risk"
        not in next(
            p
            for p in engine.view("ks-1", START + 902).participants  # type: ignore[union-attr]
            if p.member_id == "anna"
        ).flags
    )
    changes = engine.tick(START + 920)
    assert state(engine, "bo", START + 920) is PS.LOST
    assert any(getattr(c, "new", None) is Verdict.ADJOURN for c in changes)


def test_companion_page_watches_a_browser_member_while_open(policies: PolicySet) -> None:
    engine = Engine(roster_with(anna=Monitoring.BROWSER, bo=Monitoring.AGENT), policies, now=START - 1800)
    feed = Feeder(engine)
    assert state(engine, "anna", START - 1000) is PS.NOT_MONITORED
    engine.companion("ks-1", "anna", True, START - 950)
    feed.run(["anna-dev", "bo-dev"], START - 950, START + 60, rtt_ms=20.0, link=None)
    view = engine.view("ks-1", START + 60)
    assert view is not None and view.verdict is Verdict.EQUAL_TERMS
    assert {p.member_id: p.state for p in view.participants} == {"anna": PS.OK, "bo": PS.OK}
    assert next(p for p in view.participants if p.member_id == "anna").companion_open
    # her round-trip time feeds the same debounce as an agent's (3 of 10)
    feed.run(["anna-dev", "bo-dev"], START + 60, START + 70, rtt_ms=900.0, link=None)
    assert state(engine, "anna", START + 70) is PS.FAILING
    feed.run(["anna-dev", "bo-dev"], START + 70, START + 90, rtt_ms=20.0, link=None)
    assert state(engine, "anna", START + 90) is PS.OK
    # hidden (Split View closed, app switched): not monitored, not lost, no adjournment
    changes = engine.companion("ks-1", "anna", False, START + 91)
    assert [(c.old, c.new) for c in changes if hasattr(c, "new") and hasattr(c, "member_id")] == [
        (PS.OK, PS.NOT_MONITORED)
    ]
    feed.run(["bo-dev"], START + 91, START + 600, rtt_ms=20.0)
    view = engine.view("ks-1", START + 600)
    assert view is not None and view.verdict is Verdict.NOT_ALL_MONITORED
    anna = next(p for p in view.participants if p.member_id == "anna")
    assert anna.state is PS.NOT_MONITORED and "följesidan är dold eller stängd" in anna.reasons[0].sv
    assert not [i for i in engine.open_incidents() if i.member_id == "anna"]
    # open again: watched from now, with no stale silence held against her
    engine.companion("ks-1", "anna", True, START + 601)
    assert state(engine, "anna", START + 601) is PS.OK
    feed.run(["anna-dev", "bo-dev"], START + 601, START + 610, rtt_ms=20.0, link=None)
    # silence while the page is open (the iPad's network is cut): lost (H15), then replaced (H16)
    feed.run(["bo-dev"], START + 610, START + 620, rtt_ms=20.0)
    assert state(engine, "anna", START + 620) is PS.LOST
    assert engine.view("ks-1", START + 620).verdict is Verdict.ADJOURN  # type: ignore[union-attr]
    feed.run(["bo-dev"], START + 620, START + 920, rtt_ms=20.0)
    assert state(engine, "anna", START + 920) is PS.REPLACED


def test_lost_browser_member_stays_lost_after_a_restart(policies: PolicySet) -> None:
    """The companion socket is gone after a restart, but a loss recorded before it is not hidden."""
    engine = Engine(roster_with(anna=Monitoring.BROWSER, bo=Monitoring.BROWSER), policies, now=START - 1800)
    feed = Feeder(engine)
    engine.companion("ks-1", "anna", True, START)
    engine.companion("ks-1", "bo", True, START)
    feed.run(["anna-dev", "bo-dev"], START, START + 10, link=None)
    feed.run(["bo-dev"], START + 10, START + 30, link=None)
    assert state(engine, "anna", START + 30) is PS.LOST
    blob = engine.snapshot()
    fresh = Engine(roster_with(anna=Monitoring.BROWSER, bo=Monitoring.BROWSER), policies, now=START + 40)
    fresh.restore(blob, START + 40)
    assert state(fresh, "anna", START + 40) is PS.LOST  # still lost, the five minutes keep running
    assert state(fresh, "bo", START + 40) is PS.NOT_MONITORED  # until her page reconnects
    fresh.companion("ks-1", "bo", True, START + 41)
    assert state(fresh, "bo", START + 41) is PS.OK


def test_agent_and_none_members_ignore_companion_reports(policies: PolicySet) -> None:
    engine = Engine(roster_with(anna=Monitoring.AGENT, bo=Monitoring.NONE), policies, now=START - 1800)
    assert engine.companion("ks-1", "anna", False, START) == []
    assert engine.companion("ks-1", "bo", True, START) == []
    assert engine.companion("ks-1", "nobody", True, START) == []
    assert engine.companion("no-meeting", "anna", True, START) == []
    assert state(engine, "bo", START + 10) is PS.NOT_MONITORED


# --- random sequences (hypothesis): the monitoring modes keep their promises ----------------------

MODES = {"anna": Monitoring.BROWSER, "bo": Monitoring.NONE, "cecilia": Monitoring.AGENT}
monitoring_event = st.one_of(
    st.tuples(st.just("sample"), st.sampled_from(list(MODES)), st.floats(0, 1500)),
    st.tuples(st.just("companion"), st.sampled_from(list(MODES)), st.booleans()),
    st.tuples(st.just("selftest"), st.sampled_from(list(MODES))),
    st.tuples(st.just("wait"), st.floats(0.1, 200)),
    st.tuples(st.just("broker"), st.booleans()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(monitoring_event, min_size=10, max_size=120), st.floats(-1200, 100))
def test_random_sequences_never_lose_the_unwatched(events: list[tuple[Any, ...]], begin: float) -> None:
    policies = load_policy()
    engine = Engine(roster_with(**MODES), policies, now=START + begin - 1)
    now = START + begin
    opened = False  # Anna's companion page has been open at least once
    for ev in events:
        if ev[0] == "sample":
            msg = wire.Sample(device_id=f"{ev[1]}-dev", boot_id="b", seq=int(now * 1000), ts=now, rtt_ms=ev[2])
            engine.ingest(msg, now)
        elif ev[0] == "companion":
            engine.companion("ks-1", ev[1], ev[2], now)
            opened = opened or (ev[1] == "anna" and ev[2] and START - policies.defaults.watch_before_s <= now < END)
        elif ev[0] == "selftest":
            msg = wire.SelftestResult(
                device_id=f"{ev[1]}-dev",
                boot_id="browser",
                seq=int(now * 1000),
                ts=now,
                source="browser",
                overall=wire.CheckStatus.PASS,
                started_at=now - 1,
                duration_s=1,
                checks=[],
            )
            engine.ingest(msg, now)
        elif ev[0] == "wait":
            now += ev[1]
        else:
            engine.broker(ev[1], now)
        engine.tick(now)
        view = engine.view("ks-1", now)
        assert view is not None
        states = {p.member_id: p.state for p in view.participants}
        if START <= now < END:
            # watched by nothing: never lost, replaced or judged; the meeting never claims equal terms
            assert states["bo"] is PS.NOT_MONITORED
            assert view.verdict is not Verdict.EQUAL_TERMS
            if not opened:  # a browser member whose page never opened: no verdict from silence
                assert states["anna"] is PS.NOT_MONITORED
            if ev[0] == "companion" and ev[1] == "anna" and not ev[2] and states["anna"] is not PS.REPLACED:
                assert states["anna"] is PS.NOT_MONITORED  # hidden or closed: never lost from that alone
        # the held state agrees with the pure view
        held = {m.member_id: m.state for m in engine._meetings["ks-1"].members.values()}
        if START - policies.defaults.watch_before_s <= now < END:
            assert held == states


def test_a_roster_change_of_mode_starts_a_fresh_silence_window(policies: PolicySet) -> None:
    """The secretary gives Anna the agent mid-meeting (she was on the browser, page hidden for ten
    minutes): she is not lost for the old silence; if the agent never speaks, she is lost after the limit."""
    engine = Engine(roster_with(anna=Monitoring.BROWSER, bo=Monitoring.AGENT), policies, now=START - 1800)
    feed = Feeder(engine)
    engine.companion("ks-1", "anna", True, START)
    feed.run(["anna-dev", "bo-dev"], START, START + 10, link=None)
    engine.companion("ks-1", "anna", False, START + 10)
    feed.run(["bo-dev"], START + 10, START + 610)
    assert state(engine, "anna", START + 610) is PS.NOT_MONITORED
    engine.set_roster(roster_with(anna=Monitoring.AGENT, bo=Monitoring.AGENT), START + 610)
    assert state(engine, "anna", START + 611) is not PS.LOST
    feed.run(["anna-dev", "bo-dev"], START + 611, START + 620)
    assert state(engine, "anna", START + 620) is PS.OK
    feed.run(["bo-dev"], START + 620, START + 640)
    assert state(engine, "anna", START + 640) is PS.LOST
