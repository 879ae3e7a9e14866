"""Signing in: the pluggable :class:`Authenticator` (password first; the municipality's OIDC / Entra
ID can be added as another implementation without touching the pages), the throttle on password
guessing, and the safe redirects around the login page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request, Response

from collector.auth.principal import AuthCounters, Principal
from collector.auth.users import PASSWORD_HASHER, UserFile


class Authenticator(Protocol):
    """One way to sign in. The login page lists every configured authenticator.

    ``form`` authenticators (password) get the posted form in :meth:`complete`; redirect-based ones
    (OIDC: ``form = False``) return a redirect from :meth:`begin` and finish in :meth:`complete` on
    their callback. Either returns the signed-in :class:`Principal` or None.
    """

    id: str
    label: dict[str, str]
    form: bool

    async def begin(self, request: Request) -> Response | None: ...

    async def complete(self, request: Request) -> Principal | None: ...


class PasswordAuthenticator:
    def __init__(self, users: Callable[[], UserFile]) -> None:
        self._users = users
        self.id = "password"
        self.label = {"sv": "Användarnamn och lösenord", "en": "Username and password"}
        self.form = True

    async def begin(self, request: Request) -> Response | None:
        return None  # the login page shows the form

    async def complete(self, request: Request) -> Principal | None:
        form = await request.form()
        username = str(form.get("username") or "")[:128]
        password = str(form.get("password") or "")[:1024]
        return await check_off_loop(self.check, username, password)

    def check(self, username: str, password: str) -> Principal | None:
        user = self._users().users.get(username.casefold())
        if user is None:
            # same cost as a real check, so a wrong username is not faster than a wrong password
            _dummy_verify(password)
            return None
        try:
            PASSWORD_HASHER.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return Principal(username=user.username, role=user.role, bodies=frozenset(user.bodies), name=user.name)


_DUMMY_HASH = PASSWORD_HASHER.hash("not-a-real-password")
#: argon2 runs in worker threads, never on the event loop, at most this many at once (each takes
#: argon2's 64 MiB): a burst of failed sign-ins queues here and the pages and API stay quick (issue 12)
HASH_THREADS = 2
_hash_limiter: Any = None


async def check_off_loop(
    check: Callable[[str, str], Principal | None], username: str, password: str
) -> Principal | None:
    import anyio

    global _hash_limiter
    if _hash_limiter is None:
        _hash_limiter = anyio.CapacityLimiter(HASH_THREADS)
    return await anyio.to_thread.run_sync(check, username, password, limiter=_hash_limiter)


def _dummy_verify(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        PASSWORD_HASHER.verify(_DUMMY_HASH, password + "x")


class SignInThrottle:
    """Password guessing: a username tried from one address, and one address overall, are throttled
    separately, so a guesser elsewhere cannot lock the chair out in the middle of a meeting."""

    FAIL_MAX = 5  # per username and address
    FAIL_MAX_ADDRESS = 50  # per address, any usernames (password spraying)
    FAIL_WINDOW_S = 300.0
    MAX_KEYS = 10_000

    def __init__(self, clock: Callable[[], float], counters: AuthCounters) -> None:
        self._clock = clock
        self._counters = counters
        self._failures: dict[str, list[float]] = {}  # throttle key -> recent failed sign-ins

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.casefold()}|{address}", f"ip:{address}"

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._failures.get(key, ()) if now - t < self.FAIL_WINDOW_S]

    def locked(self, username: str, address: str) -> bool:
        """True while this username from this address, or this address, has failed too often."""
        now = self._clock()
        pair, ip = self.keys(username, address)
        return len(self._recent(pair, now)) >= self.FAIL_MAX or len(self._recent(ip, now)) >= self.FAIL_MAX_ADDRESS

    def note_failure(self, username: str, address: str) -> None:
        now = self._clock()
        self._counters.login_failed += 1
        for key, keep in zip(self.keys(username, address), (self.FAIL_MAX, self.FAIL_MAX_ADDRESS), strict=True):
            self._failures[key] = [*self._recent(key, now), now][-keep:]
        if len(self._failures) > self.MAX_KEYS:  # bounded: forget the oldest keys
            for key in list(self._failures)[: self.MAX_KEYS // 2]:
                del self._failures[key]


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
