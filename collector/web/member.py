"""The member's routes, all through her personal link (H7, collector/web/selftest_links.py): the
browser self-test page, her own state, the result it records; and the companion page
(collector/web/companion.py), mounted from here.

The pure parts (what a browser result becomes, the self-test's limits) sit beside the routes."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import logging
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from collector import ratelimit
from collector.engine import Action, ActionKind
from collector.web import companion, i18n, icons, member_notice, selftest_links
from collector.web.access import Access, LinkCheck, link_status
from collector.web.context import WebDeps
from collector.web.models import BrowserSelftestIn, MemberStatus, SelftestAccepted, UnequalAccepted, UnequalIn
from collector.web.render import language, render
from likavillkor import wire
from likavillkor.policy import PolicySet
from likavillkor.roster import Meeting, Participant

log = logging.getLogger(__name__)

#: Throughput limits of the browser self-test (published figures, docs/web.md): warn below Microsoft's
#: recommendation for Teams meetings (4 Mbit/s down, 2.5 Mbit/s up), fail below its recommended
#: 1:1 video rate (1.5 Mbit/s). RTT limits come from the meeting's policy (``rtt_ms``).
THROUGHPUT_LIMITS = {"down_warn_kbps": 4000.0, "down_fail_kbps": 1500.0, "up_warn_kbps": 2500.0, "up_fail_kbps": 1500.0}


def selftest_limits(policies: PolicySet | None, meeting: Meeting) -> dict[str, float]:
    limits = dict(THROUGHPUT_LIMITS)
    rtt_warn, rtt_fail = 100.0, 500.0
    if policies is not None:
        lim = policies.for_meeting(str(meeting.system), meeting.body).limits.get("rtt_ms")
        if lim is not None:
            rtt_warn = lim.warn if lim.warn is not None else rtt_warn
            rtt_fail = lim.fail if lim.fail is not None else rtt_fail
    limits.update(rtt_warn_ms=rtt_warn, rtt_fail_ms=rtt_fail)
    return limits


_STATUS_RANK = {
    wire.CheckStatus.PASS: 0,
    wire.CheckStatus.SKIPPED: 0,
    wire.CheckStatus.WARN: 1,
    wire.CheckStatus.ERROR: 2,
    wire.CheckStatus.FAIL: 2,
}


def overall_of(checks: list[wire.CheckResult]) -> wire.CheckStatus:
    """Worst of the checks: fail/error -> fail, warn -> warn, else pass (skipped is not a failure)."""
    worst = max((_STATUS_RANK[c.status] for c in checks), default=2)
    return {0: wire.CheckStatus.PASS, 1: wire.CheckStatus.WARN, 2: wire.CheckStatus.FAIL}[worst]


#: What a browser cannot measure (H9); added to every browser result so the record says so.
BROWSER_BLIND: list[tuple[str, str, dict[str, str]]] = [
    (
        "network.link",
        "H9",
        {
            "sv": "Webbläsaren kan inte se om nätet är wifi, mobildata eller en surfzon: "
            "medlemmen kontrollerar själv (H9).",
            "en": "A browser cannot tell Wi-Fi from mobile data or a hotspot: the member checks by hand (H9).",
        },
    ),
    (
        "battery.level",
        "H9",
        {
            "sv": "Batterinivån syns inte i alla webbläsare (inte i Safari på iPad): "
            "medlemmen kontrollerar själv (H9).",
            "en": "The battery level is hidden from most browsers (not in iPad Safari): the "
            "member checks by hand (H9).",
        },
    ),
]


def browser_result(
    body: BrowserSelftestIn, meeting: Meeting, device_id: str, now: float, lang: str
) -> wire.SelftestResult:
    checks = [
        wire.CheckResult(id=c.id, status=c.status, value=c.value, unit=c.unit, summary=c.summary, rule=c.rule)
        for c in body.checks
    ]
    have = {c.id for c in checks}
    for cid, rule, text in BROWSER_BLIND:
        if cid not in have:
            checks.append(wire.CheckResult(id=cid, status=wire.CheckStatus.SKIPPED, summary=text[lang], rule=rule))
    return wire.SelftestResult(
        device_id=device_id,
        boot_id="browser",
        seq=int(now * 1000),
        ts=now,
        meeting_id=meeting.id,
        source="browser",
        overall=overall_of(checks),
        started_at=min(body.started_at, now),
        duration_s=body.duration_s,
        checks=checks[:64],
    )


def _selftest_boot(web: WebDeps, token: str, meeting: Meeting, p: Participant, lang: str) -> dict[str, object]:
    base = f"/selftest/{token}"
    st = web.speedtest_url.rstrip("/")
    return {
        "token": token,
        "lang": lang,
        "texts": i18n.bundle(lang),
        "icons": icons.all_icons(),
        "meeting_id": meeting.id,
        "device_id": p.device_id,
        "ice_servers": web.ice_servers,
        "offer_url": web.mediapath_offer_url,
        "result_url": f"{base}/result",
        "status_url": f"{base}/status",
        "ping_url": f"{st}/latency.txt",
        "download_url": f"{st}/random750x750.jpg",
        "upload_url": f"{st}/upload.php",
        "upload_bytes": 1_000_000,
        "limits": selftest_limits(web.runtime.policies, meeting),
        **member_urls(token),
    }


def member_urls(token: str) -> dict[str, str]:
    """Where the member's pages (self-test and companion) read her state and send her H17 report."""
    return {"status_url": f"/selftest/{token}/status", "unequal_url": f"/selftest/{token}/unequal"}


def _member_status(web: WebDeps, meeting: Meeting, p: Participant, lang: str) -> MemberStatus:
    view = web.runtime.view(meeting.id)
    mine = next((x for x in view.participants if x.member_id == p.member_id), None) if view else None
    rec = member_notice.record_of(web.runtime.actions(meeting.id), p.member_id)
    return MemberStatus(
        excused_at=rec.excused_at,
        excused_item=rec.excused_item,
        returned_at=rec.returned_at,
        unequal_at=rec.unequal_at,
        notice=member_notice.notice(rec, lang),
        unequal_text=member_notice.told(rec, lang),
        meeting_id=meeting.id,
        member_id=p.member_id,
        name=p.name,
        state=mine.state.value if mine else None,
        selftest=msgspec.to_builtins(mine.selftest) if mine and mine.selftest else None,
        mediapath=mine.mediapath if mine else None,
        at=web.now(),
        reasons=[{"code": r.code, "sv": r.sv, "en": r.en, "rule": r.rule} for r in (mine.reasons if mine else [])],
    )


def _rate_limit(web: WebDeps, meeting: Meeting, p: Participant, now: float) -> None:
    """At most so many results per link and per device (issue 12): 429 with Retry-After."""
    wait = web.selftest_per_link.take(f"{meeting.id}\0{p.member_id}", now)
    if wait is None:
        wait = web.selftest_per_device.take(p.device_id, now)
    if wait is None:
        return
    web.count("selftest_rate_limited")
    if web.counters["selftest_rate_limited"] % 100 == 1:  # the first, then every 100th
        log.info(
            "browser self-test results for %s refused: too many (%d so far)",
            p.device_id[:64],
            web.counters["selftest_rate_limited"],
        )
    raise HTTPException(
        429, "too many self-test results: try again later", headers={"Retry-After": ratelimit.retry_after(wait)}
    )


_LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "invalid link"},
    410: {"description": "expired link"},
}


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter()
    _selftest_page_routes(r, web, access)
    _unequal_routes(r, web, access)
    _result_routes(r, web, access)
    return r


def _selftest_page_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    """The member's self-test page and her own status."""
    LinkPage = Annotated[LinkCheck, Depends(access.member_link_page)]
    Member = Annotated[tuple[Meeting, Participant], Depends(access.member_link)]

    @r.get("/selftest/{token}", include_in_schema=False)
    async def selftest_page(request: Request, token: str, link: LinkPage) -> Response:
        lang = language(request)
        if link.error is not None:
            return render(
                request,
                web,
                "error.html",
                status=link_status(link.error),
                who=None,
                message=selftest_links.TEXT[link.error][lang],
                detail="",
            )
        assert link.meeting is not None and link.participant is not None
        boot = _selftest_boot(web, token, link.meeting, link.participant, lang)
        return render(
            request,
            web,
            "selftest.html",
            who=None,
            meeting=link.meeting,
            participant=link.participant,
            boot=boot,
            servicedesk=web.servicedesk,
            servicedesk_note=web.servicedesk_note,
        )

    @r.get(
        "/selftest/{token}/status",
        response_model=MemberStatus,
        tags=["self-test"],
        summary="The member's own state, self-test and media path check (the member's link only)",
        responses=_LINK_ERRORS,
    )
    async def selftest_status(request: Request, token: str, member: Member) -> MemberStatus:
        return _member_status(web, *member, language(request))


def _unequal_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    """The member's own H17 report: she does not take part on equal terms."""
    Member = Annotated[tuple[Meeting, Participant], Depends(access.member_link)]

    @r.post(
        "/selftest/{token}/unequal",
        response_model=UnequalAccepted,
        status_code=201,
        tags=["self-test"],
        summary="The member tells the chair she does not take part on equal terms (H17; the member's link only)",
        responses={
            **_LINK_ERRORS,
            409: {"description": "she does not take part now"},
            429: {"description": "too many"},
        },
    )
    async def unequal(request: Request, token: str, body: UnequalIn, member: Member) -> Response:
        return _report_unequal(web, *member, body, language(request))


def _report_unequal(web: WebDeps, meeting: Meeting, p: Participant, body: UnequalIn, lang: str) -> Response:
    """Record the member's H17 report as an action for the chair: 429 when too many, 409 outside
    the meeting's time or when the engine refuses it, else 201 with what she is told."""
    now = web.now()
    wait = web.unequal_per_link.take(f"{meeting.id}\0{p.member_id}", now)
    if wait is not None:
        web.count("unequal_rate_limited")
        return JSONResponse(
            status_code=429,
            content={"detail": "too many reports: try again later", "message": i18n.t("mem.unequal_wait", lang)},
            headers={"Retry-After": ratelimit.retry_after(wait)},
        )
    if not meeting.start <= now <= meeting.end:  # H17 is about the meeting itself: before or after, say so
        web.count("unequal_outside_meeting")
        return JSONResponse(
            status_code=409,
            content={"detail": "the meeting is not in session", "message": i18n.t("mem.unequal_not_running", lang)},
        )
    note = " ".join(body.note.split())[:500] or None
    action = Action(
        meeting_id=meeting.id,
        kind=ActionKind.UNEQUAL_TERMS,
        at=now,
        by=f"member:{p.member_id}",
        member_id=p.member_id,
        note=note,
    )
    try:
        web.runtime.act(action)
    except ValueError as exc:
        web.count("unequal_refused")
        log.info("an H17 report from %s in %s refused: %s", p.member_id[:64], meeting.id[:64], exc)
        return JSONResponse(
            status_code=409, content={"detail": str(exc), "message": i18n.t("mem.unequal_refused", lang)}
        )
    web.count("unequal_reported")
    log.info("member %s in %s reports not taking part on equal terms (H17)", p.member_id[:64], meeting.id[:64])
    rec = member_notice.record_of(web.runtime.actions(meeting.id), p.member_id)
    body_out = UnequalAccepted(
        meeting_id=meeting.id, member_id=p.member_id, at=now, message=member_notice.told(rec, lang)
    )
    return JSONResponse(status_code=201, content=body_out.model_dump())


def _result_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    """The browser self-test's result for the link's member and meeting."""
    Member = Annotated[tuple[Meeting, Participant], Depends(access.member_link)]

    @r.post(
        "/selftest/{token}/result",
        response_model=SelftestAccepted,
        tags=["self-test"],
        summary="Record a browser self-test for the link's member and meeting (wire.SelftestResult, source 'browser')",
        responses=_LINK_ERRORS,
    )
    async def selftest_result(
        request: Request, token: str, body: BrowserSelftestIn, member: Member
    ) -> SelftestAccepted:
        meeting, p = member
        now = web.now()
        _rate_limit(web, meeting, p, now)
        msg = browser_result(body, meeting, p.device_id, now, language(request))
        outcome = web.runtime.ingest("selftest", msg)
        web.count("selftest_browser")
        return SelftestAccepted(
            overall=msg.overall, outcome=outcome, meeting_id=meeting.id, member_id=p.member_id, checks=len(msg.checks)
        )


def mount(app: FastAPI, web: WebDeps, access: Access) -> None:
    """The self-test routes and the companion page (``app.state.companion`` is its hub)."""
    app.include_router(router(web, access))
    companion.mount(app, web)
