"""The collector's pages: sign-in, the chair's live view (+ SSE), self-test links, the browser
self-test and IT's pages. Everything is served by the collector itself (no CDN: the meeting room
may have no internet).

The chair's view and ``GET /api/meetings/{id}`` show the SAME JSON: ``runtime.view_json`` encodes the
engine's ``MeetingView``; the page embeds it at load and the event stream
(``/api/meetings/{id}/events``) sends it again whenever it changes, so the two cannot disagree.
"""

# No `from __future__ import annotations` here: FastAPI must see the dependency aliases built inside
# router() as real objects, not as strings it cannot resolve.
import asyncio
import contextlib
import datetime as dt
import inspect
import json
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasicCredentials
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector import ratelimit, selftest_links, webqueries
from collector.auth import (
    BEARER,
    DEVICE_BASIC,
    SELFTEST_HEADER,
    SESSION,
    SESSION_COOKIE,
    Auth,
    DeviceAuthMode,
    DevicePasswords,
    Principal,
    Role,
    is_loopback,
    resolve_device_auth,
    safe_next,
)
from collector.engine.types import MeetingView
from collector.web import i18n, icons, report
from likavillkor import wire
from likavillkor.roster import Meeting, Roster

log = logging.getLogger(__name__)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
_ENCODER = msgspec.json.Encoder()
LANG_COOKIE = "lv_lang"
#: how often the event stream looks at the view when the runtime gives no change signal
POLL_S = 0.2
#: a "ping" event at least this often, so the page can tell a live view from a stale one
HEARTBEAT_S = 4.0
#: the browser self-test may move at most this many bytes per speed-test request
SPEEDTEST_MAX_BYTES = 8 * 1024 * 1024
#: browser self-test results one link may record: a burst of 5, then one per 30 s; one device (all its
#: links together): 10, then one per 15 s. A result is at most 64 KiB (collector.bodylimit), so one
#: link writes at most ~2 KiB/s to the database, not megabytes (issue 12)
SELFTEST_LINK_BURST, SELFTEST_LINK_EVERY_S = 5, 30.0
SELFTEST_DEVICE_BURST, SELFTEST_DEVICE_EVERY_S = 10, 15.0


class ChangeHub:
    """Wakes every open event stream when the runtime reports engine changes (from any thread)."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self, _changes: object = None) -> None:
        for loop, event in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout: float) -> None:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        self._waiters.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(entry)


@dataclass
class WebDeps:
    """What the pages need from the collector's runtime (see :func:`deps_from_runtime`)."""

    auth: Auth
    secret: bytes
    roster: Callable[[], Roster]
    view: Callable[[str], MeetingView | None]
    #: THE encoding of a meeting view (runtime.view_json): the API, the page and the stream share it
    view_json: Callable[[str], bytes | None]
    ingest: Callable[[wire.Message], str]  # a browser self-test result, through the collector's ingest
    now: Callable[[], float] = time.time
    store: Any = None  # collector.store.Store, for IT's pages
    policies: Any = None  # likavillkor.policy.PolicySet: the self-test's RTT limits per body
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    hub: ChangeHub = field(default_factory=ChangeHub)
    mediapath_offer_url: str = "/api/mediapath/offer"
    speedtest_url: str = "/speedtest"
    link_grace_s: float = selftest_links.DEFAULT_GRACE_S
    #: where self-test links point ([http] public_url / the listener); never the request's Host header
    public_url: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    streams: int = 0  # open live views (event streams)
    #: accepted browser self-test results per link and per device (issue 12: a link must not fill the disk)
    selftest_per_link: ratelimit.Buckets = field(
        default_factory=lambda: ratelimit.Buckets(1 / SELFTEST_LINK_EVERY_S, SELFTEST_LINK_BURST))
    selftest_per_device: ratelimit.Buckets = field(
        default_factory=lambda: ratelimit.Buckets(1 / SELFTEST_DEVICE_EVERY_S, SELFTEST_DEVICE_BURST))

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1


def deps_from_runtime(runtime: Any, auth: Auth, secret: bytes, *, ice_servers: list[dict[str, Any]] | None = None
                      ) -> WebDeps:
    """Bind the pages to ``collector.runtime.Runtime``: its lock-taking view/view_json, its ingest path
    (validation, rate limit, store, engine) and its change listeners."""
    from likavillkor.topics import device_topic

    def ingest(msg: wire.Message) -> str:
        return str(runtime.ingestor.handle(device_topic(msg.device_id, "selftest"), wire.encode(msg),
                                           runtime.clock()))

    deps = WebDeps(auth=auth, secret=secret, roster=lambda: runtime.index.roster, view=runtime.view,
                   view_json=runtime.view_json, ingest=ingest, now=runtime.clock, store=runtime.store,
                   policies=getattr(runtime, "policies", None), ice_servers=list(ice_servers or []))
    runtime.listeners.append(deps.hub.notify)
    return deps


# --- templates -------------------------------------------------------------------------------------

_env = Environment(loader=PackageLoader("collector.web", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _clock(t: float | None) -> str:
    return "" if t is None else dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%H:%M:%S")


def language(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in i18n.LANGS:
        return q
    return i18n.lang_of(request.cookies.get(LANG_COOKIE))


def render(request: Request, deps: WebDeps, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = language(request)
    who: Principal | None = ctx.get("who")
    other = "en" if lang == "sv" else "sv"
    params = dict(request.query_params)
    params["lang"] = other
    from urllib.parse import urlencode

    html = _env.get_template(name).render(
        lang=lang, other_lang=other, other_lang_url=f"{request.url.path}?{urlencode(params)}",
        lang_q="?lang=en" if lang == "en" else "", t=lambda k: i18n.t(k, lang), icon=icons.svg,
        when=_when, clock=_clock, csrf=deps.auth.csrf_token(who) if who and who.via == "session" else "",
        **ctx)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- API models (OpenAPI) ---------------------------------------------------------------------------

class CheckIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    status: wire.CheckStatus
    value: float | bool | str | None = Field(default=None)
    unit: str | None = Field(default=None, max_length=16)
    summary: str | None = Field(default=None, max_length=2000)
    rule: str | None = Field(default=None, max_length=16)


class BrowserSelftestIn(BaseModel):
    """What the browser self-test posts. The server decides ``overall`` from the checks."""

    started_at: float = Field(ge=946_684_800, le=4_102_444_800)
    duration_s: float = Field(ge=0, le=3600)
    checks: list[CheckIn] = Field(max_length=32)
    user_agent: str | None = Field(default=None, max_length=400)


class SelftestAccepted(BaseModel):
    overall: wire.CheckStatus
    outcome: str
    meeting_id: str
    member_id: str
    checks: int


class MemberStatus(BaseModel):
    meeting_id: str
    member_id: str
    name: str
    state: str | None
    selftest: dict[str, Any] | None
    mediapath: dict[str, Any] | None
    at: float
    #: why, main reason first, Swedish and English (`code`, `sv`, `en`, `rule`): e.g. an unmet
    #: precondition that puts the meeting at risk ("mobildata", H9) is shown to the member too (issue 11)
    reasons: list[dict[str, Any]] = []


class LinkOut(BaseModel):
    member_id: str
    name: str
    role: str
    device_id: str
    email: str | None
    url: str
    expires_at: float
    monitoring: str = "agent"  # issue 11: how she is watched; "browser" members keep companion_url open
    companion_url: str = ""  # the companion page (följesidan), same personal token as the self-test


class WebCounters(BaseModel):
    """Sign-in and page counters (bad input is counted, logged once, never a crash)."""

    auth: dict[str, int]
    pages: dict[str, int]
    event_streams: int


class FailingDeviceOut(BaseModel):
    device_id: str
    member_ids: list[str]
    incidents: int
    failures: int
    meetings: int
    kinds: dict[str, int]
    last_at: float


#: Throughput limits of the browser self-test (published figures, docs/web.md): warn below Microsoft's
#: recommendation for Teams meetings (4 Mbit/s down, 2.5 Mbit/s up), fail below its recommended
#: 1:1 video rate (1.5 Mbit/s). RTT limits come from the meeting's policy (``rtt_ms``).
THROUGHPUT_LIMITS = {"down_warn_kbps": 4000.0, "down_fail_kbps": 1500.0, "up_warn_kbps": 2500.0,
                     "up_fail_kbps": 1500.0}


def selftest_limits(policies: Any, meeting: Meeting) -> dict[str, float]:
    limits = dict(THROUGHPUT_LIMITS)
    rtt_warn, rtt_fail = 100.0, 500.0
    if policies is not None:
        lim = policies.for_meeting(str(meeting.system), meeting.body).limits.get("rtt_ms")
        if lim is not None:
            rtt_warn = lim.warn if lim.warn is not None else rtt_warn
            rtt_fail = lim.fail if lim.fail is not None else rtt_fail
    limits.update(rtt_warn_ms=rtt_warn, rtt_fail_ms=rtt_fail)
    return limits


_STATUS_RANK = {wire.CheckStatus.PASS: 0, wire.CheckStatus.SKIPPED: 0, wire.CheckStatus.WARN: 1,
                wire.CheckStatus.ERROR: 2, wire.CheckStatus.FAIL: 2}


def overall_of(checks: list[wire.CheckResult]) -> wire.CheckStatus:
    """Worst of the checks: fail/error -> fail, warn -> warn, else pass (skipped is not a failure)."""
    worst = max((_STATUS_RANK[c.status] for c in checks), default=2)
    return {0: wire.CheckStatus.PASS, 1: wire.CheckStatus.WARN, 2: wire.CheckStatus.FAIL}[worst]


#: What a browser cannot measure (H9); added to every browser result so the record says so.
BROWSER_BLIND: list[tuple[str, str, dict[str, str]]] = [
    ("network.link", "H9", {"sv": "Webbläsaren kan inte se om nätet är wifi, mobildata eller en surfzon: "
                                  "medlemmen kontrollerar själv (H9).",
                            "en": "A browser cannot tell Wi-Fi from mobile data or a hotspot: the member checks "
                                  "by hand (H9)."}),
    ("battery.level", "H9", {"sv": "Batterinivån syns inte i alla webbläsare (inte i Safari på iPad): "
                                   "medlemmen kontrollerar själv (H9).",
                             "en": "The battery level is hidden from most browsers (not in iPad Safari): the "
                                   "member checks by hand (H9)."}),
]


def browser_result(body: BrowserSelftestIn, meeting: Meeting, device_id: str, now: float,
                   lang: str) -> wire.SelftestResult:
    checks = [wire.CheckResult(id=c.id, status=c.status, value=c.value, unit=c.unit, summary=c.summary,
                               rule=c.rule) for c in body.checks]
    have = {c.id for c in checks}
    for cid, rule, text in BROWSER_BLIND:
        if cid not in have:
            checks.append(wire.CheckResult(id=cid, status=wire.CheckStatus.SKIPPED, summary=text[lang], rule=rule))
    return wire.SelftestResult(
        device_id=device_id, boot_id="browser", seq=int(now * 1000), ts=now, meeting_id=meeting.id,
        source="browser", overall=overall_of(checks), started_at=min(body.started_at, now),
        duration_s=body.duration_s, checks=checks[:64])


# --- the router -------------------------------------------------------------------------------------

def router(deps: WebDeps) -> APIRouter:
    r = APIRouter()
    auth = deps.auth
    staff = (Role.CHAIR, Role.SECRETARY, Role.IT)
    by_meeting = auth.meeting_path_body
    page_staff = auth.require(*staff, body_of=by_meeting, html=True)
    api_staff = auth.require(*staff, body_of=by_meeting)
    page_it = auth.require(Role.IT, html=True)
    api_it = auth.require(Role.IT)
    StaffPage = Annotated[Principal, Depends(page_staff)]
    StaffApi = Annotated[Principal, Depends(api_staff)]
    ItPage = Annotated[Principal, Depends(page_it)]
    ItApi = Annotated[Principal, Depends(api_it)]
    AnyStaffPage = Annotated[Principal, Depends(auth.require(*staff, html=True))]
    SignedIn = Annotated[Principal, Depends(auth.require(html=True))]
    Filter = Annotated[webqueries.IncidentFilter, Depends(webqueries.IncidentFilter.from_query)]

    def meeting_or_404(meeting_id: str) -> Meeting:
        meeting = deps.roster().meetings.get(meeting_id)
        if meeting is None:
            raise HTTPException(404, "no such meeting")
        return meeting

    def current_view(meeting_id: str) -> MeetingView:
        view = deps.view(meeting_id)
        if view is None:
            raise HTTPException(404, "no such meeting")
        return view

    # -- static files: a fixed list, no directory walking --
    static = resources.files("collector.web").joinpath("static")
    types = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}

    @r.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        ext = name.rsplit(".", 1)[-1]
        if "/" in name or ".." in name or ext not in types:
            raise HTTPException(404, "not found")
        f = static.joinpath(name)
        if not f.is_file():
            raise HTTPException(404, "not found")
        return Response(f.read_bytes(), media_type=types[ext], headers={"Cache-Control": "no-cache"})

    # -- sign-in --
    @r.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        return render(request, deps, "login.html", who=None, next=safe_next(next), failed=False, locked=False,
                      authenticators=auth.authenticators)

    @r.post("/login", include_in_schema=False)
    async def login(request: Request, next: str = "/") -> Response:
        form = await request.form()
        method = str(form.get("method") or "password")
        username = str(form.get("username") or "")[:128].casefold()
        keys = (username, request.client.host if request.client else "?")
        if auth.locked(*keys):
            log.info("sign-in refused for %r from %s: too many failures", username[:64], keys[1])
            return render(request, deps, "login.html", status=429, who=None, next=safe_next(next), failed=True,
                          locked=True, authenticators=auth.authenticators)
        who = None
        for a in auth.authenticators:  # (`next` is the page to return to here)
            if a.id == method:
                who = await a.complete(request)
        if who is None:
            auth.note_failure(*keys)
            log.info("failed sign-in for %r from %s", username[:64], keys[1])
            return render(request, deps, "login.html", status=401, who=None, next=safe_next(next), failed=True,
                          locked=False, authenticators=auth.authenticators)
        response = RedirectResponse(safe_next(next), status_code=303)
        auth.new_session(response, who, request)
        log.info("signed in: %r (%s) from %s", who.username[:64], who.role.value, keys[1])
        return response

    @r.get("/login/{method}", include_in_schema=False)
    async def login_redirect(request: Request, method: str) -> Response:
        """A redirect-based sign-in (OIDC): off to the identity provider."""
        for a in auth.authenticators:
            if a.id == method and not a.form:
                started = await a.begin(request)
                if started is not None:
                    return started
        raise HTTPException(404, "no such sign-in method")

    @r.get("/login/{method}/callback", include_in_schema=False)
    async def login_callback(request: Request, method: str, next: str = "/") -> Response:
        """Back from the identity provider: the authenticator checks the answer and names the user."""
        for a in auth.authenticators:
            if a.id == method and not a.form:
                who = await a.complete(request)
                if who is None:
                    auth.note_failure(f"{method}-callback", request.client.host if request.client else "?")
                    return render(request, deps, "login.html", status=401, who=None, next=safe_next(next),
                                  failed=True, locked=False, authenticators=auth.authenticators)
                response = RedirectResponse(safe_next(next), status_code=303)
                auth.new_session(response, who, request)
                log.info("signed in: %r (%s, %s) from %s", who.username[:64], who.role.value, method,
                         request.client.host if request.client else "?")
                return response
        raise HTTPException(404, "no such sign-in method")

    @r.post("/logout", include_in_schema=False)
    async def logout(request: Request, who: SignedIn) -> Response:
        response = RedirectResponse("/login", status_code=303)
        auth.end_session(request, response)
        return response

    # -- home: the meetings this person may see --
    @r.get("/", include_in_schema=False)
    async def home(request: Request, who: AnyStaffPage) -> Response:
        meetings = sorted((m for m in deps.roster().meetings.values() if who.may_see_body(m.body)),
                          key=lambda m: m.start)
        return render(request, deps, "home.html", who=who, meetings=meetings)

    # -- the chair's view --
    @r.get("/chair/{meeting_id}", include_in_schema=False)
    async def chair(request: Request, meeting_id: str, who: StaffPage) -> Response:
        meeting = meeting_or_404(meeting_id)
        view = current_view(meeting_id)
        lang = language(request)
        boot = {"view": json.loads(deps.view_json(meeting_id) or b"null"), "texts": i18n.bundle(lang),
                "icons": icons.all_icons(), "lang": lang, "csrf": auth.csrf_token(who) if who.via == "session" else "",
                "events_url": f"/api/meetings/{meeting_id}/events",
                "actions_url": f"/api/meetings/{meeting_id}/actions",
                "may_act": who.role in (Role.CHAIR, Role.SECRETARY, Role.IT), "username": who.username}
        return render(request, deps, "chair.html", who=who, meeting=meeting, view=view, boot=boot,
                      may_act=boot["may_act"])

    @r.get("/api/meetings/{meeting_id}/events", tags=["meetings"], response_class=StreamingResponse,
           summary="Live meeting view (server-sent events)",
           description="`event: view` with the same MeetingView JSON as GET /api/meetings/{meeting_id} whenever "
                       "it changes; `event: ping` with the collector's time every few seconds. Reconnect with "
                       "EventSource (`retry: 1000`).",
           responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      404: {"description": "no such meeting"}})
    async def events(request: Request, meeting_id: str, who: StaffApi) -> Response:
        view = current_view(meeting_id)

        async def still_allowed() -> bool:
            """Signed out, password changed, removed from the body, token revoked: the stream ends."""
            try:
                again = await auth.principal(request)
            except HTTPException:
                return False
            return again is not None and again.role in staff and again.may_see_body(view.body)

        return StreamingResponse(_event_stream(request, deps, meeting_id, still_allowed),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- self-test links (H7) --
    def links(meeting: Meeting, request: Request) -> list[LinkOut]:
        base = deps.public_url or str(request.base_url).rstrip("/")  # the configured address (issue 12)
        modes = {p.member_id: p.monitoring.value for p in meeting.participants}
        return [LinkOut(member_id=x.member_id, name=x.name, role=x.role, device_id=x.device_id, email=x.email,
                        url=base + x.path, expires_at=x.expires_at, monitoring=modes.get(x.member_id, "agent"),
                        companion_url=base + x.path.replace("/selftest/", "/companion/", 1))
                for x in selftest_links.links_for_meeting(deps.secret, meeting, deps.link_grace_s)]

    @r.get("/api/meetings/{meeting_id}/selftest-links", response_model=list[LinkOut], tags=["self-test"],
           summary="Each remote member's personal self-test link (H7)",
           responses={404: {"description": "no such meeting"}})
    async def links_api(request: Request, meeting_id: str, who: StaffApi) -> list[LinkOut]:
        return links(meeting_or_404(meeting_id), request)

    @r.get("/secretary/{meeting_id}/links", include_in_schema=False)
    async def links_page(request: Request, meeting_id: str, who: StaffPage) -> Response:
        meeting = meeting_or_404(meeting_id)
        return render(request, deps, "links.html", who=who, meeting=meeting, links=links(meeting, request))

    # -- the browser self-test (a member, through their link) --
    def resolve_link(token: str) -> tuple[Meeting, Any]:
        try:
            return selftest_links.resolve(deps.secret, token, deps.roster(), deps.now())
        except selftest_links.InvalidLink as exc:
            deps.count(f"selftest_link_{exc.reason.value}")
            log.info("refused self-test link: %s", exc.reason.value)
            raise HTTPException(403 if exc.reason is not selftest_links.LinkError.EXPIRED else 410,
                                exc.reason.value) from None

    def link_principal(token: str) -> Principal:
        meeting, p = resolve_link(token)
        return Principal(username=f"member:{p.member_id}", role=Role.MEMBER, name=p.name, via="selftest",
                         meeting_id=meeting.id, member_id=p.member_id)

    auth.selftest_principal = link_principal

    @r.get("/selftest/{token}", include_in_schema=False)
    async def selftest_page(request: Request, token: str) -> Response:
        lang = language(request)
        try:
            meeting, p = selftest_links.resolve(deps.secret, token, deps.roster(), deps.now())
        except selftest_links.InvalidLink as exc:
            deps.count(f"selftest_link_{exc.reason.value}")
            status = 410 if exc.reason is selftest_links.LinkError.EXPIRED else 403
            return render(request, deps, "error.html", status=status, who=None,
                          message=selftest_links.TEXT[exc.reason][lang], detail="")
        base = f"/selftest/{token}"
        st = deps.speedtest_url.rstrip("/")
        boot = {"token": token, "lang": lang, "texts": i18n.bundle(lang), "icons": icons.all_icons(),
                "meeting_id": meeting.id, "device_id": p.device_id, "ice_servers": deps.ice_servers,
                "offer_url": deps.mediapath_offer_url, "result_url": f"{base}/result",
                "status_url": f"{base}/status", "ping_url": f"{st}/latency.txt",
                "download_url": f"{st}/random750x750.jpg", "upload_url": f"{st}/upload.php",
                "upload_bytes": 1_000_000, "limits": selftest_limits(deps.policies, meeting)}
        return render(request, deps, "selftest.html", who=None, meeting=meeting, participant=p, boot=boot)

    @r.get("/selftest/{token}/status", response_model=MemberStatus, tags=["self-test"],
           summary="The member's own state, self-test and media path check (the member's link only)",
           responses={403: {"description": "invalid link"}, 410: {"description": "expired link"}})
    async def selftest_status(token: str) -> MemberStatus:
        meeting, p = resolve_link(token)
        view = deps.view(meeting.id)
        mine = next((x for x in view.participants if x.member_id == p.member_id), None) if view else None
        return MemberStatus(meeting_id=meeting.id, member_id=p.member_id, name=p.name,
                            state=mine.state.value if mine else None,
                            selftest=msgspec.to_builtins(mine.selftest) if mine and mine.selftest else None,
                            mediapath=mine.mediapath if mine else None, at=deps.now(),
                            reasons=[{"code": r.code, "sv": r.sv, "en": r.en, "rule": r.rule}
                                     for r in (mine.reasons if mine else [])])

    @r.post("/selftest/{token}/result", response_model=SelftestAccepted, tags=["self-test"],
            summary="Record a browser self-test for the link's member and meeting (wire.SelftestResult, "
                    "source 'browser')",
            responses={403: {"description": "invalid link"}, 410: {"description": "expired link"}})
    async def selftest_result(request: Request, token: str, body: BrowserSelftestIn) -> SelftestAccepted:
        meeting, p = resolve_link(token)
        now = deps.now()
        wait = deps.selftest_per_link.take(f"{meeting.id}\0{p.member_id}", now)
        if wait is None:
            wait = deps.selftest_per_device.take(p.device_id, now)
        if wait is not None:
            deps.count("selftest_rate_limited")
            if deps.counters["selftest_rate_limited"] % 100 == 1:  # the first, then every 100th
                log.info("browser self-test results for %s refused: too many (%d so far)", p.device_id[:64],
                         deps.counters["selftest_rate_limited"])
            raise HTTPException(429, "too many self-test results: try again later",
                                headers={"Retry-After": ratelimit.retry_after(wait)})
        msg = browser_result(body, meeting, p.device_id, now, language(request))
        result = deps.ingest(msg)
        if inspect.isawaitable(result):
            result = await result
        outcome = result[0] if isinstance(result, tuple) else result
        deps.count("selftest_browser")
        return SelftestAccepted(overall=msg.overall, outcome=str(getattr(outcome, "value", outcome)),
                                meeting_id=meeting.id, member_id=p.member_id, checks=len(msg.checks))

    # -- IT --
    @r.get("/api/web/counters", response_model=WebCounters, tags=["health"],
           summary="Sign-in and page counters: failed sign-ins, refused tokens and links, open live views (IT)")
    async def web_counters(request: Request, who: ItApi) -> WebCounters:
        pages = dict(deps.counters)
        speedtest = getattr(request.app.state, "speedtest_counters", None)
        if speedtest is not None:
            pages.update({f"speedtest_{k}": v for k, v in vars(speedtest).items()})
        return WebCounters(auth=dict(vars(auth.counters)), pages=pages, event_streams=deps.streams)

    @r.get("/it/incidents", include_in_schema=False)
    async def incidents_page(request: Request, who: ItPage,
                             f: Filter,
                             format: Literal["html", "csv", "json"] = "html") -> Response:
        rows = webqueries.incidents(deps.store, f)
        if format == "json":
            return JSONResponse(rows, headers={"Content-Disposition": 'attachment; filename="incidents.json"'})
        if format == "csv":
            return PlainTextResponse(webqueries.incidents_csv(rows), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="incidents.csv"'})
        return render(request, deps, "incidents.html", who=who, rows=rows, f=f,
                      query=request.url.query)

    @r.get("/api/devices/failing", response_model=list[FailingDeviceOut], tags=["incidents"],
           summary="Devices that keep failing (IT)")
    async def failing_api(who: ItApi, days: float = Query(90, gt=0, le=3650),
                          min_incidents: int = Query(2, ge=1, le=10_000)) -> list[FailingDeviceOut]:
        return [FailingDeviceOut(**d) for d in webqueries.failing_devices(deps.store, deps.now(), days,
                                                                          min_incidents)]

    @r.get("/it/devices", include_in_schema=False)
    async def failing_page(request: Request, who: ItPage,
                           days: float = Query(90, gt=0, le=3650),
                           min_incidents: int = Query(2, ge=1, le=10_000)) -> Response:
        rows = webqueries.failing_devices(deps.store, deps.now(), days, min_incidents)
        return render(request, deps, "devices.html", who=who, rows=rows, days=days, min_incidents=min_incidents)

    @r.get("/it/meetings/{meeting_id}/report", include_in_schema=False)
    async def report_page(request: Request, meeting_id: str, who: ItPage,
                          format: Literal["html", "csv"] = "html") -> Response:
        meeting = meeting_or_404(meeting_id)
        data = webqueries.meeting_history(deps.store, meeting_id)
        rep = report.build(meeting, data, now=deps.now())
        lang = language(request)
        if format == "csv":
            return PlainTextResponse(report.to_csv(rep, lang), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition":
                                              f'attachment; filename="report-{meeting_id}.csv"'})
        return render(request, deps, "report.html", who=who, meeting=meeting, rep=rep,
                      timeline=report.timeline_svg(rep, lang),
                      segment_title=lambda seg: report.segment_title(seg, lang),
                      verdict_text=lambda seg: report.verdict_text(seg, lang))

    return r


async def _always() -> bool:
    return True


async def _event_stream(request: Request, deps: WebDeps, meeting_id: str,
                        allowed: Callable[[], Awaitable[bool]] = _always) -> AsyncIterator[bytes]:
    """``view`` events carrying the MeetingView JSON (``runtime.view_json``, byte for byte what
    ``GET /api/meetings/{id}`` returns) whenever it changes, and a ``ping`` every HEARTBEAT_S so the page
    can tell a live view from a stale one. The countdown ticks in the page, so a view that differs only
    in ``at`` / ``substitute_in_s`` is not re-sent."""
    deps.streams += 1
    try:
        async for chunk in _stream_views(request, deps, meeting_id, allowed):
            yield chunk
    finally:
        deps.streams -= 1


async def _stream_views(request: Request, deps: WebDeps, meeting_id: str,
                        allowed: Callable[[], Awaitable[bool]] = _always) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    last_key: bytes | None = None
    last_sent = 0.0
    while True:
        if await request.is_disconnected():
            return
        if not await allowed():  # re-checked every turn (at most 1 s apart): issue 12
            deps.count("event_stream_ended_signed_out")
            yield b"event: signed_out\ndata: {}\n\n"
            return
        payload = deps.view_json(meeting_id)
        if payload is None:
            return
        key = _change_key(payload)
        mono = time.monotonic()
        if key != last_key:
            last_key = key
            last_sent = mono
            yield b"event: view\ndata: " + payload + b"\n\n"
        elif mono - last_sent >= HEARTBEAT_S:
            last_sent = mono
            yield b"event: ping\ndata: " + _ENCODER.encode({"at": deps.now()}) + b"\n\n"
        await deps.hub.wait(POLL_S * 5)


_VOLATILE = re.compile(rb'"substitute_in_s":[-0-9.eE+]+|,"at":[-0-9.eE+]+}$')


def _change_key(payload: bytes) -> bytes:
    """The payload without what changes every instant: the view's own ``at`` (last field) and the
    countdowns (the page computes them from ``at`` and ``lost_since``)."""
    return _VOLATILE.sub(b"", payload)


def ice_servers_of(config: Any) -> list[dict[str, Any]]:
    """ICE servers for the browser's RTCPeerConnection, from the collector config when it names any
    (``[mediapath] ice_servers`` / ``[media] ice_servers``); none on a LAN."""
    for section in ("mediapath", "media", "webrtc"):
        servers = getattr(getattr(config, section, None), "ice_servers", None)
        if servers:
            return [s if isinstance(s, dict) else {"urls": s} for s in msgspec.to_builtins(servers)]
    return []


_WEB: "weakref.WeakKeyDictionary[Any, WebDeps]" = weakref.WeakKeyDictionary()


def device_auth_of(config: Any) -> tuple[DeviceAuthMode, DevicePasswords | None]:
    """``[http] device_auth`` / ``device_passwords`` (collector/config.py) -> the mode and, for
    ``passwords``, the broker's password file. Logged once, so the operator sees which it is."""
    http = config.http
    path = str(getattr(http, "device_passwords", "") or "")
    mode = resolve_device_auth(str(getattr(http, "device_auth", "") or ""), path)
    passwords = None
    if mode is DeviceAuthMode.PASSWORDS:
        passwords = DevicePasswords(Path(path), cache_s=float(getattr(http, "device_auth_cache_s", 300.0)))
        log.info("devices sign in over HTTP with their broker credentials (%s)", path)
    elif mode is DeviceAuthMode.LOOPBACK:
        log.info("device routes answer only this host: no device passwords configured ([http] device_passwords)")
    else:
        log.warning("device routes are open to anyone ([http] device_auth = \"none\")")
    return mode, passwords


def web_for(runtime: Any) -> WebDeps:
    """The pages' state for a runtime, made once: the Auth (users ``{data_dir}/users.toml``, secret
    ``{data_dir}/web-secret.key``, the host's own IT token ``{data_dir}/api-token.local``; cookies
    Secure when the collector serves TLS) and the runtime hooks."""
    from collector.auth import load_secret, local_token

    deps = _WEB.get(runtime)
    if deps is not None:
        return deps
    config = runtime.config
    data = config.data_path
    secret = load_secret(data / "web-secret.key")

    def meeting_body(meeting_id: str) -> str | None:
        meeting = runtime.index.roster.meetings.get(meeting_id)
        return meeting.body if meeting is not None else None

    mode, passwords = device_auth_of(config)
    auth = Auth(secret=secret, users_path=data / "users.toml", meeting_body=meeting_body,
                secure_cookies=bool(config.http.tls_cert), clock=runtime.clock, local_token=local_token(data),
                device_auth=mode, device_passwords=passwords)
    deps = _WEB[runtime] = deps_from_runtime(runtime, auth, secret, ice_servers=ice_servers_of(config))
    deps.public_url = config.http.base_url
    return deps


def setup(app: Any, runtime: Any) -> Auth:
    """Add sign-in and the pages to the collector's app; returns the :class:`Auth`. Guard the API
    routes with :func:`api_dependencies` (the same Auth)."""
    deps = web_for(runtime)
    app.state.web = deps
    app.include_router(router(deps))
    from collector.web import companion  # the companion page (issue 11): its own module

    companion.mount(app, deps, runtime)
    app.add_exception_handler(StarletteHTTPException, _html_errors(deps))
    describe_meeting_view(app)
    return deps.auth


def api_dependencies(runtime: Any) -> list[Any]:
    """FastAPI dependencies for every route of ``collector.api`` (``/api/...``, ``/metrics``) and the
    media path peer: see :func:`guard`."""
    return [Depends(guard(web_for(runtime)))]


def guard(deps: WebDeps) -> Callable[..., Any]:
    """One guard for the routes defined outside this module, by what the route is about:

    * ``/api/mediapath/...``: :func:`mediapath_guard`;
    * ``/speedtest/...``: open (random bytes, bounded by the speed-test server; agents and the browser
      self-test use it);
    * ``/api/devices/{device_id}/meetings`` (the agent's scheduler) and ``.../probe-key`` (its signed
      path probes, issue 11): that device itself, signed in
      with its broker credentials (:meth:`Auth.require_device`), or IT;
    * a route with ``{meeting_id}``: a chair or secretary of that meeting's body, or IT;
    * everything else (meeting list, incidents, health, ``/metrics``): IT.
    """
    auth = deps.auth
    staff = auth.require(Role.CHAIR, Role.SECRETARY, Role.IT, body_of=auth.meeting_path_body)
    it = auth.require(Role.IT)
    media = mediapath_guard(auth, deps)

    async def path_device(request: Request) -> str | None:
        return str(request.path_params.get("device_id", "")) or None

    device = auth.require_device(path_device)

    async def speedtest_trusted(request: Request) -> bool:
        """A member with a valid self-test link, a device with its login, or signed-in staff: the
        speed test keeps slots for them that anonymous clients cannot take (issue 12)."""
        link = request.headers.get(SELFTEST_HEADER)
        header = request.headers.get("authorization", "")
        try:
            if link:
                selftest_links.resolve(deps.secret, link, deps.roster(), deps.now())
                return True
            if header.lower().startswith("basic ") and auth.device_auth is DeviceAuthMode.PASSWORDS:
                return auth.device_principal(request) is not None
            if header or request.cookies.get(SESSION_COOKIE):
                return await auth.principal(request) is not None
        except (selftest_links.InvalidLink, ValueError, HTTPException):
            return False
        return False

    async def dependency(request: Request,
                         _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
                         _cookie: Annotated[str | None, Depends(SESSION)] = None,
                         _basic: Annotated[HTTPBasicCredentials | None, Depends(DEVICE_BASIC)] = None
                         ) -> Principal | None:
        path = request.url.path
        if path.startswith("/api/mediapath/"):
            return await media(request)
        if path.startswith("/speedtest/"):
            request.state.speedtest_trusted = await speedtest_trusted(request)
            return None
        params = request.path_params
        if "device_id" in params and (path.endswith("/meetings") or path.endswith("/probe-key")):
            return await device(request)
        if "meeting_id" in params:
            return await staff(request)
        return await it(request)

    return dependency


def body_precheck(deps: WebDeps) -> Callable[[Any], tuple[int, str] | None]:
    """For :class:`collector.bodylimit.BodyLimit`: refuse, before the body is read, a state-changing
    request that carries no credential for a route that needs one (401) and a self-test result for
    a link that is not valid (403, 410). The full check still runs in the route's guard."""
    from collector.bodylimit import cookie_names, has_header

    auth = deps.auth

    def check(scope: Any) -> tuple[int, str] | None:
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return None
        path = str(scope.get("path", ""))
        if path.startswith("/selftest/") and path.endswith("/result"):
            token = path[len("/selftest/"):-len("/result")]
            try:
                selftest_links.resolve(deps.secret, token, deps.roster(), deps.now())
            except selftest_links.InvalidLink as exc:
                deps.count(f"selftest_link_{exc.reason.value}")
                return (410 if exc.reason is selftest_links.LinkError.EXPIRED else 403), exc.reason.value
            return None
        credentials = has_header(scope, b"authorization") or SESSION_COOKIE in cookie_names(scope) or \
            has_header(scope, SELFTEST_HEADER.lower().encode())
        if path == "/api/mediapath/offer":
            if credentials or auth.device_auth is DeviceAuthMode.NONE:
                return None
            client = scope.get("client") or ("", 0)
            if auth.device_auth is DeviceAuthMode.LOOPBACK and is_loopback(client[0]):
                return None
            return 401, "sign in first (a self-test link, device credentials or staff)"
        if (path.startswith("/api/") or path == "/metrics") and not credentials:
            return 401, "sign in first"
        return None

    return check


_PAGE_ERRORS = {403: "forbidden", 404: "not_found"}


def _html_errors(deps: WebDeps) -> Callable[..., Any]:
    """A browser asking for a page gets a page for 403/404, not JSON; the API keeps FastAPI's JSON."""
    from fastapi.exception_handlers import http_exception_handler

    async def handler(request: Request, exc: StarletteHTTPException) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if wants_html and exc.status_code in _PAGE_ERRORS and not request.url.path.startswith("/api/"):
            lang = language(request)
            return render(request, deps, "error.html", status=exc.status_code, who=None,
                          message=i18n.t(_PAGE_ERRORS[exc.status_code], lang), detail="")
        return await http_exception_handler(request, exc)

    return handler


_ERROR = {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}


def _document_errors(schema: dict[str, Any]) -> None:
    """The answers the sign-in layer and the routes give besides their own: 401 (not signed in),
    403 (wrong role, body, link or CSRF token), 404 (no such meeting/device), 400 (a body that is
    not JSON), 409 (an action the engine refuses)."""
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            extra: dict[str, str] = {}
            if op.get("security") or path.startswith("/selftest/"):
                extra["401" if not path.startswith("/selftest/") else "410"] = \
                    "sign in first" if not path.startswith("/selftest/") else "the link has expired"
                extra["403"] = "not allowed (role, body, link or CSRF token)"
            if "{" in path:
                extra["404"] = "not found"
            if "requestBody" in op:
                extra["400"] = "the body is not valid JSON"
                extra["413"] = "the body is larger than this route's limit (docs/security.md)"
            if method == "post" and path.startswith("/selftest/"):
                extra["429"] = "too many results through this link or device: see Retry-After"
            if method == "post" and path.endswith("/actions"):
                extra["409"] = "the engine refused the action"
            for code, text in extra.items():
                op["responses"].setdefault(code, {"description": text, "content": _ERROR})
            formats = [p for p in op.get("parameters", []) if p.get("name") == "format"]
            if formats and "csv" in json.dumps(formats[0].get("schema", {})) and "200" in op["responses"]:
                op["responses"]["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}


def describe_meeting_view(app: Any) -> None:
    """Put the engine's MeetingView (a msgspec struct) into /openapi.json as the response of
    ``GET /api/meetings/{meeting_id}``, so clients and schemathesis can check it."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return dict(app.openapi_schema)
        schema = base()
        (ref,), components = msgspec.json.schema_components([MeetingView],
                                                            ref_template="#/components/schemas/{name}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        op = schema.get("paths", {}).get("/api/meetings/{meeting_id}", {}).get("get")
        if op is not None:
            ok = op.setdefault("responses", {}).setdefault("200", {"description": "the meeting view"})
            ok["content"] = {"application/json": {"schema": ref}}
        _document_errors(schema)
        app.openapi_schema = schema
        return dict(schema)

    app.openapi = openapi


# --- guards for routes defined elsewhere (collector.api, collector.peers.media) ------------------------

def mediapath_guard(auth: Auth, deps: WebDeps) -> Callable[..., Any]:
    """For ``collector.peers.media``'s router. Results (GET) are IT's. An offer (POST) made

    * with a member's self-test link must be for that member's device and meeting;
    * signed in (session or API token) needs staff;
    * otherwise it is an agent's: the device signed in with its broker credentials, offering for
      itself only (:meth:`Auth.require_device`; loopback/none modes per ``[http] device_auth``).
    Only a roster device's result is recorded (collector.api)."""
    it = auth.require(Role.IT)
    staff = auth.require(Role.CHAIR, Role.SECRETARY, Role.IT)

    async def offer_device(request: Request) -> str | None:
        device_id = (await _offer_of(request)).get("device_id")
        return device_id if isinstance(device_id, str) and device_id else None

    device = auth.require_device(offer_device)

    async def guard(request: Request,
                    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
                    _cookie: Annotated[str | None, Depends(SESSION)] = None,
                    _basic: Annotated[HTTPBasicCredentials | None, Depends(DEVICE_BASIC)] = None) -> Principal | None:
        if request.method != "POST":
            return await it(request)
        link = request.headers.get(SELFTEST_HEADER)
        if link:
            try:
                meeting, p = selftest_links.resolve(deps.secret, link, deps.roster(), deps.now())
            except selftest_links.InvalidLink as exc:
                deps.count(f"selftest_link_{exc.reason.value}")
                raise HTTPException(410 if exc.reason is selftest_links.LinkError.EXPIRED else 403,
                                    exc.reason.value) from None
            offer = await _offer_of(request)
            if offer.get("device_id") != p.device_id or offer.get("meeting_id") not in (None, meeting.id):
                deps.count("mediapath_offer_refused")
                raise HTTPException(403, "this link is for another device or meeting")
            return None
        if request.headers.get("authorization", "").lower().startswith("bearer ") or \
                request.cookies.get(SESSION_COOKIE):
            who = await staff(request)
            if who.role is not Role.IT and not staff_may_offer(who, await _offer_of(request), deps.roster()):
                deps.count("mediapath_offer_refused")
                raise HTTPException(403, "a chair or secretary may check only a device of a meeting of their "
                                         "own bodies (name its meeting_id)")
            return who
        try:
            return await device(request)
        except HTTPException as exc:
            if exc.status_code == 403:
                deps.count("mediapath_offer_refused")
            raise

    return guard


def staff_may_offer(who: Principal, offer: dict[str, Any], roster: Roster) -> bool:
    """A chair's or secretary's media path offer must name a meeting of their own bodies and a device
    of that meeting: its failed result turns the member ``failing`` and may adjourn the meeting (H15),
    so a chair of one body must never reach another body's meeting (issue 12)."""
    meeting_id, device_id = offer.get("meeting_id"), offer.get("device_id")
    meeting = roster.meetings.get(meeting_id) if isinstance(meeting_id, str) else None
    if meeting is None or not who.may_see_body(meeting.body):
        return False
    return any(p.device_id == device_id for p in meeting.participants)


async def _offer_of(request: Request) -> dict[str, Any]:
    """The offer's JSON object, {} when it is not one (the offer handler answers 400/413 itself).
    The body is read at most to the offer's limit (a chunked upload cannot exhaust memory) and kept on
    the request, so the handler reads the same bytes again."""
    from collector.peers.media import MAX_SDP_BYTES

    body = getattr(request, "_body", None)
    if body is None:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SDP_BYTES:
                break
        body = request._body = b"".join(chunks)  # Starlette's own cache: request.stream() replays it
    try:
        offer = json.loads(body[: 70 * 1024]) if body else {}
    except ValueError:
        offer = {}
    return offer if isinstance(offer, dict) else {}
