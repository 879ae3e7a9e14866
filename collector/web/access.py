"""Who may call each route: one dependency per kind of caller, each labelled with the roles it lets
through. Every route names one in its signature (``who: ... = Depends(access.it_api)``) or in its
``dependencies=``; ``tests/web/test_route_access.py`` reads the labels from every route and fails on a
route that declares none (a public route declares :data:`PUBLIC`).

The labels: ``public``; ``signed-in`` (any role); ``chair`` / ``secretary`` (any of their bodies);
``chair:own-body`` / ``secretary:own-body`` (the meeting in the path is one of their bodies'; IT sees
every body); ``member:own-link`` (the member whose personal link is in the path or the
``X-Selftest-Token`` header, H7); ``device:own`` (the device in the path or offer, signed in with its
broker credentials); ``it``.
"""

# No `from __future__ import annotations`: FastAPI reads these dependencies' signatures at runtime.
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasicCredentials

from collector.auth import (
    BEARER,
    DEVICE_BASIC,
    SELFTEST_HEADER,
    SESSION,
    SESSION_COOKIE,
    DeviceAuthMode,
    Principal,
    Role,
)
from collector.web import selftest_links
from collector.web.context import WebDeps
from likavillkor.roster import Meeting, Participant, Roster

log = logging.getLogger(__name__)

PUBLIC, SIGNED_IN, IT = "public", "signed-in", "it"
CHAIR, SECRETARY = "chair", "secretary"
CHAIR_OWN, SECRETARY_OWN = "chair:own-body", "secretary:own-body"
MEMBER_OWN, DEVICE_OWN = "member:own-link", "device:own"
STAFF_OWN = (CHAIR_OWN, SECRETARY_OWN, IT)
STAFF_ROLES = (Role.CHAIR, Role.SECRETARY, Role.IT)
#: the attribute a who-may-call dependency carries its labels in
ALLOWED = "__allowed__"
F = TypeVar("F", bound=Callable[..., Any])
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
Cookie = Annotated[str | None, Depends(SESSION)]
Basic = Annotated[HTTPBasicCredentials | None, Depends(DEVICE_BASIC)]


def declare(dependency: F, *allowed: str) -> F:
    """Label ``dependency`` with who it lets through."""
    setattr(dependency, ALLOWED, tuple(allowed))
    return dependency


def allowed_of(dependency: object) -> tuple[str, ...] | None:
    return getattr(dependency, ALLOWED, None)


async def _public() -> None:
    """Anyone: the route holds nothing personal (static files, sign-in, the speed test's bytes)."""


public = declare(_public, PUBLIC)


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """The member a personal link is for, or why it is refused."""

    meeting: Meeting | None = None
    participant: Participant | None = None
    error: selftest_links.LinkError | None = None


def link_status(error: selftest_links.LinkError) -> int:
    return 410 if error is selftest_links.LinkError.EXPIRED else 403


class Access:
    """The who-may-call dependencies of one app (they share its Auth and counters)."""

    def __init__(self, web: WebDeps) -> None:
        auth = web.auth
        by_meeting = auth.meeting_path_body
        self.web = web
        self.public = public
        self.signed_in = declare(auth.require_roles(html=True), SIGNED_IN)
        self.staff_page = declare(auth.require_roles(*STAFF_ROLES, html=True), CHAIR, SECRETARY, IT)
        self.meeting_page = declare(auth.require_roles(*STAFF_ROLES, body_of=by_meeting, html=True), *STAFF_OWN)
        self.meeting_api = declare(auth.require_roles(*STAFF_ROLES, body_of=by_meeting), *STAFF_OWN)
        self.it_page = declare(auth.require_roles(Role.IT, html=True), IT)
        self.it_api = declare(auth.require_roles(Role.IT), IT)
        self.device_own = declare(_device_or_it(web), DEVICE_OWN, IT)
        self.member_link = declare(_member_link(web), MEMBER_OWN)
        self.member_link_page = declare(_member_link_page(web), MEMBER_OWN)
        self.mediapath_offer = declare(_mediapath_offer(web), MEMBER_OWN, DEVICE_OWN, CHAIR_OWN, SECRETARY_OWN, IT)
        self.speedtest = declare(_speedtest_trusted(web), PUBLIC)
        auth.selftest_principal = self._link_principal

    def _link_principal(self, token: str) -> Principal:
        meeting, p = resolve_or_refuse(self.web, token)
        return Principal(
            username=f"member:{p.member_id}",
            role=Role.MEMBER,
            name=p.name,
            via="selftest",
            meeting_id=meeting.id,
            member_id=p.member_id,
        )


def resolve_or_refuse(web: WebDeps, token: str) -> tuple[Meeting, Participant]:
    """The meeting and member of a personal link; 403 (forged) or 410 (expired), counted and logged."""
    try:
        return web.resolve_link(token)
    except selftest_links.InvalidLink as exc:
        web.count(f"selftest_link_{exc.reason.value}")
        log.info("refused self-test link: %s", exc.reason.value)
        raise HTTPException(link_status(exc.reason), exc.reason.value) from None


def _member_link(web: WebDeps) -> Callable[[str], Awaitable[tuple[Meeting, Participant]]]:
    async def member_link(token: str) -> tuple[Meeting, Participant]:
        """The member whose personal link ``token`` is (403 forged, 410 expired)."""
        return resolve_or_refuse(web, token)

    return member_link


def _member_link_page(web: WebDeps) -> Callable[[str], Awaitable[LinkCheck]]:
    async def member_link_page(token: str) -> LinkCheck:
        """As ``member_link``, but a refused link is for the page to explain (an error page)."""
        try:
            meeting, p = web.resolve_link(token)
        except selftest_links.InvalidLink as exc:
            web.count(f"selftest_link_{exc.reason.value}")
            return LinkCheck(error=exc.reason)
        return LinkCheck(meeting=meeting, participant=p)

    return member_link_page


def _device_or_it(web: WebDeps) -> Callable[..., Awaitable[Principal]]:
    """The device named in the path (``{device_id}``) itself, signed in with its broker credentials
    (:meth:`Auth.require_device`), or IT."""

    async def path_device(request: Request) -> str | None:
        return str(request.path_params.get("device_id", "")) or None

    device = web.auth.require_device_or_it(path_device)

    async def dependency(
        request: Request, _bearer: Bearer = None, _cookie: Cookie = None, _basic: Basic = None
    ) -> Principal:
        return await device(request)

    return dependency


def _speedtest_trusted(web: WebDeps) -> Callable[..., Awaitable[bool]]:
    """Anyone may run the speed test (random bytes, bounded by the speed-test server); a member with a
    valid self-test link, a device with its login, or signed-in staff is "trusted": the speed test keeps
    slots for them that anonymous clients cannot take (issue 12)."""
    auth = web.auth

    async def trusted(request: Request) -> bool:
        link = request.headers.get(SELFTEST_HEADER)
        header = request.headers.get("authorization", "")
        try:
            if link:
                web.resolve_link(link)
                return True
            if header.lower().startswith("basic ") and auth.device_auth is DeviceAuthMode.PASSWORDS:
                return auth.device_principal(request) is not None
            if header or request.cookies.get(SESSION_COOKIE):
                return await auth.principal(request) is not None
        except (selftest_links.InvalidLink, ValueError, HTTPException):
            return False
        return False

    return trusted


def _mediapath_offer(web: WebDeps) -> Callable[..., Awaitable[Principal | None]]:
    """A media path offer (POST) made

    * with a member's self-test link must be for that member's device and meeting;
    * signed in (session or API token) needs staff, and a chair or secretary only for a device of a
      meeting of their own bodies (:func:`staff_may_offer`);
    * otherwise it is an agent's: the device signed in with its broker credentials, offering for
      itself only (:meth:`Auth.require_device`; loopback/none modes per ``[http] device_auth``).
    """
    auth = web.auth
    staff = auth.require_roles(*STAFF_ROLES)

    async def offer_device(request: Request) -> str | None:
        device_id = (await offer_of(request)).get("device_id")
        return device_id if isinstance(device_id, str) and device_id else None

    device = auth.require_device_or_it(offer_device)

    async def dependency(
        request: Request, _bearer: Bearer = None, _cookie: Cookie = None, _basic: Basic = None
    ) -> Principal | None:
        link = request.headers.get(SELFTEST_HEADER)
        if link:
            await _link_may_offer(web, request, link)
            return None
        if request.headers.get("authorization", "").lower().startswith("bearer ") or request.cookies.get(
            SESSION_COOKIE
        ):
            who = await staff(request)
            if who.role is not Role.IT and not staff_may_offer(who, await offer_of(request), web.runtime.roster()):
                web.count("mediapath_offer_refused")
                raise HTTPException(
                    403,
                    "a chair or secretary may check only a device of a meeting of their "
                    "own bodies (name its meeting_id)",
                )
            return who
        try:
            return await device(request)
        except HTTPException as exc:
            if exc.status_code == 403:
                web.count("mediapath_offer_refused")
            raise

    return dependency


async def _link_may_offer(web: WebDeps, request: Request, link: str) -> None:
    try:
        meeting, p = web.resolve_link(link)
    except selftest_links.InvalidLink as exc:  # (not logged: the media path offer never was)
        web.count(f"selftest_link_{exc.reason.value}")
        raise HTTPException(link_status(exc.reason), exc.reason.value) from None
    offer = await offer_of(request)
    if offer.get("device_id") != p.device_id or offer.get("meeting_id") not in (None, meeting.id):
        web.count("mediapath_offer_refused")
        raise HTTPException(403, "this link is for another device or meeting")


def staff_may_offer(who: Principal, offer: dict[str, Any], roster: Roster) -> bool:
    """A chair's or secretary's media path offer must name a meeting of their own bodies and a device
    of that meeting: its failed result turns the member ``failing`` and may adjourn the meeting (H15),
    so a chair of one body must never reach another body's meeting (issue 12)."""
    meeting_id, device_id = offer.get("meeting_id"), offer.get("device_id")
    meeting = roster.meetings.get(meeting_id) if isinstance(meeting_id, str) else None
    if meeting is None or not who.may_see_body(meeting.body):
        return False
    return any(p.device_id == device_id for p in meeting.participants)


async def offer_of(request: Request) -> dict[str, Any]:
    """The offer's JSON object, {} when it is not one (the offer route answers 400/413 itself).
    The body is read at most to the offer's limit (a chunked upload cannot exhaust memory) and kept on
    the request, so the route reads the same bytes again."""
    from collector.peers.media import MAX_SDP_BYTES as limit

    body = getattr(request, "_body", None)
    if body is None:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        body = request._body = b"".join(chunks)  # Starlette's own cache: request.stream() replays it
    try:
        offer = json.loads(body[: 70 * 1024]) if body else {}
    except ValueError:
        offer = {}
    return offer if isinstance(offer, dict) else {}
