"""The chair's and the secretary's actions (H5, H16, H18): which are valid now, and what each
records. Pure: records in, records changed; an invalid action raises ``ValueError`` (HTTP 409)."""

from __future__ import annotations

from collector.engine.records import MeetingRt, Member
from collector.engine.types import Action, ActionKind

_MEMBER_KINDS = (
    ActionKind.EXCUSE,
    ActionKind.RETURN,
    ActionKind.LEFT,
    ActionKind.SUBSTITUTE,
    ActionKind.PRESENT,
    ActionKind.ROLL_CALL,
    ActionKind.UNEQUAL_TERMS,
)
#: what a roll call records per participant (H13): she answered, is seen, is heard
ROLL_CALL_MARKS = ("answered", "seen", "heard")
PRESENT_REASON_MAX = 500  # characters of the chair's reason (the action's note)


def validate(mt: MeetingRt, a: Action) -> Member | None:
    """The member the action is about (None for a meeting action), or ``ValueError``."""
    _validate_meeting(mt, a)
    if a.kind not in _MEMBER_KINDS:
        return None
    return _validate_member(mt, a)


def _validate_meeting(mt: MeetingRt, a: Action) -> None:
    kind = a.kind
    if kind is ActionKind.ADJOURN and mt.adjourned_since is not None:
        raise ValueError(f"meeting {a.meeting_id!r} is already adjourned")
    if kind is ActionKind.RESUME and mt.adjourned_since is None:
        raise ValueError(f"meeting {a.meeting_id!r} is not adjourned: nothing to resume")
    if kind is ActionKind.VOTE_START and mt.vote_running:
        raise ValueError(f"a vote is already running in meeting {a.meeting_id!r}")
    if kind is ActionKind.VOTE_END and not mt.vote_running:
        raise ValueError(f"no vote is running in meeting {a.meeting_id!r}")
    if kind is ActionKind.ITEM_START and not a.item:
        raise ValueError("item_start needs the item (e.g. '§ 12')")


def _validate_member(mt: MeetingRt, a: Action) -> Member:
    kind = a.kind
    if not a.member_id:
        raise ValueError(f"{kind} needs member_id")
    m = mt.members.get(a.member_id)
    if m is None:
        raise ValueError(f"{a.member_id!r} is not a remote participant of meeting {a.meeting_id!r}")
    if kind is ActionKind.EXCUSE and (m.excused_at is not None or m.left_at is not None or m.replaced_at is not None):
        raise ValueError(f"{a.member_id!r} cannot be excused: already {m.state}")
    if kind is ActionKind.RETURN and m.excused_at is None:
        raise ValueError(f"{a.member_id!r} is not excused: nothing to return from")
    if kind is ActionKind.LEFT and (m.left_at is not None or m.handled_at is not None):
        raise ValueError(f"{a.member_id!r} has already left meeting {a.meeting_id!r}")
    if kind is ActionKind.SUBSTITUTE:
        validate_substitute(mt, m, a)
    if kind is ActionKind.PRESENT:
        validate_present(mt, m, a)
    if kind is ActionKind.ROLL_CALL:
        roll_call_marks(a.note)
    if kind is ActionKind.UNEQUAL_TERMS and (
        m.excused_at is not None or m.left_at is not None or m.handled_at is not None
    ):
        raise ValueError(f"{a.member_id!r} does not take part now ({m.state}): nothing to report (H17)")
    return m


def validate_present(mt: MeetingRt, m: Member, a: Action) -> None:
    """H16 (issue 15): only a member whose loss of contact the engine recorded (or whose earlier
    confirmation still holds) can be confirmed present in the meeting program, with a reason."""
    reason = (a.note or "").strip()
    if not reason:
        raise ValueError("present needs a reason (note): how the chair knows she is in the meeting program")
    if len(reason) > PRESENT_REASON_MAX:
        raise ValueError(f"the reason is longer than {PRESENT_REASON_MAX} characters")
    if m.replaced_at is not None or m.left_at is not None or m.excused_at is not None:
        raise ValueError(f"{a.member_id!r} cannot be confirmed present: already {m.state}")
    holding = m.present_until is not None and a.at < m.present_until
    if m.lost_since is None and not holding:
        raise ValueError(f"{a.member_id!r} has contact with her device: nothing to confirm")


def roll_call_marks(note: str | None) -> list[str]:
    """The roll call's marks from the action's note ("answered,seen,heard"; empty: no answer), in
    the fixed order, or ``ValueError`` naming the unknown one."""
    marks = {part.strip() for part in (note or "").split(",") if part.strip()}
    unknown = sorted(marks - set(ROLL_CALL_MARKS))
    if unknown:
        raise ValueError(f"unknown roll call mark {unknown[0]!r}: use answered, seen, heard")
    return [mark for mark in ROLL_CALL_MARKS if mark in marks]


def validate_substitute(mt: MeetingRt, m: Member, a: Action) -> None:
    """H16: a substitute steps in for a replaced ledamot or serving ersättare, once; the one who
    steps in is an ersättare on this meeting's roster, not serving yet, and present."""
    if m.handled_at is not None:
        raise ValueError(f"a substitute is already recorded for {a.member_id!r}")
    if m.replaced_at is None:
        raise ValueError(
            f"{a.member_id!r} is not replaced: a substitute steps in when the five minutes "
            "without contact have run out (H16)"
        )
    if not a.substitute_id:
        raise ValueError("substitute needs substitute_id: the ersättare who steps in")
    sub = mt.members.get(a.substitute_id)
    if sub is None:
        raise ValueError(
            f"{a.substitute_id!r} is not on the roster of meeting {a.meeting_id!r}: the ersättare "
            "who steps in must be a participant of this meeting"
        )
    if sub.role != "ersättare":
        raise ValueError(f"{a.substitute_id!r} is a {sub.role}, not an ersättare")
    if sub.serving:
        raise ValueError(f"{a.substitute_id!r} already serves in meeting {a.meeting_id!r}")
    if sub.left_at is not None or sub.excused_at is not None or sub.replaced_at is not None:
        raise ValueError(f"{a.substitute_id!r} cannot step in: {sub.state}")
    if sub.first_contact is None or sub.lost_since is not None:
        raise ValueError(f"{a.substitute_id!r} cannot step in: no contact with her device")


def record(mt: MeetingRt, m: Member | None, action: Action) -> None:
    """Record a valid action on the meeting and member records (and in ``mt.actions``)."""
    t, kind = action.at, action.kind
    if kind is ActionKind.ADJOURN:
        mt.adjourned_since = t
        mt.adjournments.append([t, None])
    elif kind is ActionKind.RESUME:
        mt.adjournments[-1][1] = t
        mt.adjourned_since = None
        for x in mt.members.values():  # H17: the chair adjourned and dealt with what the members told
            x.unequal_at = None
    elif kind is ActionKind.VOTE_START:
        mt.vote_running, mt.vote_since = True, t
    elif kind is ActionKind.VOTE_END:
        mt.vote_running, mt.vote_since = False, None
    elif kind is ActionKind.ITEM_START:
        mt.agenda_item = action.item
    elif m is not None:
        _record_member(mt, m, action)
    mt.actions.append(action)


def _record_member(mt: MeetingRt, m: Member, action: Action) -> None:
    t, kind = action.at, action.kind
    if kind is not ActionKind.UNEQUAL_TERMS:
        m.unequal_at = None  # she is out, back or replaced: her report (H17) is answered
    if kind is ActionKind.UNEQUAL_TERMS:
        if m.unequal_at is None:  # a repeated report keeps the first time
            m.unequal_at = t
    elif kind is ActionKind.EXCUSE:
        m.excused_at, m.excused_item = t, action.item or mt.agenda_item
        m.lost_since, m.lost_cause = None, ""
    elif kind is ActionKind.RETURN:
        m.excused_at, m.excused_item, m.returned_at = None, None, t
        m.lost_since, m.lost_cause = None, ""  # back from a planned absence: a fresh grace from now
    elif kind is ActionKind.LEFT:
        if m.replaced_at is not None:
            m.handled_at = t  # the substitute is in (H16): the verdict no longer waits for it
            m.serving = False
        else:
            m.left_at = t
    elif kind is ActionKind.SUBSTITUTE:
        sub = mt.members[action.substitute_id or ""]
        m.handled_at = t  # H16: the substitute is in; the replaced one may not return
        m.serving = False
        m.substituted_by, m.peer_name = sub.member_id, sub.name
        sub.serving = True  # from now on she takes part in the decisions (and the five-minute rule)
        sub.substitute_for, sub.peer_name = m.member_id, m.name
    elif kind is ActionKind.PRESENT:
        # H16: she is in the meeting program; the loss is set aside until the confirmation runs out
        # (then silence counts afresh from its end) or her device is heard again
        m.present_at, m.present_until = t, t + mt.policy.present_hold_s
        m.present_reason = (action.note or "").strip()
        m.lost_since, m.lost_cause, m.lost_cause_at = None, "", None
    elif kind is ActionKind.ROLL_CALL:
        m.roll_call_at, m.roll_call = t, roll_call_marks(action.note)
