"""API tokens on requests: ``Authorization: Bearer <token>`` (tokens of the users file, and the
collector host's own local token), and the headers a client of the API sends (the CLI, scripts and
tests beside the collector).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import HTTPException, Request

from collector.auth.principal import AuthCounters, Principal, Role
from collector.auth.users import UserFile, hash_token

LOCAL_TOKEN_FILE = "api-token.local"


def local_token(data_dir: Path) -> str:
    """The collector host's own API token (role it), created on first use in ``{data_dir}`` with mode
    0600: for the CLI and scripts on the collector host, who can read the database anyway. Anyone who
    can read this file is IT; keep ``data_dir`` private."""
    path = Path(data_dir) / LOCAL_TOKEN_FILE
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for _ in range(_CREATE_TRIES):
        try:
            token = path.read_text(encoding="ascii").strip()
            if token:
                return token
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: the collector starting and a tool beside it (a test polling /api/health) may
            # both find no token; the first to create the file wins and the other reads it. With
            # O_TRUNC both wrote one, and the collector kept one the file no longer held (401s).
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            time.sleep(0.01)  # being written by the other one
            continue
        return _write_token(fd)
    # still empty (a writer died half-way): replace it
    return _write_token(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


_CREATE_TRIES = 100


def _write_token(fd: int) -> str:
    token = "lvl_" + secrets.token_urlsafe(32)
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


class BearerTokens:
    """Resolves ``Authorization: Bearer`` into a principal: the host's local token (role ``it``) or a
    token of the users file. A bad token is a 401 and a counter, never silently anonymous."""

    def __init__(self, users: Callable[[], UserFile], counters: AuthCounters, local_token: str | None) -> None:
        self._users = users
        self._counters = counters
        self._local_sha256 = hash_token(local_token) if local_token else None

    def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        if token and self._local_sha256 and hmac.compare_digest(hash_token(token), self._local_sha256):
            return Principal(username="local", role=Role.IT, name="collector host", via="token")
        found = self._users().tokens.get(hash_token(token)) if token else None
        if found is None:
            self._counters.token_rejected += 1
            raise HTTPException(401, "invalid API token", headers={"WWW-Authenticate": "Bearer"})
        return Principal(
            username=f"token:{found.name}",
            role=found.role,
            bodies=frozenset(found.bodies),
            name=found.name,
            via="token",
        )
