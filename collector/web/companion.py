"""The companion page (*följesidan*, issue 11): routes. The measurements and bounds are in
``collector/companion.py``; the engine's side in ``collector/engine/monitoring.py``.

* ``GET /companion/{token}`` — the page, for the member whose personal link it is (the self-test
  link's token, ``collector/web/selftest_links.py``): her own state in large text, Swedish first.
* ``WS /companion/{token}/ws`` — probes and echoes, page visibility, her state (docs/web.md).
* ``POST /companion/{token}/bye`` — ``navigator.sendBeacon`` on ``pagehide``: the page is closing.
* ``POST /companion/{token}/rtc`` — the page's WebRTC offer for an unordered data channel beside its
  socket (``collector/web/companion_rtc.py``), where the browser has ``RTCPeerConnection``.

A forged, expired or other member's link is refused with a clear message, counted
(``likavillkor_companion_events_total{event="link_..."}``), logged once a minute per reason, and
changes nothing else in the meeting.
"""

# No `from __future__ import annotations`: FastAPI resolves the Annotated dependencies at runtime.
import asyncio
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from collector.companion import CompanionHub, Limits
from collector.web import i18n, selftest_links
from collector.web.access import MEMBER_OWN, LinkCheck, declare
from collector.web.companion_session import CLOSE_BUSY, CLOSE_EXPIRED, CLOSE_INVALID, LogOnce, Session, refuse
from collector.web.context import WebDeps
from collector.web.render import language, render
from likavillkor.roster import Monitoring

log = logging.getLogger(__name__)
_CLEAN_CLOSE = (1000, 1001)  # the page closed the socket itself: closed, not lost


_LINK_IN_PATH = re.compile(r"/(companion|selftest)/[A-Za-z0-9_.=-]{8,}")


class RedactLinks(logging.Filter):
    """A personal link is a credential: uvicorn logs every WebSocket's path ("WebSocket /companion/
    <token>/ws" [accepted]) even without an access log, so the token is cut out of its records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_LINK_IN_PATH.sub(r"/\1/…", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _LINK_IN_PATH.sub(r"/\1/…", record.msg)
        return True


def member_state_texts(lang: str) -> dict[str, str]:
    return {k[len("comp.") :]: v for k, v in i18n.bundle(lang).items() if k.startswith("comp.")}


def mount(app: Any, web: WebDeps, limits: Limits | None = None) -> CompanionHub:
    """Add the companion routes to ``app``; ``app.state.companion`` is the hub (its counters go to
    ``/metrics``)."""
    hub = CompanionHub(limits or Limits())
    app.state.companion = hub
    uv = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactLinks) for f in uv.filters):
        uv.addFilter(RedactLinks())
    app.include_router(router(web, hub))
    return hub


@dataclass
class _Companion:
    """What the companion routes share: the web's state, the hub, the open sockets by id (for the
    WebRTC offer to join its socket)."""

    deps: WebDeps
    hub: CompanionHub
    warn: LogOnce = field(default_factory=LogOnce)
    ids: Iterator[int] = field(default_factory=itertools.count)
    sessions: dict[int, Session] = field(default_factory=dict)

    def check(self, token: str) -> LinkCheck:
        try:
            meeting, p = self.deps.resolve_link(token)
        except selftest_links.InvalidLink as exc:
            self.hub.count(f"link_{exc.reason.value}")
            self.warn(f"refused link: {exc.reason.value}")
            return LinkCheck(error=exc.reason)
        return LinkCheck(meeting=meeting, participant=p)

    def view_of(self, meeting_id: str, member_id: str) -> dict[str, Any]:
        view = self.deps.runtime.view(meeting_id)
        mine = next((x for x in view.participants if x.member_id == member_id), None) if view else None
        if mine is None:
            return {"t": "s", "state": None, "verdict": None}
        reason = mine.reason
        return {
            "t": "s",
            "state": mine.state.value,
            "verdict": view.verdict.value if view else None,
            "monitoring": mine.monitoring,
            "watched": mine.companion_open or mine.monitoring == "agent",
            "reason": {"code": reason.code, "sv": reason.sv, "en": reason.en} if reason is not None else None,
            "rtt_ms": mine.rtt_ms,
            "loss_percent": mine.loss_percent,
            "at": self.deps.now(),
        }


def router(deps: WebDeps, hub: CompanionHub) -> APIRouter:
    c = _Companion(deps, hub)

    async def member_link(token: str) -> LinkCheck:
        """Who may call: the member whose personal link ``token`` is (signed, unexpired, on the roster)."""
        return c.check(token)

    declare(member_link, MEMBER_OWN)
    r = APIRouter()
    for routes in (_page, _bye, _rtc, _socket):
        routes(r, c, member_link)
    return r


def _page(r: APIRouter, c: _Companion, member_link: Callable[[str], Awaitable[LinkCheck]]) -> None:
    deps, limits = c.deps, c.hub.limits
    MemberLink = Annotated[LinkCheck, Depends(member_link)]

    @r.get("/companion/{token}", include_in_schema=False)
    async def companion_page(request: Request, token: str, who: MemberLink) -> Response:
        lang = language(request)
        if who.error is not None:
            status = 410 if who.error is selftest_links.LinkError.EXPIRED else 403
            return render(
                request,
                deps,
                "error.html",
                status=status,
                who=None,
                message=selftest_links.TEXT[who.error][lang],
                detail="",
            )
        assert who.meeting is not None and who.participant is not None
        boot = {
            "lang": lang,
            "texts": member_state_texts(lang),
            "ws_path": f"/companion/{token}/ws",
            "bye_url": f"/companion/{token}/bye",
            "selftest_url": f"/selftest/{token}",
            "monitoring": who.participant.monitoring.value,
            "probe_timeout_ms": int(limits.answer_deadline_s * 3000),
            "rtc_url": f"/companion/{token}/rtc",
            "ice_servers": deps.ice_servers,
            "status_url": f"/selftest/{token}/status",
            "unequal_url": f"/selftest/{token}/unequal",
        }
        response = render(
            request,
            deps,
            "companion.html",
            who=None,
            meeting=who.meeting,
            participant=who.participant,
            boot=boot,
            servicedesk=deps.servicedesk,
            servicedesk_note=deps.servicedesk_note,
        )
        host = request.headers.get("host", "")
        # older Safari does not let 'self' cover ws:/wss: name this host explicitly
        csp = response.headers["Content-Security-Policy"].replace(
            "connect-src 'self'", f"connect-src 'self' ws://{host} wss://{host}"
        )
        response.headers["Content-Security-Policy"] = csp
        return response


def _bye(r: APIRouter, c: _Companion, member_link: Callable[[str], Awaitable[LinkCheck]]) -> None:
    hub, runtime, limits = c.hub, c.deps.runtime, c.hub.limits
    MemberLink = Annotated[LinkCheck, Depends(member_link)]
    sessions = c.sessions

    @r.post("/companion/{token}/bye", status_code=204, include_in_schema=False)
    async def companion_bye(request: Request, token: str, who: MemberLink) -> Response:
        if who.error is not None:
            return Response(status_code=410 if who.error is selftest_links.LinkError.EXPIRED else 403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.bye_max_bytes:
                hub.count("message_too_big")
                return Response(status_code=413)
        assert who.meeting is not None and who.participant is not None
        key = (who.meeting.id, who.participant.member_id)
        hub.count("bye")
        if who.participant.monitoring is Monitoring.BROWSER:
            # "bye 7 12": socket 7 hidden or closing, at the page's 12th visibility change. A beacon
            # leaves even when iOS suspends the page at once (screen locked), where the socket's own
            # message may not; one older than what the socket already said is stale and ignored.
            sock, seq = _bye_of(body)
            session = sessions.get(sock) if sock is not None else None
            if session is not None and session.key != key:
                session = None  # another member's socket: not hers to hide
            if session is not None and seq is not None and seq < session.vis_seq:
                hub.count("bye_stale")
                return Response(status_code=204)
            if session is not None:
                session.visible = False
                session.vis_seq = seq if seq is not None else session.vis_seq
            if sock is None:
                hub.visible.pop(key, None)
            elif session is not None or sock not in sessions:
                hub.set_visible(key, sock, False)
            if not hub.visible.get(key):
                await asyncio.to_thread(runtime.companion, key[0], key[1], False)
        return Response(status_code=204)


def _rtc(r: APIRouter, c: _Companion, member_link: Callable[[str], Awaitable[LinkCheck]]) -> None:
    deps, hub, limits = c.deps, c.hub, c.hub.limits
    MemberLink = Annotated[LinkCheck, Depends(member_link)]
    sessions, warn = c.sessions, c.warn

    @r.post("/companion/{token}/rtc", include_in_schema=False)
    async def companion_rtc(request: Request, token: str, who: MemberLink) -> Response:
        from collector.web.companion_rtc import MAX_SDP_BYTES, RtcPath

        if who.error is not None:
            return Response(status_code=410 if who.error is selftest_links.LinkError.EXPIRED else 403)
        assert who.meeting is not None and who.participant is not None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SDP_BYTES:
                hub.count("message_too_big")
                return Response(status_code=413)
        try:
            offer = json.loads(body)
            sock, sdp = int(offer["sock"]), str(offer["sdp"])
        except (ValueError, KeyError, TypeError):
            hub.count("rtc_bad_offer")
            return Response(status_code=400)
        session = sessions.get(sock)
        if session is None or session.key != (who.meeting.id, who.participant.member_id):
            hub.count("rtc_bad_offer")  # another member's socket, or none: refused, nothing changes
            return Response(status_code=409)
        if sum(1 for s in sessions.values() if s.rtc is not None) >= limits.max_rtc:
            hub.count("rtc_busy")
            return Response(status_code=503)
        if session.rtc is not None:
            await session.rtc.close()
        rtc = RtcPath(limits, deps.ice_servers)
        try:
            answer = await asyncio.wait_for(rtc.answer(sdp), 10.0)
        except Exception as exc:
            await rtc.close()
            hub.count("rtc_bad_offer")
            warn("rtc_bad_offer", f"{type(exc).__name__}: {exc}")
            return Response(status_code=400)
        session.rtc = rtc
        hub.count("rtc_offer")

        async def watch() -> None:
            hub.count("rtc_open" if await rtc.expire() else "rtc_timeout")

        session.spawn(watch())
        return JSONResponse(answer)


def _socket(r: APIRouter, c: _Companion, member_link: Callable[[str], Awaitable[LinkCheck]]) -> None:
    deps, hub, runtime = c.deps, c.hub, c.deps.runtime
    MemberLink = Annotated[LinkCheck, Depends(member_link)]
    sessions, warn, ids, view_of, check = c.sessions, c.warn, c.ids, c.view_of, c.check

    @r.websocket("/companion/{token}/ws")
    async def companion_ws(websocket: WebSocket, token: str, who: MemberLink) -> None:
        await websocket.accept()
        if who.error is not None:
            lang = "en" if websocket.query_params.get("lang") == "en" else "sv"
            await refuse(
                websocket,
                selftest_links.TEXT[who.error][lang],
                CLOSE_EXPIRED if who.error is selftest_links.LinkError.EXPIRED else CLOSE_INVALID,
            )
            return
        assert who.meeting is not None and who.participant is not None
        meeting, p = who.meeting, who.participant
        key = (meeting.id, p.member_id)
        refusal = hub.admit(key)
        if refusal is not None:
            hub.count(refusal)
            warn(refusal, p.member_id)
            await refuse(websocket, "för många öppna följesidor / too many open companion pages", CLOSE_BUSY)
            return
        hub.count("opened")
        sock = next(ids)
        session = Session(websocket, hub, runtime, deps, meeting, p, sock, view_of, warn, lambda: check(token))
        sessions[sock] = session
        try:
            await session.run()
        finally:
            sessions.pop(sock, None)
            if session.rtc is not None:
                await session.rtc.close()
            hub.release(key)
            was_watched = bool(hub.visible.get(key))
            hub.set_visible(key, sock, False)
            if session.close_code in _CLEAN_CLOSE:
                hub.count("closed")
                if p.monitoring is Monitoring.BROWSER and was_watched and not hub.visible.get(key):
                    await asyncio.to_thread(runtime.companion, key[0], key[1], False)
            else:  # no goodbye (network cut, device off): silence decides, as for an agent (H15)
                hub.count("closed_abnormal")


def _bye_of(body: bytes) -> tuple[int | None, int | None]:
    """``b"bye 7 12"`` -> (7, 12); ``b"bye 7"`` -> (7, None); anything else (None, None)."""
    parts = body.decode("ascii", "replace").split()
    nums = [int(p) for p in parts[1:3] if p.isdigit() and len(p) < 10]
    if not parts or parts[0] != "bye" or len(nums) != len(parts) - 1:
        return None, None
    return (nums[0] if nums else None), (nums[1] if len(nums) > 1 else None)
