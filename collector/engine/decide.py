"""The engine's decisions as pure functions of state + policy + now (no I/O, no clock).

* :func:`meeting_phase` — before the window, before the start, running, ended.
* :func:`participant_state` — one participant's state and the conditions behind it.
* :func:`participant_reasons` / :func:`participant_flags` — why, in Swedish and English.

The meeting verdict is in :mod:`collector.engine.verdict`. The
:class:`~collector.engine.engine.Engine` only holds state and calls these.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from collector.engine import reasons as R
from collector.engine.debounce import Judge, incident_kind, reason_code
from collector.engine.monitoring import AGENT, not_monitored, watched
from collector.engine.records import Member
from collector.engine.types import ParticipantState, Reason
from likavillkor import wire
from likavillkor.policy import Policy

PS = ParticipantState


class Phase(StrEnum):
    CLOSED = "closed"  # the meeting's window has not opened yet
    PRE = "pre"  # window open, before the start: connect early (H8), self-test
    RUNNING = "running"
    ENDED = "ended"


class Connectivity(NamedTuple):
    """The collector's own connectivity (was ``Monitor``): is its broker connected, since when, and
    its own last gap. Not the agent's sampling loop (``agent.monitor.Monitor``)."""

    connected: bool = True
    down_since: float | None = None
    grace_from: float | None = None  # devices get silence_lost_s from here (broker back, restart)
    #: the collector's own last gap (restart, stall; issue 11): its members' silence and the probe
    #: loss measured in it are the collector's, not theirs
    gap_since: float | None = None
    gap_until: float | None = None


class Assessment(NamedTuple):
    state: ParticipantState
    lost_since: float | None = None
    replaced_at: float | None = None
    substitute_due_at: float | None = None  # when the five minutes run out (H16)
    conditions: dict[str, int] = {}  # noqa: RUF012 - never mutated; incident kind -> 1 warning, 2 failure


SEVERITY = {1: "warning", 2: "failure"}
_LINK_CONDITION = {wire.LinkType.WWAN: "mobile_data", wire.LinkType.HOTSPOT: "hotspot", wire.LinkType.NONE: "no_link"}
_LINK_KIND = {"mobile_data": "mobile_data", "hotspot": "hotspot", "no_link": "network_degraded"}


def meeting_phase(start: float, end: float, watch_before_s: float, now: float) -> Phase:
    if now >= end:
        return Phase.ENDED
    if now >= start:
        return Phase.RUNNING
    if now >= start - watch_before_s:
        return Phase.PRE
    return Phase.CLOSED


def lost_since(m: Member, policy: Policy, conn: Connectivity, now: float) -> float | None:
    """When contact was lost (H15), or None. Silence counts only while the broker is connected,
    and never inside the grace after it came back; a persisted loss stays until contact returns."""
    if m.lost_since is not None:
        return m.lost_since
    if m.last_contact is None or not conn.connected:
        return None
    since = m.last_contact
    allowed = policy.silence_lost_s
    if m.last_probe is not None and m.last_probe >= since - 1.0:
        # the device's signed probes (10/s) were its freshest evidence of life (issue 11)
        allowed = min(allowed, policy.probe_silence_lost_s)
    if conn.grace_from is not None and conn.grace_from > since:
        # the broker came back (or the collector restarted): agents need their reconnect back-off
        since = conn.grace_from
        allowed += policy.reconnect_grace_s
    if m.returned_at is not None and m.returned_at > since:
        since = m.returned_at
        allowed = policy.silence_lost_s
    held = m.present_until is not None and m.present_at is not None and since <= m.present_at
    if held and m.present_until is not None and m.present_until > since:
        # the chair confirmed her in the meeting program (H16, issue 15): no loss until that runs out
        since = m.present_until
        allowed = policy.silence_lost_s
    return since if now - since > allowed else None


def present_holds(m: Member, now: float) -> bool:
    """The chair's confirmation that she is in the meeting program holds (H16, issue 15): not run
    out, and her device not heard since (then she is simply back)."""
    if m.present_until is None or m.present_at is None or now >= m.present_until:
        return False
    return m.last_contact is None or m.last_contact <= m.present_at


def awaiting_fresh(m: Member, policy: Policy, conn: Connectivity, now: float) -> bool:
    """After the collector's own gap (restart, stall), a member heard before it and not since, while
    her reconnect grace runs: her state is not known yet (issue 11: never a member's loss)."""
    until = conn.gap_until
    if until is None or m.last_contact is None or m.last_contact > until or m.lost_since is not None:
        return False
    if m.replaced_at is not None or m.left_at is not None or m.excused_at is not None or not watched(m):
        return False  # nothing to wait for from someone not watched (a closed companion page)
    return now <= until + policy.reconnect_grace_s + policy.silence_lost_s


def tainted(policy: Policy, conn: Connectivity, received_at: float) -> bool:
    """A sample received this soon after the collector's own gap carries path figures (loss, RTT)
    measured while its reflector was away: not evidence about the member (issue 11)."""
    until = conn.gap_until
    return until is not None and received_at < until + policy.probe_window_s + policy.sample_period_s


def substitute_due_at(lost: float, start: float, policy: Policy, conn: Connectivity) -> float:
    """Five minutes (H16) from the moment contact was lost (or the start, if lost before it). A
    broker outage cannot call a substitute: the deadline is at least the end of the grace after it."""
    due = max(lost, start) + policy.substitute_after_s
    if conn.grace_from is not None:
        due = max(due, conn.grace_from + policy.reconnect_grace_s + policy.silence_lost_s)
    return due


def link_condition(link: str | None) -> str | None:
    """``mobile_data`` / ``hotspot`` (H9: Wi-Fi or wired only), ``no_link``, or None."""
    if link is None:
        return None
    return _LINK_CONDITION.get(link)  # type: ignore[call-overload]


def conditions(m: Member, judge: Judge, phase: Phase) -> dict[str, int]:
    """Incident kinds active now with their severity, from the debounced channels, the link and
    the media path check. Before the start only the member's checklist counts (H9)."""
    out: dict[str, int] = {}
    only = -1 if phase is not Phase.PRE else judge.prestart_mask
    up = (m.warn_up | m.fail_up) & only
    fail = m.fail_up & ~judge.risk_only_mask  # an unmet precondition is a risk, not a failure (H2/H15 vs H9)
    i = 0
    while up:
        if up & 1:
            kind = incident_kind(judge.names[i])
            sev = 2 if (fail >> i) & 1 else 1
            if out.get(kind, 0) < sev:
                out[kind] = sev
        up >>= 1
        i += 1
    cond = link_condition(m.link)
    if cond is not None:
        kind = _LINK_KIND[cond]
        out[kind] = max(out.get(kind, 0), judge.link_levels[cond])
    if m.media_levels and phase is Phase.RUNNING:
        level = max(m.media_levels.values())
        if level:
            out["media_path_failed" if level == 2 else "media_path_degraded"] = level
    return out


def participant_state(
    m: Member, phase: Phase, start: float, policy: Policy, judge: Judge, conn: Connectivity, now: float
) -> Assessment:
    """One participant's state at ``now`` (issue 5), and the conditions behind it."""
    if m.replaced_at is not None:
        # the loss stays an open incident until the chair records the substitute (H16)
        conds = {} if m.handled_at is not None else {"connection_lost": 2}
        return Assessment(PS.REPLACED, m.lost_since, m.replaced_at, m.replaced_at, conds)
    if m.left_at is not None:
        return Assessment(PS.LEFT)
    if m.excused_at is not None:
        return Assessment(PS.EXCUSED)
    if m.lost_since is None and not watched(m):
        return Assessment(PS.NOT_MONITORED)  # never lost nor judged from that alone (H13; issue 11)
    if m.first_contact is None:
        return Assessment(PS.EXPECTED)
    lost = lost_since(m, policy, conn, now)
    if lost is None and present_holds(m, now):
        return Assessment(PS.NOT_MONITORED)  # present by the chair's word, not watched: never lost
    if lost is not None:
        if phase is not Phase.RUNNING:
            return Assessment(PS.LOST, lost, None, None, {"connection_lost": 2})
        due = substitute_due_at(lost, start, policy, conn)
        if now >= due and conn.connected:
            if not m.serving:
                # H16: nobody steps in for an ersättare who does not serve: she is recorded as left
                return Assessment(PS.LEFT, lost, None, due)
            return Assessment(PS.REPLACED, lost, due, due, {"connection_lost": 2})
        return Assessment(PS.LOST, lost, None, due, {"connection_lost": 2})
    if phase is Phase.CLOSED:
        return Assessment(PS.CONNECTED)
    conds = conditions(m, judge, phase)
    level = max(conds.values(), default=0)
    if level == 2:
        return Assessment(PS.FAILING, conditions=conds)
    if level == 1:
        return Assessment(PS.DEGRADED, conditions=conds)
    if phase is Phase.PRE:
        st = m.selftest
        if st is not None and st.overall in ("pass", "warn"):
            return Assessment(PS.READY, conditions=conds)
        return Assessment(PS.CONNECTED, conditions=conds)
    return Assessment(PS.OK, conditions=conds)


def is_late_connect(m: Member, start: float, policy: Policy, now: float) -> bool:
    """Not connected 15 minutes before the start (H8)."""
    deadline = start - policy.connect_early_s
    if now <= deadline or m.monitoring != AGENT:  # only an agent is expected to connect (issue 11)
        return False
    return m.first_contact is None or m.first_contact > deadline


def at_vote_risk(m: Member, state: ParticipantState) -> bool:
    """During a vote every member must take part on equal terms (H3, H5)."""
    if state in (PS.OK, PS.EXCUSED, PS.LEFT, PS.NOT_MONITORED) or not m.serving:
        # not monitored: no claim either way; an ersättare who does not serve takes no part in the vote
        return False
    return not (state is PS.REPLACED and m.handled_at is not None)


def participant_flags(
    m: Member, state: ParticipantState, start: float, policy: Policy, now: float, vote_running: bool
) -> list[str]:
    flags: list[str] = []
    if is_late_connect(m, start, policy, now):
        flags.append("late_connect")
    if m.may_not_return:
        flags.append("may_not_return")
    if vote_running and at_vote_risk(m, state):
        flags.append("vote_risk")
    return flags


def _channel_reasons(m: Member, judge: Judge, phase: Phase) -> list[Reason]:
    out: list[tuple[int, Reason]] = []
    only = -1 if phase is not Phase.PRE else judge.prestart_mask
    up = (m.warn_up | m.fail_up) & only
    fail = m.fail_up & ~judge.risk_only_mask
    s = m.sample
    for i, name in enumerate(judge.names):
        if not (up >> i) & 1:
            continue
        sev = 2 if (fail >> i) & 1 else 1
        code = reason_code(name)
        if name in R.METRICS:
            value = m.bad.get(i)
            if value is None and s is not None:
                value = getattr(s, name, None)
            charging = s.battery_charging if s is not None else None
            out.append((sev, R.metric(name, value, m.member_id, charging=charging)))
        else:
            out.append((sev, R.condition(code, m.member_id)))
    out.sort(key=lambda t: -t[0])
    return [r for _, r in out]


def participant_reasons(
    m: Member, a: Assessment, phase: Phase, start: float, policy: Policy, judge: Judge, now: float, vote_running: bool
) -> list[Reason]:
    """Every current reason, the main one first, in plain Swedish and English."""
    st = a.state
    if st in (PS.REPLACED, PS.LEFT, PS.EXCUSED, PS.NOT_MONITORED):
        out = _absence_reasons(m, a, now)
    elif st is PS.EXPECTED:
        out = [
            R.not_connected(start, m.member_id)
            if phase is Phase.RUNNING
            else R.expected(start - policy.connect_early_s, m.member_id)
        ]
    elif st is PS.LOST:
        out = _lost_reasons(m, a, now)
    else:
        out = _present_reasons(m, st, judge, phase)
    if is_late_connect(m, start, policy, now) and st not in (PS.REPLACED, PS.LEFT, PS.EXCUSED):
        out.append(R.late_connect(m.first_contact, start - policy.connect_early_s, m.member_id))
    if vote_running and at_vote_risk(m, st):
        out.append(R.vote_risk(m.name, str(st), m.member_id))
    return out


def _absence_reasons(m: Member, a: Assessment, now: float) -> list[Reason]:
    """Replaced, left, excused or not monitored: why she is not (judged as) taking part."""
    mid = m.member_id
    out: list[Reason] = []
    st = a.state
    if st is PS.REPLACED:
        out.append(R.replaced(a.lost_since if a.lost_since is not None else a.replaced_at or now, mid))
        if m.handled_at is not None:
            out.append(R.substitute_in(m.handled_at, mid, m.peer_name))
        if m.may_not_return:
            out.insert(0, R.may_not_return(mid))
    elif st is PS.LEFT:
        if m.left_cause == "five_minutes" or (m.left_at is None and a.substitute_due_at is not None):
            # the five minutes ran out for an ersättare who does not serve (H16)
            lost = a.lost_since if a.lost_since is not None else m.lost_since
            at = m.left_at if m.left_at is not None else a.substitute_due_at
            out.append(R.left_after_silence(lost if lost is not None else now, at if at is not None else now, mid))
        else:
            out.append(R.left(m.left_at or now, mid))
    elif st is PS.EXCUSED:
        out.append(R.excused(m.excused_at or now, m.excused_item, mid))
    elif present_holds(m, now):
        out.append(R.present_confirmed(m.present_until or now, m.present_reason or "", mid))
    else:
        out.append(not_monitored(m))
        if m.selftest is not None:  # what the member's own self-test said, for the roll call (H13)
            if m.selftest.overall in ("pass", "warn"):
                out.append(R.selftest_passed(m.selftest.at, mid))
            else:
                out.append(R.selftest_failed(m.selftest.failed, mid))
    return out


def _lost_reasons(m: Member, a: Assessment, now: float) -> list[Reason]:
    mid = m.member_id
    lost = a.lost_since if a.lost_since is not None else now
    if m.lost_cause in ("will", "shutdown"):
        out = [R.offline(m.lost_cause, m.lost_cause_at or lost, mid)]
    else:
        out = [R.no_contact(lost, mid)]
    if a.substitute_due_at is not None:
        if m.serving:
            out.append(R.substitute_countdown(lost, a.substitute_due_at - now, mid))
        else:
            out.append(R.leave_countdown(lost, a.substitute_due_at - now, mid))
    return out


def _present_reasons(m: Member, st: ParticipantState, judge: Judge, phase: Phase) -> list[Reason]:
    mid = m.member_id
    out = _link_reasons(m)
    out.extend(_media_reasons(m, phase))
    out.extend(_channel_reasons(m, judge, phase))
    if st is PS.READY and m.selftest is not None:
        out.append(R.selftest_passed(m.selftest.at, mid))
    elif st is PS.CONNECTED and m.first_contact is not None:
        if m.selftest is not None and m.selftest.overall not in ("pass", "warn"):
            out.append(R.selftest_failed(m.selftest.failed, mid))
        out.append(R.connected(m.first_contact, mid))
    elif st is PS.OK:
        out.append(R.equal_terms(mid))
    if m.substitute_for is not None:
        out.append(R.serves_for(m.peer_name or m.substitute_for, mid))
    return out


def _media_reasons(m: Member, phase: Phase) -> list[Reason]:
    if not m.media_levels or phase is not Phase.RUNNING:
        return []
    level = max(m.media_levels.values())
    if not level:
        return []
    detail = (m.mediapath.reason if m.mediapath is not None else None) or ""
    return [R.condition("media_path_failed" if level == 2 else "media_path_degraded", m.member_id, detail[:200])]


def _link_reasons(m: Member) -> list[Reason]:
    cond = link_condition(m.link)
    if cond is None:
        return []
    detail = ""
    s = m.sample
    if s is not None and cond == "hotspot" and s.hotspot_reason:
        detail = s.hotspot_reason
    return [R.condition(cond, m.member_id, detail)]
