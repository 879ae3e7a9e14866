"""How a member's record changes when she is heard from, and when a new roster arrives (pure:
records in, records changed; the :class:`~collector.engine.engine.Engine` decides afterwards)."""

from __future__ import annotations

import msgspec

from collector.engine import incidents as inc_
from collector.engine.decide import Connectivity, tainted
from collector.engine.records import MeetingRt, Member
from collector.engine.types import Change
from likavillkor import wire
from likavillkor.policy import Policy

#: what a meeting keeps across a roster change: the chair's record and the verdict
_KEPT = (
    "verdict",
    "verdict_since",
    "adjourned_since",
    "adjournments",
    "vote_running",
    "vote_since",
    "agenda_item",
    "actions",
)


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


def record_sample(mt: MeetingRt, m: Member, msg: wire.Sample, conn: Connectivity, t: float) -> bool:
    """A live sample: the link, the debounced channels, the open incidents' figures. True when the
    member's conditions may have changed."""
    changed = False
    if conn.gap_until is not None and tainted(mt.policy, conn, t):
        # measured while the collector's reflector was away: no evidence about her path (issue 11)
        msg = msgspec.structs.replace(
            msg, rtt_ms=None, jitter_ms=None, loss_percent=None, mos=None, loss_alarm=None, probe_reachable=None
        )
    m.sample = msg
    link = msg.link
    if link is not None and link != m.link:
        m.link = link
        changed = True
    w, f = mt.judge.update(m.hist, m.warn_up, m.fail_up, msg, m.bad)
    if w != m.warn_up or f != m.fail_up:
        m.warn_up, m.fail_up = w, f
        changed = True
    if m.incidents:
        for oi in m.incidents.values():
            inc_.accumulate(oi.stats, msg)
    return changed


def record_offline(policy: Policy, m: Member, msg: wire.Status, t: float) -> bool:
    """The device said it is offline (a clean stop) or the broker sent its last will (H15)."""
    planned = m.excused_at is not None or m.left_at is not None
    if m.lost_since is not None or m.replaced_at is not None or m.last_contact is None or planned:
        return False
    if msg.reason == "will" and policy.will_confirm_s > 0:
        # a stopping Mosquitto sends every client's will as it goes: the loss holds only if the
        # collector keeps its broker and hears nothing newer (tick: confirm_will)
        m.will_at = t
        return False
    m.lost_since = m.last_contact
    m.lost_cause = msg.reason or "will"
    m.lost_cause_at = t
    return True


def confirm_will(policy: Policy, m: Member, connected: bool, now: float) -> None:
    """A pending last will becomes the loss (H15, reason ``will``, dated from the last contact)
    once ``will_confirm_s`` passed with the broker kept and nothing newer heard from the device."""
    will_at = m.will_at
    assert will_at is not None
    if not connected or (m.last_contact is not None and m.last_contact > will_at):
        m.will_at = None  # the broker went (it sent everyone's will) or the device is alive
        return
    if now - will_at < policy.will_confirm_s:
        return
    m.will_at = None
    if m.lost_since is None and m.replaced_at is None and m.last_contact is not None:
        m.lost_since = m.last_contact
        m.lost_cause = "will"
        m.lost_cause_at = will_at
