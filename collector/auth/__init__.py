"""Who may see what: sign-in, sessions, CSRF, API tokens, devices and role checks for every page and
API route. Nothing that names a member, a state or an incident is visible without signing in.

The room, one concern per module:

* :mod:`~collector.auth.principal`: the roles and the :class:`Principal` every check returns;
* :mod:`~collector.auth.signing`: the web secret and HMAC-signed tokens (sessions, self-test links);
* :mod:`~collector.auth.users` / :mod:`~collector.auth.users_cli`: the users file and its CLI;
* :mod:`~collector.auth.tokens`: Bearer API tokens, the host's local token, a client's headers;
* :mod:`~collector.auth.sessions`: session cookies and CSRF;
* :mod:`~collector.auth.signin`: pluggable authenticators (password; OIDC later), the guessing throttle;
* :mod:`~collector.auth.devices`: agents with HTTP Basic and their broker credentials;
* :mod:`~collector.auth.broker` (+ ``broker_cli``, ``broker_passwords``, ``broker_files``): the Mosquitto users, ACL and
  each device's credentials (``broker-credentials``);
* :mod:`~collector.auth.probekeys`: per-device keys for authenticated STAMP probes (issue 11).

This module holds :class:`Auth`, the facade the web layer uses. Routes learn the caller from the
dependency they declare: :meth:`Auth.require_roles` and :meth:`Auth.require_device_or_it` return the
:class:`Principal`; nothing is passed through ``request.state``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer

from collector.auth.devices import (
    DEVICE_NOT_SIGNED_IN,
    DEVICE_REALM,
    DeviceAuthMode,
    DeviceGate,
    DevicePasswords,
    is_loopback,
    parse_basic,
    resolve_device_auth,
)
from collector.auth.principal import AuthCounters, Principal, Role
from collector.auth.sessions import DEFAULT_SESSION_S, SESSION_COOKIE, Sessions
from collector.auth.signin import Authenticator, PasswordAuthenticator, SignInThrottle, login_url, safe_next
from collector.auth.signing import SignatureError, load_secret, sign, unsign
from collector.auth.tokens import LOCAL_TOKEN_FILE, TOKEN_ENV, BearerTokens, client_headers, local_headers, local_token
from collector.auth.users import (
    User,
    UserFile,
    UserFileError,
    UsersCache,
    add_api_token,
    add_user,
    hash_token,
    read_users,
    revoke_tokens,
    users_file_owner,
    write_users,
)
from collector.auth.users_cli import main

__all__ = [
    "BEARER",
    "DEFAULT_SESSION_S",
    "DEVICE_BASIC",
    "DEVICE_NOT_SIGNED_IN",
    "DEVICE_REALM",
    "LOCAL_TOKEN_FILE",
    "NOT_SIGNED_IN",
    "SELFTEST_HEADER",
    "SESSION",
    "SESSION_COOKIE",
    "TOKEN_ENV",
    "Auth",
    "AuthCounters",
    "Authenticator",
    "DeviceAuthMode",
    "DevicePasswords",
    "PasswordAuthenticator",
    "Principal",
    "Role",
    "SignatureError",
    "User",
    "UserFile",
    "UserFileError",
    "add_api_token",
    "add_user",
    "allowed_roles",
    "client_headers",
    "hash_token",
    "is_loopback",
    "load_secret",
    "local_headers",
    "local_token",
    "login_url",
    "main",
    "parse_basic",
    "read_users",
    "resolve_device_auth",
    "revoke_tokens",
    "safe_next",
    "sign",
    "unsign",
    "users_file_owner",
    "write_users",
]

SELFTEST_HEADER = "X-Selftest-Token"
NOT_SIGNED_IN = (
    "sign in first: a browser at /login; a program with 'Authorization: Bearer <API token>' "
    "(python -m collector.auth add-token; on the collector host collector.auth.local_headers(data_dir) "
    "reads {data_dir}/api-token.local)"
)
#: security schemes, so /openapi.json says how to authenticate (checking is done in Auth.principal)
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="API token for automation: `python -m collector.auth add-token NAME`",
)
DEVICE_BASIC = HTTPBasic(
    auto_error=False,
    scheme_name="deviceBasic",
    realm="likavillkor-device",
    description="a device (agent): HTTP Basic device_id:password, its broker credentials; only its own device routes",
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="browser session after /login; state-changing requests also need X-CSRF-Token",
)

Dependency = Callable[..., Awaitable[Principal]]
#: the attribute on an access dependency that names the roles it admits (see :func:`allowed_roles`)
_ROLES_ATTR = "allowed_roles"


def allowed_roles(dependency: object) -> frozenset[Role] | None:
    """The roles an access dependency made by :class:`Auth` admits; None for any other callable.
    The web layer lists them per route (issue 13: every route declares who may call it)."""
    roles = getattr(dependency, _ROLES_ATTR, None)
    return roles if isinstance(roles, frozenset) else None


def _declare(dependency: Dependency, roles: frozenset[Role]) -> Dependency:
    setattr(dependency, _ROLES_ATTR, roles)
    return dependency


class Auth:
    """Sessions, CSRF, API tokens, devices and role checks, bound to one secret and one users file.

    ``meeting_body(meeting_id) -> body | None`` lets :meth:`require_roles` check a chair's or
    secretary's bodies against the meeting a route names.
    """

    FAIL_MAX = SignInThrottle.FAIL_MAX
    FAIL_MAX_ADDRESS = SignInThrottle.FAIL_MAX_ADDRESS
    FAIL_WINDOW_S = SignInThrottle.FAIL_WINDOW_S
    DEVICE_LOG_EVERY_S = DeviceGate.LOG_EVERY_S

    def __init__(
        self,
        *,
        secret: bytes,
        users_path: Path,
        meeting_body: Callable[[str], str | None],
        session_s: float = DEFAULT_SESSION_S,
        secure_cookies: bool = False,
        clock: Callable[[], float] = time.time,
        authenticators: Sequence[Authenticator] | None = None,
        local_token: str | None = None,
        device_auth: DeviceAuthMode = DeviceAuthMode.LOOPBACK,
        device_passwords: DevicePasswords | None = None,
    ) -> None:
        self.counters = AuthCounters()
        self.devices = DeviceGate(device_auth, device_passwords, counters=self.counters, clock=clock)
        self.device_auth = device_auth
        self.device_passwords = device_passwords
        self.secret = secret
        self.users_path = users_path
        self.meeting_body = meeting_body
        self.session_s = session_s
        self.secure_cookies = secure_cookies
        self.clock = clock
        self._users = UsersCache(users_path)
        self.sessions = Sessions(
            secret=secret,
            users=self.users,
            counters=self.counters,
            clock=clock,
            session_s=session_s,
            secure_cookies=secure_cookies,
        )
        self.tokens = BearerTokens(self.users, self.counters, local_token)
        self.throttle = SignInThrottle(clock, self.counters)
        self.authenticators: list[Authenticator] = list(authenticators or [PasswordAuthenticator(self.users)])
        #: set by the pages: resolves a self-test link into a member principal (or raises HTTPException)
        self.selftest_principal: Callable[[str], Principal] | None = None

    # -- password guessing (signin.SignInThrottle) --
    throttle_keys = staticmethod(SignInThrottle.keys)

    def locked(self, username: str, address: str) -> bool:
        return self.throttle.locked(username, address)

    def note_failure(self, username: str, address: str) -> None:
        self.throttle.note_failure(username, address)

    def users(self) -> UserFile:
        """The users file, re-read when it changes so :func:`add_user` takes effect without a restart."""
        return self._users.get()

    # -- sessions and CSRF (sessions.Sessions) --
    def new_session(self, response: Response, who: Principal, request: Request | None = None) -> str:
        return self.sessions.new_session(response, who, request)

    def end_session(self, request: Request, response: Response) -> None:
        self.sessions.end_session(request, response)

    def session_principal(self, request: Request) -> Principal | None:
        return self.sessions.principal(request)

    def password_mark(self, user: User) -> str:
        return self.sessions.password_mark(user)

    def csrf_token(self, who: Principal) -> str:
        return self.sessions.csrf_token(who)

    async def check_csrf(self, request: Request, who: Principal) -> None:
        await self.sessions.check_csrf(request, who)

    # -- API tokens and devices --
    def token_principal(self, request: Request) -> Principal | None:
        return self.tokens.principal(request)

    def device_principal(self, request: Request) -> Principal | None:
        """The device calling (:class:`~collector.auth.devices.DeviceGate`); ValueError for wrong or
        malformed Basic credentials."""
        return self.devices.principal(request)

    # -- who is asking --
    async def principal(self, request: Request) -> Principal | None:
        """The caller, or None. A bad Bearer token is a 401 (never silently anonymous). Usable as a
        dependency itself (``Depends(auth.principal)``) where anonymous callers are allowed."""
        who = self.token_principal(request)
        if who is not None:
            return who
        link = request.headers.get(SELFTEST_HEADER)
        if link and self.selftest_principal is not None:
            return self.selftest_principal(link)
        return self.session_principal(request)

    def meeting_path_body(self, request: Request) -> str | None:
        """``body_of`` for routes with a ``{meeting_id}`` path parameter."""
        meeting_id = request.path_params.get("meeting_id")
        return self.meeting_body(str(meeting_id)) if meeting_id is not None else None

    # -- access dependencies: they RETURN the principal --
    def require_roles(
        self, *roles: Role | str, body_of: Callable[[Request], str | None] | None = None, html: bool = False
    ) -> Dependency:
        """A FastAPI dependency returning the caller, who must have one of ``roles`` (none: any
        signed-in role); with ``body_of`` (the body a request is about, e.g. :meth:`meeting_path_body`) a
        chair or secretary must sit on that body, a member's link must be for that meeting.

        Not signed in: 401 (``html=True``: a redirect to the login page). Wrong role: 403; another
        body's meeting: 404, as for one that does not exist. State-changing requests with a session
        cookie need the CSRF token.
        """
        wanted = frozenset(Role(r) for r in roles) or frozenset(Role)

        async def dependency(
            request: Request,
            _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
            _cookie: Annotated[str | None, Depends(SESSION)] = None,
        ) -> Principal:
            return await self._authorize(request, wanted, body_of, html)

        return _declare(dependency, wanted)

    def require_meeting(self, *roles: Role | str, html: bool = False) -> Dependency:
        """:meth:`require_roles` for a route with a ``{meeting_id}`` path parameter: a chair or
        secretary only of that meeting's body, a member only with the link for that meeting, IT any."""
        return self.require_roles(*roles, body_of=self.meeting_path_body, html=html)

    async def _authorize(
        self, request: Request, wanted: frozenset[Role], body_of: Callable[[Request], str | None] | None, html: bool
    ) -> Principal:
        who = await self.principal(request)
        if who is None:
            if html:
                raise HTTPException(303, "sign in", headers={"Location": login_url(request)})
            raise HTTPException(401, NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
        if who.role not in wanted:
            raise HTTPException(403, "not allowed for your role")
        if body_of is not None and who.role is not Role.IT:
            self._check_body(request, who, body_of(request))
        await self.check_csrf(request, who)
        return who

    @staticmethod
    def _check_body(request: Request, who: Principal, body: str | None) -> None:
        if body is None:
            raise HTTPException(404, "no such meeting")
        if who.role is Role.MEMBER:
            if who.meeting_id != request.path_params.get("meeting_id"):
                raise HTTPException(403, "this link is for another meeting")
        elif not who.may_see_body(body):
            # the same answer as for a meeting that does not exist: ids cannot be probed (issue 12)
            raise HTTPException(404, "no such meeting")

    def require_device_or_it(self, device_id_of: Callable[[Request], Awaitable[str | None]]) -> Dependency:
        """A dependency returning the caller of a device's own route: the device itself
        (:meth:`device_principal`), or IT with a token or session. ``device_id_of`` names the device
        the request is about (None: the request names none, so 403). No credentials: 401 with a Basic
        challenge; another device's route: 403."""
        it = self.require_roles(Role.IT)

        async def dependency(request: Request) -> Principal:
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer ") or (SESSION_COOKIE in request.cookies and not header):
                return await it(request)
            try:
                who = self.device_principal(request)
            except ValueError as exc:
                raise HTTPException(
                    401, f"device credentials refused: {exc}", headers={"WWW-Authenticate": DEVICE_REALM}
                ) from None
            if who is None:
                raise HTTPException(
                    401, DEVICE_NOT_SIGNED_IN[self.device_auth], headers={"WWW-Authenticate": DEVICE_REALM}
                )
            wanted = await device_id_of(request)
            if wanted is None or not who.may_act_for_device(wanted):
                raise HTTPException(403, "a device may only use its own device routes")
            return who

        return _declare(dependency, frozenset({Role.DEVICE, Role.IT}))
