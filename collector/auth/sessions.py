"""Browser sessions and CSRF.

Sessions are signed cookies (HMAC-SHA256 with ``{data_dir}/web-secret.key``, :mod:`collector.auth.signing`)
that carry their expiry, checked on the server, so a chair's tablet stays signed in across a collector
restart. Cookies are HttpOnly, SameSite=Strict, and Secure when the collector is served over TLS. A
state-changing request made with a session cookie must carry the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf_token``); Bearer-token requests carry no cookie and need none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request, Response

from collector.auth.principal import AuthCounters, Principal, Role
from collector.auth.signing import SignatureError, sign, unsign
from collector.auth.users import User, UserFile

log = logging.getLogger(__name__)

SESSION_COOKIE = "lv_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
DEFAULT_SESSION_S = 12 * 3600.0  # one long meeting day
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: signed-out sessions remembered before pruning the expired ones (bounded)
MAX_REVOKED = 1000


class Sessions:
    """Issues, reads and ends session cookies for one secret; checks CSRF tokens."""

    def __init__(
        self,
        *,
        secret: bytes,
        users: Callable[[], UserFile],
        counters: AuthCounters,
        clock: Callable[[], float],
        session_s: float,
        secure_cookies: bool,
    ) -> None:
        self.secret = secret
        self._users = users
        self._counters = counters
        self._clock = clock
        self.session_s = session_s
        self.secure_cookies = secure_cookies
        self._revoked: dict[str, float] = {}  # session id -> its expiry (signed-out sessions)

    def new_session(self, response: Response, who: Principal, request: Request | None = None) -> str:
        """Sign ``who`` in: a signed cookie, Secure when the collector serves TLS or the request came
        over https (uvicorn's --proxy-headers makes a TLS-terminating proxy count)."""
        secure = self.secure_cookies or (request is not None and request.url.scheme == "https")
        sid = secrets.token_urlsafe(16)
        payload = {
            "sid": sid,
            "u": who.username,
            "r": who.role.value,
            "b": sorted(who.bodies),
            "n": who.name,
            "a": who.method,
            "exp": self._clock() + self.session_s,
        }
        if who.method == "password":
            user = self._users().users.get(who.username.casefold())
            if user is not None:
                payload["pw"] = self.password_mark(user)
        response.set_cookie(
            SESSION_COOKIE,
            sign(self.secret, "session", payload),
            max_age=int(self.session_s),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        self._counters.login_ok += 1
        return sid

    def end_session(self, request: Request, response: Response) -> None:
        who = self.principal(request)
        if who is not None:
            self._revoked[who.session_id] = self._clock() + self.session_s
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure_cookies)

    def principal(self, request: Request) -> Principal | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            p = unsign(self.secret, "session", cookie)
            exp = float(p["exp"])
            sid = str(p["sid"])
            who = Principal(
                username=str(p["u"]),
                role=Role(p["r"]),
                bodies=frozenset(p.get("b", [])),
                name=str(p.get("n", "")),
                via="session",
                session_id=sid,
                method=str(p.get("a", "password")),
            )
        except (SignatureError, KeyError, ValueError, TypeError):
            self._counters.session_rejected += 1
            return None
        now = self._clock()
        if exp < now or sid in self._revoked:
            return None
        if who.method == "password":  # other methods' users live at their identity provider
            user = self._users().users.get(who.username.casefold())
            if user is None or user.role is not who.role:
                return None  # removed or changed since sign-in
            if "pw" in p and not hmac.compare_digest(str(p["pw"]), self.password_mark(user)):
                return None  # the password was changed since sign-in: every older session ends
            # the bodies are the users file's now, not the cookie's: removal from a body takes effect at
            # the next request (issue 12)
            who = dataclasses.replace(who, bodies=frozenset(user.bodies), name=user.name)
        self._prune(now)
        return who

    def password_mark(self, user: User) -> str:
        """A short MAC of the user's password hash, carried in the session: a new password (a new hash)
        ends every session signed in with the old one."""
        return hmac.new(self.secret, f"pw:{user.password_hash}".encode(), hashlib.sha256).hexdigest()[:32]

    def _prune(self, now: float) -> None:
        if len(self._revoked) > MAX_REVOKED:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}

    def csrf_token(self, who: Principal) -> str:
        return hmac.new(self.secret, f"csrf:{who.session_id}".encode(), hashlib.sha256).hexdigest()

    async def check_csrf(self, request: Request, who: Principal) -> None:
        if request.method in SAFE_METHODS or who.via != "session":
            return
        given = request.headers.get(CSRF_HEADER)
        if not given and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            given = str((await request.form()).get(CSRF_FIELD) or "")
        if not given or not hmac.compare_digest(given, self.csrf_token(who)):
            self._counters.csrf_rejected += 1
            log.info("CSRF token missing or wrong on %s %s by %s", request.method, request.url.path, who.username)
            raise HTTPException(403, "CSRF token missing or wrong")
