"""The users file (``{data_dir}/users.toml``): chairs, secretaries, IT and API tokens.

Written by :func:`add_user` and :func:`add_api_token` (also ``python -m collector.auth add-user ...``,
:mod:`collector.auth.users_cli`). Passwords are argon2id hashes; API tokens are random 256-bit
strings stored only as SHA-256 (a hash that is fast on purpose: the token has full entropy, and it
is checked on every automated request). Members (H7) and devices never appear here.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher

from collector.auth.principal import Role, normalize_body


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


PASSWORD_HASHER = PasswordHasher()
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
            user = User(
                username=str(u["username"]),
                role=_file_role(u["role"]),
                password_hash=str(u["password_hash"]),
                bodies=tuple(normalize_body(b) for b in u.get("bodies", [])),
                name=str(u.get("name", "")),
            )
        except (KeyError, ValueError) as exc:
            raise UserFileError(f"{path}: [[user]] number {i + 1}: {exc}") from None
        out.users[user.username.casefold()] = user
    for i, t in enumerate(raw.get("token", [])):
        try:
            tok = ApiToken(
                name=str(t["name"]),
                role=_file_role(t["role"]),
                token_sha256=str(t["token_sha256"]),
                bodies=tuple(normalize_body(b) for b in t.get("bodies", [])),
            )
        except (KeyError, ValueError) as exc:
            raise UserFileError(f"{path}: [[token]] number {i + 1}: {exc}") from None
        out.tokens[tok.token_sha256] = tok
    return out


def write_users(path: Path, data: UserFile) -> None:
    lines = ["# Likavillkor users and API tokens. Edit with `python -m collector.auth`.", ""]
    for u in data.users.values():
        lines += [
            "[[user]]",
            f"username = {_toml_str(u.username)}",
            f"name = {_toml_str(u.name)}",
            f"role = {_toml_str(u.role.value)}",
            f"bodies = [{', '.join(_toml_str(b) for b in u.bodies)}]",
            f"password_hash = {_toml_str(u.password_hash)}",
            "",
        ]
    for t in data.tokens.values():
        lines += [
            "[[token]]",
            f"name = {_toml_str(t.name)}",
            f"role = {_toml_str(t.role.value)}",
            f"bodies = [{', '.join(_toml_str(b) for b in t.bodies)}]",
            f"token_sha256 = {_toml_str(t.token_sha256)}",
            "",
        ]
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
        doomed = [
            h for h, t in data.tokens.items() if t.name == name or (len(name) >= 12 and h.startswith(name.lower()))
        ]
        for h in doomed:
            del data.tokens[h]
        if doomed:
            write_users(p, data)
    return len(doomed)


def list_lines(data: UserFile) -> list[str]:
    """One line per user and token, no secrets (the token's SHA-256 prefix names it)."""
    out = [
        f"user  {u.username}\t{u.role.value}\t{','.join(u.bodies) or '-'}\t{u.name}"
        for u in sorted(data.users.values(), key=lambda u: u.username.casefold())
    ]
    out += [
        f"token {t.name}\t{t.role.value}\t{','.join(t.bodies) or '-'}\tsha256:{t.token_sha256[:12]}"
        for t in sorted(data.tokens.values(), key=lambda t: (t.name, t.token_sha256))
    ]
    return out


def add_user(
    path: str | Path, username: str, password: str, role: Role | str, *, bodies: Iterable[str] = (), name: str = ""
) -> User:
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
    user = User(username=username, role=role, password_hash=PASSWORD_HASHER.hash(password), bodies=body_list, name=name)
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
        data.tokens[hash_token(token)] = ApiToken(
            name=name, role=role, token_sha256=hash_token(token), bodies=tuple(normalize_body(b) for b in bodies)
        )
        write_users(p, data)
    return token


class UsersCache:
    """The users file, re-read when it changes (mtime), so :func:`add_user` takes effect without a
    restart. A missing file is an empty one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[float, UserFile] | None = None

    def get(self) -> UserFile:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return UserFile()
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, read_users(self.path))
        return self._cache[1]
