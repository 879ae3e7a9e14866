"""The chair's routes (and the secretary's, who may act in the same meeting; IT sees every body):
the meetings she may see, the live meeting view (page, JSON and server-sent events) and the
actions she records (H5 votes, H15 adjourn/resume, H16 substitutes, H18 conflict of interest).

The page and ``GET /api/meetings/{id}`` show the SAME JSON: ``runtime.view_json`` encodes the
engine's ``MeetingView``; the page embeds it at load and the event stream sends it again whenever it
changes (collector/web/hub.py), so the two cannot disagree.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from collector.auth import Principal
from collector.engine import Action
from collector.web import i18n, icons, refusals
from collector.web.access import STAFF_ROLES, Access
from collector.web.context import WebDeps
from collector.web.hub import event_stream
from collector.web.models import ActionIn
from collector.web.render import json_response, language, render

_EVENTS_DOC = (
    "`event: view` with the same MeetingView JSON as GET /api/meetings/{meeting_id} whenever it "
    "changes; `event: ping` with the collector's time every few seconds. Reconnect with "
    "EventSource (`retry: 1000`)."
)


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter()
    _pages(r, web, access)
    _api(r, web, access)
    return r


def _pages(r: APIRouter, web: WebDeps, access: Access) -> None:
    rt = web.runtime
    StaffPage = Annotated[Principal, Depends(access.staff_page)]
    MeetingPage = Annotated[Principal, Depends(access.meeting_page)]
    MeetingApi = Annotated[Principal, Depends(access.meeting_api)]

    @r.get("/", include_in_schema=False)
    async def home(request: Request, who: StaffPage) -> Response:
        meetings = sorted((m for m in rt.roster().meetings.values() if who.may_see_body(m.body)), key=lambda m: m.start)
        return render(request, web, "home.html", who=who, meetings=meetings)

    @r.get("/chair/{meeting_id}", include_in_schema=False)
    async def chair_page(request: Request, meeting_id: str, who: MeetingPage) -> Response:
        meeting = web.meeting(meeting_id)
        view = web.view(meeting_id)
        lang = language(request)
        boot = {
            "view": json.loads(rt.view_json(meeting_id) or b"null"),
            "texts": i18n.bundle(lang),
            "icons": icons.all_icons(),
            "lang": lang,
            "csrf": web.auth.csrf_token(who) if who.via == "session" else "",
            "events_url": f"/api/meetings/{meeting_id}/events",
            "actions_url": f"/api/meetings/{meeting_id}/actions",
            "may_act": who.role in STAFF_ROLES,
            "username": who.username,
            "meeting_id": meeting_id,
        }
        return render(
            request, web, "chair.html", who=who, meeting=meeting, view=view, boot=boot, may_act=boot["may_act"]
        )

    @r.get(
        "/api/meetings/{meeting_id}/events",
        tags=["meetings"],
        response_class=StreamingResponse,
        summary="Live meeting view (server-sent events)",
        description=_EVENTS_DOC,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            404: {"description": "no such meeting"},
        },
    )
    async def events(request: Request, meeting_id: str, who: MeetingApi) -> Response:
        view = web.view(meeting_id)

        async def still_allowed() -> bool:
            """Signed out, password changed, removed from the body, token revoked: the stream ends."""
            try:
                again = await web.auth.principal(request)
            except HTTPException:
                return False
            return again is not None and again.role in STAFF_ROLES and again.may_see_body(view.body)

        return StreamingResponse(
            event_stream(request, web, meeting_id, still_allowed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _api(r: APIRouter, web: WebDeps, access: Access) -> None:
    rt = web.runtime
    MeetingApi = Annotated[Principal, Depends(access.meeting_api)]

    @r.get("/api/meetings/{meeting_id}", summary="The meeting view: verdict, reasons and every participant")
    def meeting(meeting_id: str, who: MeetingApi) -> Response:
        body = rt.view_json(meeting_id)
        if body is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        return Response(content=body, media_type="application/json")

    @r.post(
        "/api/meetings/{meeting_id}/actions",
        status_code=201,
        summary="Record an action: adjourn, resume, vote start/end, item start, excuse, return, left, substitute",
    )
    def act(meeting_id: str, action: ActionIn, who: MeetingApi) -> Response:
        if rt.view(meeting_id) is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        by = who.username if who.via == "session" or not action.by else action.by
        a = Action(
            meeting_id=meeting_id,
            kind=action.kind,
            at=action.at or rt.clock(),
            by=by,
            member_id=action.member_id,
            item=action.item,
            note=action.note,
            substitute_id=action.substitute_id,
        )
        try:
            changes = rt.act(a)
        except ValueError as exc:
            # the engine's message (English) for API clients; the code for the chair's page (collector.web.refusals)
            return JSONResponse(status_code=409, content={"detail": str(exc), "code": refusals.code_of(exc)})
        return json_response({"action": a, "changes": changes}, 201)

    @r.get("/api/meetings/{meeting_id}/actions", summary="Actions recorded for a meeting")
    def actions(meeting_id: str, who: MeetingApi) -> Response:
        if rt.view(meeting_id) is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        return json_response(rt.actions(meeting_id))
