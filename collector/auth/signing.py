"""Signed tokens: ``base64url(json).base64url(HMAC-SHA256)`` under the collector's web secret
(``{data_dir}/web-secret.key``), for session cookies and the members' self-test links (H7). The
``purpose`` is part of the MAC, so a token made for one use is refused for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any


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
