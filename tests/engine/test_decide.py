"""The pure decisions: phase, liveness, the five-minute deadline (H16), late connect (H8), and the
meeting's verdict (H1, H2, H15, H16)."""

from __future__ import annotations

import pytest

from collector.engine.debounce import Judge
from collector.engine.decide import (
    Connectivity,
    Phase,
    is_late_connect,
    lost_since,
    meeting_phase,
    participant_state,
    substitute_due_at,
)
from collector.engine.records import Member
from collector.engine.types import ParticipantState as PS
from collector.engine.types import Verdict
from collector.engine.verdict import Standing, meeting_verdict
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import Participant, Role

from .conftest import END, START

POLICY = load_policy().for_meeting("teams", "kommunstyrelsen")
JUDGE = Judge(POLICY)


def member(**kw: object) -> Member:
    m = Member("ks-1", Participant("anna", "Anna", Role.LEDAMOT, "anna-ipad"), JUDGE, START - 3600)
    for k, v in kw.items():
        setattr(m, k, v)
    return m


@pytest.mark.parametrize(
    ("now", "phase"),
    [
        (START - 3601, Phase.CLOSED),
        (START - 3600, Phase.PRE),
        (START - 0.001, Phase.PRE),
        (START, Phase.RUNNING),
        (END - 0.001, Phase.RUNNING),
        (END, Phase.ENDED),
    ],
)
def test_phase(now: float, phase: Phase) -> None:
    assert meeting_phase(START, END, 3600, now) is phase


def test_lost_needs_more_than_silence_lost_s() -> None:
    m = member(first_contact=START, last_contact=START + 10)
    assert lost_since(m, POLICY, Connectivity(), START + 15) is None
    assert lost_since(m, POLICY, Connectivity(), START + 15.01) == START + 10


def test_no_one_is_lost_while_the_broker_is_gone_and_grace_after() -> None:
    m = member(first_contact=START, last_contact=START + 10)
    assert lost_since(m, POLICY, Connectivity(False, START + 11), START + 500) is None
    back = Connectivity(True, None, START + 500)
    # silence counts from the broker's return, after the agents' reconnect grace (issue 8)
    allowed = POLICY.silence_lost_s + POLICY.reconnect_grace_s
    assert lost_since(m, POLICY, back, START + 500 + allowed) is None
    assert lost_since(m, POLICY, back, START + 500.5 + allowed) == START + 500


def test_five_minutes_from_the_loss_not_before_the_start() -> None:
    assert substitute_due_at(START + 60, START, POLICY, Connectivity()) == START + 360
    assert substitute_due_at(START - 100, START, POLICY, Connectivity()) == START + 300
    # a broker outage cannot call a substitute: at least the grace after it
    grace = POLICY.reconnect_grace_s + POLICY.silence_lost_s
    assert substitute_due_at(START + 60, START, POLICY, Connectivity(True, None, START + 358)) == START + 358 + grace


def test_participant_state_lost_then_replaced() -> None:
    m = member(first_contact=START - 1000, last_contact=START + 60)
    a = participant_state(m, Phase.RUNNING, START, POLICY, JUDGE, Connectivity(), START + 100)
    assert a.state is PS.LOST and a.lost_since == START + 60 and a.substitute_due_at == START + 360
    assert a.conditions == {"connection_lost": 2}
    a = participant_state(m, Phase.RUNNING, START, POLICY, JUDGE, Connectivity(), START + 360)
    assert a.state is PS.REPLACED and a.replaced_at == START + 360
    # before the start there is no substitute to call
    a = participant_state(m, Phase.PRE, START, POLICY, JUDGE, Connectivity(), START + 1000)
    assert a.state is PS.LOST and a.substitute_due_at is None


@pytest.mark.parametrize(
    ("link", "state"),
    [
        (wire.LinkType.WIFI, PS.OK),
        (wire.LinkType.ETHERNET, PS.OK),
        (wire.LinkType.WWAN, PS.DEGRADED),
        (wire.LinkType.HOTSPOT, PS.DEGRADED),
        (wire.LinkType.NONE, PS.FAILING),
        (wire.LinkType.UNKNOWN, PS.OK),
    ],
)
def test_link_h9(link: wire.LinkType, state: PS) -> None:
    """Mobile data and a hotspot are unmet preconditions (H9): a risk, not a failure (issue 11);
    no link at all is a broken connection."""
    m = member(first_contact=START, last_contact=START + 10, link=link)
    assert participant_state(m, Phase.RUNNING, START, POLICY, JUDGE, Connectivity(), START + 11).state is state


def test_pre_start_states() -> None:
    from collector.engine.types import SelftestSummary

    m = member(first_contact=START - 1000, last_contact=START - 500)
    assert participant_state(m, Phase.PRE, START, POLICY, JUDGE, Connectivity(), START - 499).state is PS.CONNECTED
    m.selftest = SelftestSummary(overall="pass", at=START - 600, source="agent")
    assert participant_state(m, Phase.PRE, START, POLICY, JUDGE, Connectivity(), START - 499).state is PS.READY
    m.link = wire.LinkType.WWAN
    assert participant_state(m, Phase.PRE, START, POLICY, JUDGE, Connectivity(), START - 499).state is PS.DEGRADED
    assert participant_state(member(), Phase.PRE, START, POLICY, JUDGE, Connectivity(), START).state is PS.EXPECTED


def test_planned_states_win() -> None:
    m = member(first_contact=START - 1000, last_contact=START, excused_at=START + 5)
    assert participant_state(m, Phase.RUNNING, START, POLICY, JUDGE, Connectivity(), START + 900).state is PS.EXCUSED
    m = member(first_contact=START - 1000, last_contact=START, left_at=START + 5)
    assert participant_state(m, Phase.RUNNING, START, POLICY, JUDGE, Connectivity(), START + 900).state is PS.LEFT


@pytest.mark.parametrize(
    ("first", "now", "late"),
    [(None, START - 901, False), (None, START - 899, True), (START - 900, START, False), (START - 899, START, True)],
)
def test_late_connect_h8(first: float | None, now: float, late: bool) -> None:
    assert is_late_connect(member(first_contact=first), START, POLICY, now) is late


def verdict(
    *states: PS, phase: Phase = Phase.RUNNING, conn: Connectivity | None = None, handled: bool = False
) -> Verdict:
    standings = [Standing(f"m{i}", f"M{i}", s, None, handled=handled) for i, s in enumerate(states)]
    v, reasons = meeting_verdict(
        phase, conn or Connectivity(), standings, start=START, end=END, adjourned_since=None, vote_running=False
    )
    assert reasons, "a verdict always says why"
    return v


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((PS.OK, PS.OK), Verdict.EQUAL_TERMS),
        ((PS.OK, PS.EXCUSED, PS.LEFT), Verdict.EQUAL_TERMS),
        ((PS.OK, PS.DEGRADED), Verdict.AT_RISK),
        ((PS.OK, PS.EXPECTED), Verdict.AT_RISK),
        ((PS.DEGRADED, PS.FAILING), Verdict.ADJOURN),
        ((PS.OK, PS.LOST), Verdict.ADJOURN),
        ((PS.LOST, PS.REPLACED), Verdict.SUBSTITUTE_DUE),
    ],
)
def test_verdict_table(states: tuple[PS, ...], expected: Verdict) -> None:
    assert verdict(*states) is expected


def test_verdict_outside_the_window_and_without_broker() -> None:
    assert verdict(PS.LOST, phase=Phase.PRE) is Verdict.NOT_STARTED
    assert verdict(PS.LOST, phase=Phase.ENDED) is Verdict.ENDED
    assert verdict(PS.LOST, PS.LOST, conn=Connectivity(False, START)) is Verdict.MONITORING_INTERRUPTED
    assert verdict(PS.REPLACED, handled=True) is Verdict.EQUAL_TERMS
