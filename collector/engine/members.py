"""How a member's record changes when she is heard from, and when a new roster arrives (pure:
records in, records changed; the :class:`~collector.engine.engine.Engine` decides afterwards)."""

from __future__ import annotations

from collector.engine import incidents as inc_
from collector.engine.records import MeetingRt, Member
from collector.engine.types import Change

#: what a meeting keeps across a roster change: the chair's record and the verdict
_KEPT = ("verdict", "verdict_since", "adjourned_since", "adjournments", "vote_running", "vote_since", "agenda_item",
         "actions")


def contact(m: Member, t: float) -> bool:
    """Record contact at ``t``; True when it changes something (first contact, contact back)."""
    changed = False
    if m.last_contact is None or t > m.last_contact:
        m.last_contact = t
    if m.first_contact is None:
        m.first_contact = t
        changed = True
    if m.replaced_at is not None:
        if not m.may_not_return and t > m.replaced_at:
            m.may_not_return = True  # H16: they may not come back to this meeting
            m.reconnected_at = t
            changed = True
    elif m.lost_since is not None:
        m.lost_since = None
        m.lost_cause = ""
        m.lost_cause_at = None
        changed = True
    return changed


def carry_over(prev: MeetingRt, mt: MeetingRt, now: float, out: list[Change]) -> None:
    """A meeting on the old and the new roster: members on both keep their state (with the new
    roster's name, role, device and mode); removed ones close their incidents."""
    judge = mt.judge
    for attr in _KEPT:
        setattr(mt, attr, getattr(prev, attr))
    for member_id, m in mt.members.items():
        pm = prev.members.pop(member_id, None)
        if pm is None:
            continue
        pm.name, pm.role, pm.device_id = m.name, m.role, m.device_id
        if pm.monitoring != m.monitoring:  # watched another way from now: a fresh grace
            pm.monitoring, pm.companion_open = m.monitoring, False
            if pm.first_contact is not None and pm.lost_since is None:
                pm.returned_at = now
        # serving from the roster, or since stepping in (H16); a replaced one no more
        pm.serving = (m.serving or pm.substitute_for is not None) and pm.handled_at is None
        if prev.judge is not judge:  # another policy: other channels, debounce afresh
            pm.hist, pm.warn_up, pm.fail_up, pm.bad = judge.fresh(), 0, 0, {}
        mt.members[member_id] = pm
    for pm in prev.members.values():
        inc_.close_all(prev, pm, now, out)
