"""Who may see what: sign-in, sessions, CSRF, API tokens and role checks for every page and API route.

Nothing that names a member, a state or an incident is visible without signing in.

Roles
  * ``chair`` / ``secretary``: the meetings of their own bodies (``bodies = [...]``), the chair's
    view, its actions (H5, H14, H15, H16, H18) and the members' self-test links (H7).
  * ``it``: everything, including incidents, reports and devices.
  * ``member``: only their own self-test, reached through the personal link (``/selftest/{token}``,
    see :mod:`collector.web.selftest_links`), never through a password.
  * ``device``: a member's agent, with the SAME credentials it uses for the broker: HTTP Basic
    ``device_id:password`` checked against the Mosquitto password file that
    :mod:`collector.brokerauth` writes (``[http] device_passwords``). Only its own device routes
    (its meetings, its media path offer); see :class:`DeviceAuthMode` for a broker without passwords.

Users and API tokens live in a TOML file (``{data_dir}/users.toml``), written by :func:`add_user` and
:func:`add_api_token` (also ``python -m collector.auth add-user ...``). Passwords are argon2id hashes;
API tokens are random 256-bit strings stored only as SHA-256 (a hash that is fast on purpose: the
token has full entropy, and it is checked on every automated request).

Sessions are signed cookies (HMAC-SHA256 with ``{data_dir}/web-secret.key``) that carry their expiry,
checked on the server, so a chair's tablet stays signed in across a collector restart. Cookies are
HttpOnly, SameSite=Strict, and Secure when the collector is served over TLS. A state-changing request
made with a session cookie must carry the session's CSRF token (header ``X-CSRF-Token`` or form field
``csrf_token``); Bearer-token requests carry no cookie and need none.

Sign-in is pluggable: an :class:`Authenticator` (password first; the municipality's OIDC / Entra ID
can be added as another implementation without touching the pages).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import threading
import time
import tomllib
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer

log = logging.getLogger(__name__)

SESSION_COOKIE = "lv_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SELFTEST_HEADER = "X-Selftest-Token"
DEFAULT_SESSION_S = 12 * 3600.0  # one long meeting day
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_SIGNED_IN = ("sign in first: a browser at /login; a program with 'Authorization: Bearer <API token>' "
                 "(python -m collector.auth add-token; on the collector host collector.auth.local_headers(data_dir) "
                 "reads {data_dir}/api-token.local)")
DEVICE_NOT_SIGNED_IN = {
    "passwords": "a device signs in with HTTP Basic device_id:password, its broker credentials "
                 "(the agent's [mqtt] username/password)",
    "loopback": "device routes answer only this host: the broker has no device passwords "
                "(set [http] device_passwords to the broker's password file)",
    "none": "device routes are open",
}
#: security schemes, so /openapi.json says how to authenticate (checking is done in Auth.principal)
BEARER = HTTPBearer(auto_error=False, scheme_name="apiToken",
                    description="API token for automation: `python -m collector.auth add-token NAME`")
DEVICE_BASIC = HTTPBasic(auto_error=False, scheme_name="deviceBasic", realm="likavillkor-device",
                         description="a device (agent): HTTP Basic device_id:password, its broker credentials; "
                                     "only its own device routes")
SESSION = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                       description="browser session after /login; state-changing requests also need X-CSRF-Token")


class Role(StrEnum):
    CHAIR = "chair"
    SECRETARY = "secretary"
    IT = "it"
    MEMBER = "member"
    DEVICE = "device"


def normalize_body(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. ``via`` is ``session``, ``token`` (Bearer) or ``selftest`` (a member's link)."""

    username: str
    role: Role
    bodies: frozenset[str] = frozenset()
    name: str = ""
    via: str = "session"
    session_id: str = ""
    #: which Authenticator signed the user in ("password", "oidc", ...)
    method: str = "password"
    #: member principals only: the one meeting and member the self-test link is for
    meeting_id: str | None = None
    member_id: str | None = None
    #: device principals only: the device it signed in as; None = any device (loopback/none mode)
    device_id: str | None = None

    def may_act_for_device(self, device_id: str) -> bool:
        """IT may act for any device; a device only for itself (or any, when device auth is off)."""
        if self.role is Role.IT:
            return True
        return self.role is Role.DEVICE and (self.device_id is None or self.device_id == device_id)

    def may_see_body(self, body: str) -> bool:
        if self.role is Role.IT:
            return True
        if self.role in (Role.CHAIR, Role.SECRETARY):
            return normalize_body(body) in self.bodies or "*" in self.bodies
        return False


# --- the secret ---------------------------------------------------------------------------------

def load_secret(path: Path) -> bytes:
    """The HMAC key for sessions, CSRF and self-test links; created (0600) on first use."""
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, purpose: str, payload: dict[str, Any]) -> str:
    """``base64url(json).base64url(hmac)``; ``purpose`` separates keys (session vs self-test link)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret, f"{purpose}:{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


class SignatureError(ValueError):
    """A token that was forged, tampered with or is not a token at all. ``reason`` names which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unsign(secret: bytes, purpose: str, token: str, *, max_len: int = 2048) -> dict[str, Any]:
    if not token or len(token) > max_len or token.count(".") != 1:
        raise SignatureError("malformed")
    body, mac = token.split(".")
    try:
        given = _unb64(mac)
    except (ValueError, TypeError):
        raise SignatureError("malformed") from None
    want = hmac.new(secret, f"{purpose}:{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(given, want):
        raise SignatureError("bad_signature")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise SignatureError("malformed") from None
    if not isinstance(payload, dict):
        raise SignatureError("malformed")
    return payload


# --- users and API tokens ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    password_hash: str
    bodies: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    role: Role
    token_sha256: str
    bodies: tuple[str, ...] = ()


@dataclass(slots=True)
class UserFile:
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, ApiToken] = field(default_factory=dict)  # sha256 -> token


_HASHER = PasswordHasher()
_FILE_LOCK = threading.Lock()


class UserFileError(ValueError):
    pass


def _toml_str(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes
    return json.dumps(value, ensure_ascii=False)


def _file_role(value: object) -> Role:
    """A role a users file may grant: never ``device`` (devices sign in with their broker credentials)."""
    role = Role(str(value))
    if role is Role.DEVICE:
        raise ValueError("role 'device' cannot be given in the users file")
    return role


def read_users(path: Path) -> UserFile:
    """Parse the users file; a missing file is an empty one. Bad entries raise with the entry named."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserFile()
    except tomllib.TOMLDecodeError as exc:
        raise UserFileError(f"{path}: not valid TOML: {exc}") from None
    out = UserFile()
    for i, u in enumerate(raw.get("user", [])):
        try:
            user = User(username=str(u["username"]), role=_file_role(u["role"]), password_hash=str(u["password_hash"]),
                        bodies=tuple(normalize_body(b) for b in u.get("bodies", [])), name=str(u.get("name", "")))
        except (KeyError, ValueError) as exc:
            raise UserFileError(f"{path}: [[user]] number {i + 1}: {exc}") from None
        out.users[user.username.casefold()] = user
    for i, t in enumerate(raw.get("token", [])):
        try:
            tok = ApiToken(name=str(t["name"]), role=_file_role(t["role"]), token_sha256=str(t["token_sha256"]),
                           bodies=tuple(normalize_body(b) for b in t.get("bodies", [])))
        except (KeyError, ValueError) as exc:
            raise UserFileError(f"{path}: [[token]] number {i + 1}: {exc}") from None
        out.tokens[tok.token_sha256] = tok
    return out


def write_users(path: Path, data: UserFile) -> None:
    lines = ["# Likavillkor users and API tokens. Edit with `python -m collector.auth`.", ""]
    for u in data.users.values():
        lines += ["[[user]]", f"username = {_toml_str(u.username)}", f"name = {_toml_str(u.name)}",
                  f"role = {_toml_str(u.role.value)}",
                  f"bodies = [{', '.join(_toml_str(b) for b in u.bodies)}]",
                  f"password_hash = {_toml_str(u.password_hash)}", ""]
    for t in data.tokens.values():
        lines += ["[[token]]", f"name = {_toml_str(t.name)}", f"role = {_toml_str(t.role.value)}",
                  f"bodies = [{', '.join(_toml_str(b) for b in t.bodies)}]",
                  f"token_sha256 = {_toml_str(t.token_sha256)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, USERS_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), USERS_FILE_MODE)
        owner = users_file_owner(path, euid=os.geteuid())
        if owner is not None:
            os.fchown(f.fileno(), *owner)
        f.write("\n".join(lines))
    os.replace(tmp, path)


#: owner read-write only: the file belongs to the collector's service user (see users_file_owner; a
#: 500 on every signed-in request otherwise), nobody else reads it (argon2id hashes, token hashes)
USERS_FILE_MODE = 0o600


def users_file_owner(path: Path, *, euid: int) -> tuple[int, int] | None:
    """Whom a rewritten users file belongs to: the file's present owner and group, or for a new file
    the data directory's (the service user's, ``StateDirectory=``). None when not root (a plain user
    cannot give files away, and then the file is the caller's own anyway)."""
    if euid != 0:
        return None
    for candidate in (path, path.parent):
        try:
            st = candidate.stat()
        except OSError:
            continue
        return st.st_uid, st.st_gid
    return None


def remove_user(path: str | Path, username: str) -> bool:
    """Delete a user; False when there is none by that name. A session cookie already issued stays
    valid until it expires (sessions are signed, not stored): to end it at once, delete
    ``web-secret.key`` and restart the collector (signs everyone out; docs/operations.md)."""
    p = Path(path)
    with _FILE_LOCK:
        data = read_users(p)
        if data.users.pop(username.casefold(), None) is None:
            return False
        write_users(p, data)
    return True


def revoke_tokens(path: str | Path, name: str) -> int:
    """Delete every API token named ``name`` (or whose SHA-256 starts with ``name``, 12+ hex digits);
    returns how many."""
    p = Path(path)
    with _FILE_LOCK:
        data = read_users(p)
        doomed = [h for h, t in data.tokens.items()
                  if t.name == name or (len(name) >= 12 and h.startswith(name.lower()))]
        for h in doomed:
            del data.tokens[h]
        if doomed:
            write_users(p, data)
    return len(doomed)


def list_lines(data: UserFile) -> list[str]:
    """One line per user and token, no secrets (the token's SHA-256 prefix names it)."""
    out = [f"user  {u.username}\t{u.role.value}\t{','.join(u.bodies) or '-'}\t{u.name}"
           for u in sorted(data.users.values(), key=lambda u: u.username.casefold())]
    out += [f"token {t.name}\t{t.role.value}\t{','.join(t.bodies) or '-'}\tsha256:{t.token_sha256[:12]}"
            for t in sorted(data.tokens.values(), key=lambda t: (t.name, t.token_sha256))]
    return out


def add_user(path: str | Path, username: str, password: str, role: Role | str, *,
             bodies: Iterable[str] = (), name: str = "") -> User:
    """Add or replace a user (argon2id hash). Members sign in through their link, not here."""
    role = Role(role)
    if role is Role.MEMBER:
        raise UserFileError("members use their personal self-test link (H7), not a password")
    if role is Role.DEVICE:
        raise UserFileError("devices use their broker credentials (broker-credentials), not a user")
    if not username or len(username) > 128 or any(c.isspace() for c in username):
        raise UserFileError("username must be 1-128 characters without spaces")
    if len(password) < 10:
        raise UserFileError("password must be at least 10 characters")
    body_list = tuple(normalize_body(b) for b in bodies)
    if role in (Role.CHAIR, Role.SECRETARY) and not body_list:
        raise UserFileError("a chair or secretary needs at least one body (bodies = [...])")
    user = User(username=username, role=role, password_hash=_HASHER.hash(password), bodies=body_list, name=name)
    p = Path(path)
    with _FILE_LOCK:
        data = read_users(p)
        data.users[username.casefold()] = user
        write_users(p, data)
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_api_token(path: str | Path, name: str, role: Role | str = Role.IT, *, bodies: Iterable[str] = ()) -> str:
    """Create an API token for automation; returns it ONCE (only its SHA-256 is stored)."""
    role = Role(role)
    if role in (Role.MEMBER, Role.DEVICE):
        raise UserFileError("API tokens are for chair, secretary or it")
    token = "lvt_" + secrets.token_urlsafe(32)
    p = Path(path)
    with _FILE_LOCK:
        data = read_users(p)
        data.tokens[hash_token(token)] = ApiToken(name=name, role=role, token_sha256=hash_token(token),
                                                  bodies=tuple(normalize_body(b) for b in bodies))
        write_users(p, data)
    return token


LOCAL_TOKEN_FILE = "api-token.local"


def local_token(data_dir: Path) -> str:
    """The collector host's own API token (role it), created on first use in ``{data_dir}`` with mode
    0600: for the CLI and scripts on the collector host, who can read the database anyway. Anyone who
    can read this file is IT; keep ``data_dir`` private."""
    path = Path(data_dir) / LOCAL_TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "lvl_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token


def local_headers(data_dir: str | Path) -> dict[str, str]:
    """``{"Authorization": "Bearer <the host's local token>"}`` for tests and tools that run beside the
    collector (the token is made when missing)."""
    return {"Authorization": f"Bearer {local_token(Path(data_dir))}"}


TOKEN_ENV = "LIKAVILLKOR_API_TOKEN"


def client_headers(data_dir: str | Path | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for a client of the collector's API (the CLI): ``$LIKAVILLKOR_API_TOKEN`` when set, else
    the host's local token when it can be read, else none (the API will answer 401)."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token and data_dir is not None:
        try:
            token = (Path(data_dir) / LOCAL_TOKEN_FILE).read_text(encoding="ascii").strip()
        except OSError:
            token = ""
    return {"Authorization": f"Bearer {token}"} if token else {}


# --- sign-in --------------------------------------------------------------------------------------

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
            _HASHER.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return Principal(username=user.username, role=user.role, bodies=frozenset(user.bodies), name=user.name)


_DUMMY_HASH = _HASHER.hash("not-a-real-password")
#: argon2 runs in worker threads, never on the event loop, at most this many at once (each takes
#: argon2's 64 MiB): a burst of failed sign-ins queues here and the pages and API stay quick (issue 12)
HASH_THREADS = 2
_hash_limiter: Any = None


async def check_off_loop(check: Callable[[str, str], Principal | None], username: str,
                         password: str) -> Principal | None:
    import anyio

    global _hash_limiter
    if _hash_limiter is None:
        _hash_limiter = anyio.CapacityLimiter(HASH_THREADS)
    return await anyio.to_thread.run_sync(check, username, password, limiter=_hash_limiter)


def _dummy_verify(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _HASHER.verify(_DUMMY_HASH, password + "x")


# --- devices: HTTP Basic with the broker credentials ----------------------------------------------

class DeviceAuthMode(StrEnum):
    """How an agent proves which device it is on HTTP (``[http] device_auth``).

    * ``passwords``: HTTP Basic ``device_id:password``, the device's broker credentials, checked
      against the Mosquitto password file (``[http] device_passwords``).
    * ``loopback``: the broker has no passwords (the private demo broker of scripts/up.sh): device
      routes answer only clients on this host (127.0.0.0/8, ::1), for any device.
    * ``none``: device routes answer anyone, for any device. A closed lab network only.
    """

    PASSWORDS = "passwords"
    LOOPBACK = "loopback"
    NONE = "none"


DEVICE_REALM = 'Basic realm="likavillkor-device", charset="UTF-8"'


def resolve_device_auth(mode: str, passwords_path: str) -> DeviceAuthMode:
    """The configured mode; empty: ``passwords`` when a password file is configured, else ``loopback``."""
    if mode:
        return DeviceAuthMode(mode)
    return DeviceAuthMode.PASSWORDS if passwords_path else DeviceAuthMode.LOOPBACK


def parse_basic(header: str) -> tuple[str, str] | None:
    """``Authorization: Basic base64(user:password)`` -> ``(user, password)``; None when the header is
    not Basic; ValueError when it is Basic but malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    value = value.strip()
    if not value or len(value) > 1024:
        raise ValueError("malformed Basic credentials")
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep or not user or not password:
        raise ValueError("malformed Basic credentials")
    return user, password


def is_loopback(host: str | None) -> bool:
    import ipaddress

    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class DevicePasswords:
    """The broker's password file (``user:$7$...`` lines, :mod:`collector.brokerauth`), parsed once
    and re-read when the file changes (size, mtime or inode). A file that cannot be read or parsed
    keeps the last good hashes (one log line per change) or, at start, none.

    Successful checks are remembered for ``cache_s`` (PBKDF2 is slow on purpose), keyed by an HMAC of
    the credentials and the stored hash under a per-process key: a rotated password (new hash)
    misses the cache at once; the plain password is never kept.
    """

    MAX_CACHED = 10_000

    def __init__(self, path: Path, *, cache_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 verify: Callable[[str, str], bool] | None = None) -> None:
        from collector import brokerauth

        self.path = path
        self.cache_s = cache_s
        self.clock = clock
        self._verify = verify or brokerauth.verify_password
        self._stamp: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}
        self._ok: dict[bytes, float] = {}  # credential MAC -> valid until (clock)
        self._key = secrets.token_bytes(32)
        self.reloads = 0
        self.load_errors = 0
        self.verifications = 0  # PBKDF2 runs
        self.cache_hits = 0

    def hashes(self) -> dict[str, str]:
        from collector import brokerauth

        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as exc:
            if self._stamp != (-1, -1, -1):
                self.load_errors += 1
                log.warning("device passwords %s cannot be read (%s): no device can sign in", self.path, exc)
                self._stamp, self._hashes, self._ok = (-1, -1, -1), {}, {}
            return self._hashes
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._hashes = brokerauth.parse_password_file(self.path.read_text(encoding="utf-8"),
                                                              source=str(self.path))
                self.reloads += 1
            except (OSError, UnicodeDecodeError, brokerauth.CredentialError) as exc:
                self.load_errors += 1
                log.warning("device passwords %s not loaded, keeping the previous ones: %s", self.path, exc)
            self._ok = {}
        return self._hashes

    def verify(self, device_id: str, password: str) -> bool:
        stored = self.hashes().get(device_id)
        if stored is None:
            return False
        mac = hmac.new(self._key, "\0".join((device_id, password, stored)).encode(), hashlib.sha256).digest()
        now = self.clock()
        until = self._ok.get(mac)
        if until is not None and until > now:
            self.cache_hits += 1
            return True
        self.verifications += 1
        if not self._verify(password, stored):
            return False
        if len(self._ok) >= self.MAX_CACHED:
            self._ok = {k: v for k, v in self._ok.items() if v > now}
            if len(self._ok) >= self.MAX_CACHED:
                self._ok.clear()
        self._ok[mac] = now + self.cache_s
        return True


# --- the auth service ----------------------------------------------------------------------------

@dataclass
class AuthCounters:
    login_ok: int = 0
    login_failed: int = 0
    csrf_rejected: int = 0
    token_rejected: int = 0
    session_rejected: int = 0
    device_ok: int = 0
    device_rejected: int = 0


class Auth:
    """Sessions, CSRF, API tokens and role checks, bound to one secret and one users file.

    ``meeting_body(meeting_id) -> body | None`` lets :meth:`require` check a chair's or secretary's
    bodies against the meeting a route names.
    """

    def __init__(self, *, secret: bytes, users_path: Path, meeting_body: Callable[[str], str | None],
                 session_s: float = DEFAULT_SESSION_S, secure_cookies: bool = False,
                 clock: Callable[[], float] = time.time,
                 authenticators: Sequence[Authenticator] | None = None, local_token: str | None = None,
                 device_auth: DeviceAuthMode = DeviceAuthMode.LOOPBACK,
                 device_passwords: DevicePasswords | None = None) -> None:
        if device_auth is DeviceAuthMode.PASSWORDS and device_passwords is None:
            raise ValueError("device_auth = 'passwords' needs the broker's password file ([http] device_passwords)")
        self.device_auth = device_auth
        self.device_passwords = device_passwords
        self._device_logged: dict[str, float] = {}
        self.secret = secret
        self._local_sha256 = hash_token(local_token) if local_token else None
        self.users_path = users_path
        self.meeting_body = meeting_body
        self.session_s = session_s
        self.secure_cookies = secure_cookies
        self.clock = clock
        self.counters = AuthCounters()
        self._users_cache: tuple[float, UserFile] | None = None
        self._revoked: dict[str, float] = {}  # session id -> its expiry (signed-out sessions)
        self._failures: dict[str, list[float]] = {}  # throttle key -> recent failed sign-ins
        self.authenticators: list[Authenticator] = list(authenticators or [PasswordAuthenticator(self.users)])
        #: set by the pages: resolves a self-test link into a member principal (or raises HTTPException)
        self.selftest_principal: Callable[[str], Principal] | None = None

    # -- password guessing: a username tried from one address, and one address overall, are throttled
    # separately, so a guesser elsewhere cannot lock the chair out in the middle of a meeting --
    FAIL_MAX = 5  # per username and address
    FAIL_MAX_ADDRESS = 50  # per address, any usernames (password spraying)
    FAIL_WINDOW_S = 300.0

    @staticmethod
    def throttle_keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.casefold()}|{address}", f"ip:{address}"

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._failures.get(key, ()) if now - t < self.FAIL_WINDOW_S]

    def locked(self, username: str, address: str) -> bool:
        """True while this username from this address, or this address, has failed too often."""
        now = self.clock()
        pair, ip = self.throttle_keys(username, address)
        return len(self._recent(pair, now)) >= self.FAIL_MAX or len(self._recent(ip, now)) >= self.FAIL_MAX_ADDRESS

    def note_failure(self, username: str, address: str) -> None:
        now = self.clock()
        self.counters.login_failed += 1
        for key, keep in zip(self.throttle_keys(username, address), (self.FAIL_MAX, self.FAIL_MAX_ADDRESS),
                             strict=True):
            self._failures[key] = [*self._recent(key, now), now][-keep:]
        if len(self._failures) > 10_000:  # bounded: forget the oldest keys
            for key in list(self._failures)[:5000]:
                del self._failures[key]

    # users file, re-read when it changes so `add_user` takes effect without a restart
    def users(self) -> UserFile:
        try:
            mtime = self.users_path.stat().st_mtime
        except FileNotFoundError:
            return UserFile()
        if self._users_cache is None or self._users_cache[0] != mtime:
            self._users_cache = (mtime, read_users(self.users_path))
        return self._users_cache[1]

    # -- sessions --
    def new_session(self, response: Response, who: Principal, request: Request | None = None) -> str:
        """Sign ``who`` in: a signed cookie, Secure when the collector serves TLS or the request came
        over https (uvicorn's --proxy-headers makes a TLS-terminating proxy count)."""
        secure = self.secure_cookies or (request is not None and request.url.scheme == "https")
        sid = secrets.token_urlsafe(16)
        payload = {"sid": sid, "u": who.username, "r": who.role.value, "b": sorted(who.bodies), "n": who.name,
                   "a": who.method, "exp": self.clock() + self.session_s}
        if who.method == "password":
            user = self.users().users.get(who.username.casefold())
            if user is not None:
                payload["pw"] = self.password_mark(user)
        response.set_cookie(SESSION_COOKIE, sign(self.secret, "session", payload), max_age=int(self.session_s),
                            httponly=True, samesite="strict", secure=secure, path="/")
        self.counters.login_ok += 1
        return sid

    def end_session(self, request: Request, response: Response) -> None:
        who = self.session_principal(request)
        if who is not None:
            self._revoked[who.session_id] = self.clock() + self.session_s
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure_cookies)

    def session_principal(self, request: Request) -> Principal | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            p = unsign(self.secret, "session", cookie)
            exp = float(p["exp"])
            sid = str(p["sid"])
            who = Principal(username=str(p["u"]), role=Role(p["r"]), bodies=frozenset(p.get("b", [])),
                            name=str(p.get("n", "")), via="session", session_id=sid, method=str(p.get("a", "password")))
        except (SignatureError, KeyError, ValueError, TypeError):
            self.counters.session_rejected += 1
            return None
        now = self.clock()
        if exp < now or sid in self._revoked:
            return None
        if who.method == "password":  # other methods' users live at their identity provider
            user = self.users().users.get(who.username.casefold())
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
        if len(self._revoked) > 1000:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}

    def csrf_token(self, who: Principal) -> str:
        return hmac.new(self.secret, f"csrf:{who.session_id}".encode(), hashlib.sha256).hexdigest()

    # -- API tokens --
    def token_principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        if token and self._local_sha256 and hmac.compare_digest(hash_token(token), self._local_sha256):
            return Principal(username="local", role=Role.IT, name="collector host", via="token")
        found = self.users().tokens.get(hash_token(token)) if token else None
        if found is None:
            self.counters.token_rejected += 1
            raise HTTPException(401, "invalid API token", headers={"WWW-Authenticate": "Bearer"})
        return Principal(username=f"token:{found.name}", role=found.role, bodies=frozenset(found.bodies),
                         name=found.name, via="token")

    # -- devices (agents) --
    DEVICE_LOG_EVERY_S = 60.0

    def device_principal(self, request: Request) -> Principal | None:
        """The device calling, by :attr:`device_auth`; None when it brought no credentials (or, in
        loopback mode, is not on this host). Wrong or malformed Basic credentials are a 401."""
        header = request.headers.get("authorization", "")
        host = request.client.host if request.client else None
        if self.device_auth is DeviceAuthMode.PASSWORDS:
            assert self.device_passwords is not None
            try:
                creds = parse_basic(header)
            except ValueError:
                self._device_refused("?", host, "malformed Basic credentials")
                raise
            if creds is None:
                return None
            device_id, password = creds
            if not self.device_passwords.verify(device_id, password):
                self._device_refused(device_id, host, "unknown device or wrong password")
                raise ValueError("unknown device or wrong password")
            self.counters.device_ok += 1
            return Principal(username=device_id, role=Role.DEVICE, name=device_id, via="device", device_id=device_id)
        if self.device_auth is DeviceAuthMode.LOOPBACK and not is_loopback(host):
            return None
        return Principal(username=f"device@{host or '?'}", role=Role.DEVICE, via=self.device_auth.value)

    def _device_refused(self, device_id: str, host: str | None, why: str) -> None:
        self.counters.device_rejected += 1
        now = self.clock()
        key = f"{device_id[:64]}|{host}"
        if now - self._device_logged.get(key, float("-inf")) >= self.DEVICE_LOG_EVERY_S:
            if len(self._device_logged) > 1000:
                self._device_logged.clear()
            self._device_logged[key] = now
            log.info("device sign-in refused for %r from %s: %s", device_id[:64], host, why)

    def require_device(self, device_id_of: Callable[[Request], Awaitable[str | None]]
                       ) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency for a device's own route: the device itself (:meth:`device_principal`), or IT
        with a token or session. ``device_id_of`` names the device the request is about (None: the
        request names none, a 400 was not raised, so 403). No credentials: 401 with a Basic challenge;
        another device's route: 403."""
        it = self.require(Role.IT)

        async def dependency(request: Request) -> Principal:
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer ") or (SESSION_COOKIE in request.cookies and not header):
                return await it(request)
            try:
                who = self.device_principal(request)
            except ValueError as exc:
                raise HTTPException(401, f"device credentials refused: {exc}",
                                    headers={"WWW-Authenticate": DEVICE_REALM}) from None
            if who is None:
                raise HTTPException(401, DEVICE_NOT_SIGNED_IN[self.device_auth],
                                    headers={"WWW-Authenticate": DEVICE_REALM})
            wanted = await device_id_of(request)
            if wanted is None or not who.may_act_for_device(wanted):
                raise HTTPException(403, "a device may only use its own device routes")
            return who

        return dependency

    async def principal(self, request: Request) -> Principal | None:
        """The caller, or None. A bad Bearer token is a 401 (never silently anonymous)."""
        who = self.token_principal(request)
        if who is not None:
            return who
        link = request.headers.get(SELFTEST_HEADER)
        if link and self.selftest_principal is not None:
            return self.selftest_principal(link)
        return self.session_principal(request)

    async def check_csrf(self, request: Request, who: Principal) -> None:
        if request.method in SAFE_METHODS or who.via != "session":
            return
        given = request.headers.get(CSRF_HEADER)
        if not given and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            given = str((await request.form()).get(CSRF_FIELD) or "")
        if not given or not hmac.compare_digest(given, self.csrf_token(who)):
            self.counters.csrf_rejected += 1
            log.info("CSRF token missing or wrong on %s %s by %s", request.method, request.url.path, who.username)
            raise HTTPException(403, "CSRF token missing or wrong")

    # -- the dependency --
    def require(self, *roles: Role | str, body_of: Callable[[Request], str | None] | None = None,
                html: bool = False) -> Callable[[Request], Awaitable[Principal]]:
        """A FastAPI dependency: the caller must have one of ``roles``; with ``body_of`` (the body a
        request is about, e.g. :meth:`meeting_path_body`) a chair or secretary must sit on that body.

        Not signed in: 401 (``html=True``: a redirect to the login page). Wrong role or body: 403.
        State-changing requests with a session cookie need the CSRF token.
        """
        wanted = frozenset(Role(r) for r in roles) or frozenset(Role)

        async def dependency(request: Request,
                             _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
                             _cookie: Annotated[str | None, Depends(SESSION)] = None) -> Principal:
            who = await self.principal(request)
            if who is None:
                if html:
                    raise HTTPException(303, "sign in", headers={"Location": login_url(request)})
                raise HTTPException(401, NOT_SIGNED_IN, headers={"WWW-Authenticate": "Bearer"})
            if who.role not in wanted:
                raise HTTPException(403, "not allowed for your role")
            if body_of is not None and who.role is not Role.IT:
                body = body_of(request)
                if body is None:
                    raise HTTPException(404, "no such meeting")
                if who.role is Role.MEMBER:
                    if who.meeting_id != request.path_params.get("meeting_id"):
                        raise HTTPException(403, "this link is for another meeting")
                elif not who.may_see_body(body):
                    # the same answer as for a meeting that does not exist: ids cannot be probed (issue 12)
                    raise HTTPException(404, "no such meeting")
            await self.check_csrf(request, who)
            return who

        return dependency

    def meeting_path_body(self, request: Request) -> str | None:
        """``body_of`` for routes with a ``{meeting_id}`` path parameter."""
        meeting_id = request.path_params.get("meeting_id")
        return self.meeting_body(str(meeting_id)) if meeting_id is not None else None


def login_url(request: Request) -> str:
    from urllib.parse import quote

    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- command line ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="likavillkor-collector users", description="Manage Likavillkor users.")
    parser.add_argument("--users", default="data/users.toml", help="the users file (default data/users.toml)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add-user", help="add or replace a user; the password is read from stdin")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=[r.value for r in Role if r not in (Role.MEMBER, Role.DEVICE)])
    a.add_argument("--body", action="append", default=[], help="a body this chair/secretary serves (repeat)")
    a.add_argument("--name", default="")
    t = sub.add_parser("add-token", help="create an API token (printed once)")
    t.add_argument("name")
    t.add_argument("--role", default="it", choices=[r.value for r in Role if r not in (Role.MEMBER, Role.DEVICE)])
    t.add_argument("--body", action="append", default=[])
    sub.add_parser("list", help="list users and API tokens (no secrets)")
    rm = sub.add_parser("remove", help="delete a user")
    rm.add_argument("username")
    rv = sub.add_parser("revoke-token", help="delete the API tokens with this name (or sha256 prefix, see list)")
    rv.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "list":
            print("\n".join(list_lines(read_users(Path(args.users)))) or "(no users, no tokens)")
        elif args.cmd == "remove":
            if not remove_user(args.users, args.username):
                print(f"error: no user {args.username!r} in {args.users}", file=sys.stderr)
                return 1
            print(f"user {args.username} removed from {args.users}")
        elif args.cmd == "revoke-token":
            n = revoke_tokens(args.users, args.name)
            if not n:
                print(f"error: no API token {args.name!r} in {args.users}", file=sys.stderr)
                return 1
            print(f"{n} API token(s) {args.name!r} revoked in {args.users}")
        elif args.cmd == "add-user":
            password = sys.stdin.readline().rstrip("\n")
            add_user(args.users, args.username, password, args.role, bodies=args.body, name=args.name)
            print(f"user {args.username} saved in {args.users}")
        else:
            print(add_api_token(args.users, args.name, args.role, bodies=args.body))
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
