"""The meeting as the chair sees it (computed, no state changes).

The participants are assessed afresh at ``now`` (their countdowns run); the banner — verdict and
its reasons — is the one the engine last decided and stored (:func:`collector.engine.verdict.decide_verdict`,
issue 13), so it never runs ahead of the stored :class:`~collector.engine.types.VerdictChanged`.
"""

from __future__ import annotations

from collections.abc import Iterable

from collector.engine import media
from collector.engine.decide import (
    Assessment,
    Connectivity,
    Phase,
    participant_flags,
    participant_reasons,
    participant_state,
)
from collector.engine.records import MeetingRt, Member
from collector.engine.types import MeetingView, ParticipantState, ParticipantView, Reason
from collector.engine.verdict import awaiting, decide_verdict, phase_of

PS = ParticipantState


#: at most this many devices on no roster are named on a meeting's page (H12)
UNKNOWN_SHOWN = 20
_WAITED_FOR = frozenset({PS.LOST, PS.FAILING, PS.REPLACED})


def meeting_view(
    mt: MeetingRt, conn: Connectivity, now: float, unknown: Iterable[tuple[str, float]] = ()
) -> MeetingView:
    """``unknown``: (device id, last heard) of devices on no roster (H12); those heard in this
    meeting's window are named in the view."""
    meeting = mt.meeting
    phase = phase_of(mt, now)
    assessed = [(m, _assess(mt, m, conn, now, phase)) for m in mt.members.values()]
    parts = [_view_of(mt, m, a, now, phase) for m, a in assessed]
    verdict, reasons = mt.verdict, mt.verdict_reasons
    if reasons is None:  # restored from a snapshot and not decided since: decide now, the same way
        verdict, reasons = decide_verdict(mt, conn, now, explain=True)
    waiting = awaiting(mt, conn, now)
    return MeetingView(
        meeting_id=meeting.id,
        body=meeting.body,
        system=str(meeting.system),
        room=meeting.room,
        start=meeting.start,
        end=meeting.end,
        secret=meeting.secret,
        verdict=verdict,
        reasons=list(reasons),
        monitoring="active" if conn.connected and not waiting else "interrupted",
        adjourned_since=mt.adjourned_since,
        vote_running=mt.vote_running,
        agenda_item=mt.agenda_item,
        participants=parts,
        phase=str(phase),
        connect_by=meeting.start - mt.policy.connect_early_s,
        waiting_for=waiting_for(assessed),
        five_minutes_at=five_minutes_at(assessed),
        unknown_devices=unknown_in_window(unknown, meeting.start - mt.policy.watch_before_s, meeting.end),
        at=now,
    )


def waiting_for(assessed: list[tuple[Member, Assessment]]) -> list[str]:
    """Whom an adjournment waits for (H15): the serving members lost, failing, or replaced without
    a substitute recorded yet (H16)."""
    return [
        m.name
        for m, a in assessed
        if a.state in _WAITED_FOR and (m.serving or a.state is not PS.REPLACED) and m.handled_at is None
    ]


def five_minutes_at(assessed: list[tuple[Member, Assessment]]) -> float | None:
    """When the first running five-minute clock (H16) runs out, or None."""
    due = [a.substitute_due_at for _, a in assessed if a.state is PS.LOST and a.substitute_due_at is not None]
    return min(due) if due else None


def unknown_in_window(unknown: Iterable[tuple[str, float]], start: float, end: float) -> list[str]:
    """Devices on no roster heard between ``start`` and ``end`` (H12), the most recent first, bounded."""
    heard = sorted(((seen, d) for d, seen in unknown if start <= seen <= end), reverse=True)
    return [d for _, d in heard[:UNKNOWN_SHOWN]]


def participant_view(mt: MeetingRt, m: Member, conn: Connectivity, now: float, phase: Phase) -> ParticipantView:
    return _view_of(mt, m, _assess(mt, m, conn, now, phase), now, phase)


def _assess(mt: MeetingRt, m: Member, conn: Connectivity, now: float, phase: Phase) -> Assessment:
    if phase is Phase.ENDED:
        return frozen(m)
    return participant_state(m, phase, mt.meeting.start, mt.policy, mt.judge, conn, now)


def _view_of(mt: MeetingRt, m: Member, a: Assessment, now: float, phase: Phase) -> ParticipantView:
    start = mt.meeting.start
    reasons = participant_reasons(m, a, phase, start, mt.policy, mt.judge, now, mt.vote_running)
    flags = participant_flags(m, a.state, start, mt.policy, now, mt.vote_running)
    return _participant_view(m, a, reasons, flags, now)


def frozen(m: Member) -> Assessment:
    """After the end the states stay as they were."""
    return Assessment(m.state, m.lost_since, m.replaced_at)


def since(a: Assessment, now: float) -> float:
    if a.state is PS.REPLACED and a.replaced_at is not None:
        return a.replaced_at
    if a.state is PS.LOST and a.lost_since is not None:
        return a.lost_since
    return now


def _participant_view(m: Member, a: Assessment, reasons: list[Reason], flags: list[str], now: float) -> ParticipantView:
    s = m.sample
    due = a.substitute_due_at if a.state is PS.LOST else None
    return ParticipantView(
        member_id=m.member_id,
        name=m.name,
        role=m.role,
        device_id=m.device_id,
        state=a.state,
        since=m.since if a.state is m.state else since(a, now),
        reason=reasons[0] if reasons else None,
        reasons=reasons,
        last_contact=m.last_contact,
        # the "without contact" clock stops when the device is heard again (a replaced member back)
        lost_since=a.lost_since
        if a.state is PS.LOST or (a.state is PS.REPLACED and m.reconnected_at is None)
        else None,
        substitute_in_s=max(0.0, due - now) if due is not None else None,
        flags=flags,
        link=str(m.link) if m.link is not None else None,
        battery_percent=s.battery_percent if s else None,
        battery_charging=s.battery_charging if s else None,
        rtt_ms=s.rtt_ms if s else None,
        jitter_ms=s.jitter_ms if s else None,
        loss_percent=s.loss_percent if s else None,
        mos=s.mos if s else None,
        selftest=m.selftest,
        mediapath=media.shown(m.mediapath) if m.mediapath is not None else None,
        monitoring=m.monitoring,
        companion_open=m.companion_open,
        serving=m.serving,
        substitute_for=m.substitute_for,
        substituted_by=m.substituted_by,
        present_until=m.present_until if a.state is PS.NOT_MONITORED and m.present_reason is not None else None,
        present_reason=m.present_reason if a.state is PS.NOT_MONITORED else None,
        roll_call_at=m.roll_call_at,
        roll_call=m.roll_call,
    )
