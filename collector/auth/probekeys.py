"""Per-device keys for authenticated STAMP probes (issue 11; RFC 8972 SSID and HMAC TLV).

A device's key is HMAC-SHA256(secret, "likavillkor-stamp" NUL device_id): derived, so nothing per
device is stored and a restart changes nothing. The secret is 32 random octets in
``{data_dir}/probe-secret`` (mode 0600), made at the first start. The agent fetches its key and
SSID over the authenticated device HTTP API (``GET /api/devices/{id}/probe-key``, HTTP Basic with
its broker credentials); only then do its probes count as its evidence of life.

The SSID is 16 bits of SHA-256(device_id) (never 0): two devices may share one, so the reflector
keeps every registered device per SSID and checks the HMAC against each (a collision costs one
more HMAC, never a false match).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

SECRET_FILE = "probe-secret"


def load_or_create_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


def ssid_for(device_id: str) -> int:
    return int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:2], "big") or 1


class ProbeKeys:
    """Keys and the SSID index of the registered devices (those on the roster)."""

    def __init__(self, secret: bytes, devices: Iterable[str] = ()) -> None:
        self._secret = secret
        self.index: dict[int, list[tuple[str, bytes]]] = {}
        self.register(devices)

    def key_for(self, device_id: str) -> bytes:
        return hmac.new(self._secret, b"likavillkor-stamp\0" + device_id.encode(), hashlib.sha256).digest()

    def register(self, devices: Iterable[str]) -> None:
        """Replace the registered devices (a new roster). Swapped in one assignment: the reflector's
        thread reads ``index`` without a lock."""
        index: dict[int, list[tuple[str, bytes]]] = {}
        for d in devices:
            index.setdefault(ssid_for(d), []).append((d, self.key_for(d)))
        self.index = index

    def candidates(self, ssid: int) -> list[tuple[str, bytes]]:
        return self.index.get(ssid, [])
