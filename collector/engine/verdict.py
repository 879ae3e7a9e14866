"""THE meeting verdict (H1, H2, H15, H16): one function, :func:`decide_verdict`, computes it, for
the stored :class:`~collector.engine.types.VerdictChanged` and for the chair's banner alike.

It reads the participants' *recorded* states (the ones :class:`~collector.engine.types.StateChanged`
reported), never a fresh assessment, so the banner can never run ahead of the stored verdict change
(issue 13). :func:`meeting_verdict` is the pure rule over :class:`Standing`s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from collector.engine import reasons as R
from collector.engine.decide import (
    Connectivity,
    Phase,
    at_vote_risk,
    awaiting_fresh,
    meeting_phase,
    participant_reasons,
    participant_state,
)
from collector.engine.records import MeetingRt
from collector.engine.types import ParticipantState, Reason, Verdict

PS = ParticipantState
QUIET = frozenset({PS.OK, PS.READY, PS.CONNECTED})


def phase_of(mt: MeetingRt, now: float) -> Phase:
    meeting = mt.meeting
    return meeting_phase(meeting.start, meeting.end, mt.policy.watch_before_s, now)


def awaiting(mt: MeetingRt, conn: Connectivity, now: float) -> bool:
    """After the collector's own gap: someone not heard since (issue 11)."""
    if conn.gap_until is None:
        return False
    return any(awaiting_fresh(m, mt.policy, conn, now) for m in mt.members.values())


def standings(mt: MeetingRt, conn: Connectivity, now: float, phase: Phase, *, explain: bool) -> list[Standing]:
    """The members as the verdict sees them: their recorded states; reasons only when ``explain``
    (they cost), and only for those who are not quiet."""
    if phase is not Phase.RUNNING or not conn.connected:
        return []  # the verdict does not look at members then
    out: list[Standing] = []
    for m in mt.members.values():
        st = m.state
        risk = mt.vote_running and at_vote_risk(m, st)
        quiet = st in QUIET or st in (PS.EXCUSED, PS.LEFT)
        reason: Reason | None = None
        if explain and (not quiet or risk):
            a = participant_state(m, phase, mt.meeting.start, mt.policy, mt.judge, conn, now)
            reasons = participant_reasons(m, a, phase, mt.meeting.start, mt.policy, mt.judge, now, mt.vote_running)
            reason = reasons[0] if reasons else None
        out.append(
            Standing(
                m.member_id,
                m.name,
                st,
                reason,
                handled=m.handled_at is not None,
                vote_risk=risk,
                unequal_at=m.unequal_at,
            )
        )
    return out


def decide_verdict(mt: MeetingRt, conn: Connectivity, now: float, *, explain: bool) -> tuple[Verdict, list[Reason]]:
    """The meeting's verdict at ``now`` and (``explain``) why: the only place it is computed."""
    phase = phase_of(mt, now)
    meeting = mt.meeting
    return meeting_verdict(
        phase,
        conn,
        standings(mt, conn, now, phase, explain=explain),
        start=meeting.start,
        end=meeting.end,
        adjourned_since=mt.adjourned_since,
        vote_running=mt.vote_running,
        explain=explain,
        awaiting_fresh=awaiting(mt, conn, now),
    )


class Standing(NamedTuple):
    """One participant as the verdict sees them."""

    member_id: str
    name: str
    state: ParticipantState
    reason: Reason | None
    handled: bool = False  # replaced and the substitute recorded (H16)
    vote_risk: bool = False
    unequal_at: float | None = None  # H17: she told the chair she does not take part on equal terms


_SEVERITY_ORDER = {PS.REPLACED: 0, PS.LOST: 1, PS.FAILING: 2, PS.DEGRADED: 3, PS.EXPECTED: 4, PS.NOT_MONITORED: 5}


def _unjudged(
    phase: Phase, conn: Connectivity, *, start: float, end: float, awaiting_fresh: bool
) -> tuple[Verdict, list[Reason]] | None:
    """The verdict when no participant decides it: the meeting not begun or over, or the collector
    itself not hearing (the broker lost, or its own gap not yet caught up); else None."""
    if phase in (Phase.CLOSED, Phase.PRE):
        return Verdict.NOT_STARTED, [R.not_started(start)]
    if phase is Phase.ENDED:
        return Verdict.ENDED, [R.ended(end)]
    if not conn.connected:
        return Verdict.MONITORING_INTERRUPTED, [R.monitoring_interrupted(conn.down_since)]
    if awaiting_fresh and conn.gap_until is not None:
        # the collector itself was away: until every member is heard again, we do not know (issue 11)
        return Verdict.MONITORING_INTERRUPTED, [R.own_gap(conn.gap_since, conn.gap_until)]
    return None


def meeting_verdict(
    phase: Phase,
    conn: Connectivity,
    standings: Iterable[Standing],
    *,
    start: float,
    end: float,
    adjourned_since: float | None,
    vote_running: bool,
    explain: bool = True,
    awaiting_fresh: bool = False,
) -> tuple[Verdict, list[Reason]]:
    """The meeting's verdict and why (H1, H2, H15, H16). Never "everyone lost" when the collector
    itself lost the broker: that is ``monitoring_interrupted``. ``explain=False`` skips the reasons."""
    unjudged = _unjudged(phase, conn, start=start, end=end, awaiting_fresh=awaiting_fresh)
    if unjudged is not None:
        return unjudged
    worst: list[tuple[int, Standing]] = []
    due = lost = degraded = unmonitored = False
    told: list[Reason] = []
    for s in standings:
        if s.unequal_at is not None:  # H17: her own word puts the meeting at risk at least
            degraded = True
            if explain:
                told.append(R.unequal_terms(s.name, s.unequal_at, s.member_id))
        if s.state is PS.REPLACED:
            if s.handled:
                continue
            due = True
        elif s.state in (PS.LOST, PS.FAILING):
            lost = True
        elif s.state in (PS.DEGRADED, PS.EXPECTED):
            degraded = True
        elif s.state is PS.NOT_MONITORED:
            unmonitored = True  # no claim for her: never "equal terms" for the whole meeting (issue 11)
        else:
            continue
        if explain:
            worst.append((_SEVERITY_ORDER[s.state], s))
    worst.sort(key=lambda t: t[0])
    out: list[Reason] = []
    if vote_running:  # loudest first: the decision being taken may not be valid (H5)
        out.extend(R.vote_risk(s.name, str(s.state), s.member_id) for _, s in worst if s.vote_risk)
    out.extend(told)  # H17: what the member herself says, before what the measurements say
    out.extend(R.member_state(s.name, str(s.state), s.reason, s.member_id) for _, s in worst)
    if adjourned_since is not None and explain:
        out.append(R.adjourned(adjourned_since))
    if due:
        return Verdict.SUBSTITUTE_DUE, out
    if lost:
        return Verdict.ADJOURN, out
    if degraded:
        return Verdict.AT_RISK, out
    if unmonitored:
        return Verdict.NOT_ALL_MONITORED, out
    return Verdict.EQUAL_TERMS, out or ([R.all_ok()] if explain else [])
