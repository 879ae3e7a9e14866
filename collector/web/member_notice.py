"""What the member's own pages tell her about the chair's record (pure: actions in, facts out).

* H17: she told the chair she does not take part on equal terms (``unequal_terms``); the report
  stands until the chair resumes after an adjournment, or records that she left, was excused or
  returned (the same rule as ``collector.engine.actions``).
* H18: excused for an item (*jäv*); once the chair records her return, she may rejoin, and her page
  says so with the time.

The texts are the catalogs' ``mem.*`` keys; times are Stockholm clock times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collector.engine.reasons import clock
from collector.engine.types import Action, ActionKind
from collector.web import i18n
from collector.web.msgids import N_

#: member actions that answer her H17 report (she is out, back or replaced)
_ANSWERS = (ActionKind.EXCUSE, ActionKind.RETURN, ActionKind.LEFT, ActionKind.SUBSTITUTE)


@dataclass(frozen=True, slots=True)
class MemberRecord:
    excused_at: float | None = None
    excused_item: str | None = None
    returned_at: float | None = None  # the chair recorded that she may rejoin (H18)
    unequal_at: float | None = None  # her H17 report, still standing
    unequal_reports: int = 0  # how many times she pressed the button in this meeting


def record_of(actions: Iterable[Action], member_id: str) -> MemberRecord:
    """Her facts from the meeting's actions, in the order they were recorded."""
    excused_at: float | None = None
    item: str | None = None
    returned_at: float | None = None
    unequal_at: float | None = None
    reports = 0
    for a in actions:
        if a.kind is ActionKind.RESUME:
            unequal_at = None
            continue
        if a.member_id != member_id:
            continue
        if a.kind is ActionKind.UNEQUAL_TERMS:
            reports += 1
            unequal_at = unequal_at if unequal_at is not None else a.at
        elif a.kind in _ANSWERS:
            unequal_at = None
            if a.kind is ActionKind.EXCUSE:
                excused_at, item, returned_at = a.at, a.item, None
            elif a.kind is ActionKind.RETURN:
                returned_at, excused_at = a.at, None
    return MemberRecord(excused_at, item, returned_at, unequal_at, reports)


def notice(rec: MemberRecord, lang: str) -> str:
    """The sentence her page shows about jäv (H18), or "" when there is none."""
    if rec.excused_at is not None:
        key = N_("mem.excused_item") if rec.excused_item else N_("mem.excused")
        return i18n.t(key, lang).format(time=clock(rec.excused_at)[:5], item=rec.excused_item or "")
    if rec.returned_at is not None:
        return i18n.t("mem.returned", lang).format(time=clock(rec.returned_at)[:5])
    return ""


def told(rec: MemberRecord, lang: str) -> str:
    """What her page says about her H17 report while it stands, or ""."""
    if rec.unequal_at is None:
        return ""
    return i18n.t("mem.unequal_sent", lang).format(time=clock(rec.unequal_at)[:5])
