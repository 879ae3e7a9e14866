"""The meeting's page of the secretary's planning (issue 15; ``meeting_plan.html``): each remote
participant with her self-test link, her notice status (H6) and the invitations sent to her (H7).
The routes are in :mod:`collector.web.planning`; sending is :mod:`collector.web.invitations`."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request, Response

from collector.auth import Principal, Role
from collector.planning import notice, records
from collector.web import selftest_links
from collector.web.render import render
from likavillkor.roster import Meeting, Participant

if TYPE_CHECKING:
    from collector.web.planning import Planning


@dataclass(frozen=True, slots=True)
class Row:
    p: Participant
    link: str
    notice: notice.NoticeStatus | None
    sendings: list[records.Sending]

    @property
    def last(self) -> records.Sending | None:
        return self.sendings[-1] if self.sendings else None


async def overview(
    request: Request,
    plan: Planning,
    who: Principal,
    meeting: Meeting,
    *,
    message: str | None = None,
    sent: bool = False,
    member: Participant | None = None,
    decided: str = "",
) -> Response:
    web = plan.web
    sendings = await asyncio.to_thread(records.for_meeting, web.runtime.store.engine, meeting.id)
    links = {
        x.member_id: web.public_url + x.path
        for x in selftest_links.links_for_meeting(web.secret, meeting, web.link_grace_s)
    }
    rows = [
        Row(
            p,
            links.get(p.member_id, ""),
            notice.notice_status(p.requested_at, meeting.start) if p.requested_at is not None else None,
            sendings.get(p.member_id, []),
        )
        for p in meeting.participants
    ]
    _, revision = await asyncio.to_thread(plan.roster.read)
    return render(
        request,
        web,
        "meeting_plan.html",
        status=200 if message is None else 409,
        who=who,
        meeting=meeting,
        rows=rows,
        message=message,
        sent=sent,
        member=member,
        decided=decided,
        note=request.query_params.get("note", ""),
        revision=revision,
        smtp_ready=plan.smtp.configured,
        day=_day,
        may_send=who.role in (Role.SECRETARY, Role.IT),
        may_decide=who.role in (Role.CHAIR, Role.IT),
    )


def _day(d: dt.date) -> str:
    return d.isoformat()
