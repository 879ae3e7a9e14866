"""The secretary's routes: each remote member's personal self-test link for a meeting (H7), as a
page to send them from and as JSON. A chair of the body and IT may see them too."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from collector.auth import Principal
from collector.web import selftest_links
from collector.web.access import Access
from collector.web.context import WebDeps
from collector.web.models import LinkOut
from collector.web.render import render
from likavillkor.roster import Meeting


def links(web: WebDeps, meeting: Meeting) -> list[LinkOut]:
    # always the configured address ([http] public_url, else the listener's): never the Host the secretary's
    # browser used (issue 12, issue 15: a plain-http or internal address gives an iPad no camera)
    base = web.public_url
    modes = {p.member_id: p.monitoring.value for p in meeting.participants}
    return [
        LinkOut(
            member_id=x.member_id,
            name=x.name,
            role=x.role,
            device_id=x.device_id,
            email=x.email,
            url=base + x.path,
            expires_at=x.expires_at,
            monitoring=modes.get(x.member_id, "agent"),
            companion_url=base + x.path.replace("/selftest/", "/companion/", 1),
        )
        for x in selftest_links.links_for_meeting(web.secret, meeting, web.link_grace_s)
    ]


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter()
    MeetingPage = Annotated[Principal, Depends(access.meeting_page)]
    MeetingApi = Annotated[Principal, Depends(access.meeting_api)]

    @r.get(
        "/api/meetings/{meeting_id}/selftest-links",
        response_model=list[LinkOut],
        tags=["self-test"],
        summary="Each remote member's personal self-test link (H7)",
        responses={404: {"description": "no such meeting"}},
    )
    async def links_api(request: Request, meeting_id: str, who: MeetingApi) -> list[LinkOut]:
        return links(web, web.meeting(meeting_id))

    @r.get("/secretary/{meeting_id}/links", include_in_schema=False)
    async def links_page(request: Request, meeting_id: str, who: MeetingPage) -> Response:
        meeting = web.meeting(meeting_id)
        return render(request, web, "links.html", who=who, meeting=meeting, links=links(web, meeting))

    return r
