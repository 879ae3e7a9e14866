"""Devices (agents) on HTTP: a member's agent signs in with the SAME credentials it uses for the
broker, HTTP Basic ``device_id:password`` checked against the Mosquitto password file that
:mod:`collector.auth.broker` writes (``[http] device_passwords``). Only its own device routes (its
meetings, its probe key, its media path offer); see :class:`DeviceAuthMode` for a broker without
passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from fastapi import Request

from collector.auth.broker_passwords import CredentialError, parse_password_file, verify_password
from collector.auth.principal import AuthCounters, Principal, Role

log = logging.getLogger(__name__)


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
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


DEVICE_NOT_SIGNED_IN = {
    "passwords": "a device signs in with HTTP Basic device_id:password, its broker credentials "
    "(the agent's [mqtt] username/password)",
    "loopback": "device routes answer only this host: the broker has no device passwords "
    "(set [http] device_passwords to the broker's password file)",
    "none": "device routes are open",
}


class DevicePasswords:
    """The broker's password file (``user:$7$...`` lines, :mod:`collector.auth.broker`), parsed once
    and re-read when the file changes (size, mtime or inode). A file that cannot be read or parsed
    keeps the last good hashes (one log line per change) or, at start, none.

    Successful checks are remembered for ``cache_s`` (PBKDF2 is slow on purpose), keyed by an HMAC of
    the credentials and the stored hash under a per-process key: a rotated password (new hash)
    misses the cache at once; the plain password is never kept.
    """

    MAX_CACHED = 10_000

    def __init__(
        self,
        path: Path,
        *,
        cache_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        verify: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.path = path
        self.cache_s = cache_s
        self.clock = clock
        self._verify = verify or verify_password
        self._stamp: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}
        self._ok: dict[bytes, float] = {}  # credential MAC -> valid until (clock)
        self._key = secrets.token_bytes(32)
        self.reloads = 0
        self.load_errors = 0
        self.verifications = 0  # PBKDF2 runs
        self.cache_hits = 0

    def hashes(self) -> dict[str, str]:
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
                self._hashes = parse_password_file(self.path.read_text(encoding="utf-8"), source=str(self.path))
                self.reloads += 1
            except (OSError, UnicodeDecodeError, CredentialError) as exc:
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


class DeviceGate:
    """The device calling, by the configured :class:`DeviceAuthMode`. Refusals are counted and
    logged at most once a minute per device and address (a misconfigured fleet cannot flood the log)."""

    LOG_EVERY_S = 60.0
    MAX_LOGGED = 1000

    def __init__(
        self,
        mode: DeviceAuthMode,
        passwords: DevicePasswords | None,
        *,
        counters: AuthCounters,
        clock: Callable[[], float],
    ) -> None:
        if mode is DeviceAuthMode.PASSWORDS and passwords is None:
            raise ValueError("device_auth = 'passwords' needs the broker's password file ([http] device_passwords)")
        self.mode = mode
        self.passwords = passwords
        self._counters = counters
        self._clock = clock
        self._logged: dict[str, float] = {}

    def principal(self, request: Request) -> Principal | None:
        """The device calling, by :attr:`mode`; None when it brought no credentials (or, in
        loopback mode, is not on this host). Wrong or malformed Basic credentials are a 401."""
        header = request.headers.get("authorization", "")
        host = request.client.host if request.client else None
        if self.mode is DeviceAuthMode.PASSWORDS:
            assert self.passwords is not None
            try:
                creds = parse_basic(header)
            except ValueError:
                self._refused("?", host, "malformed Basic credentials")
                raise
            if creds is None:
                return None
            device_id, password = creds
            if not self.passwords.verify(device_id, password):
                self._refused(device_id, host, "unknown device or wrong password")
                raise ValueError("unknown device or wrong password")
            self._counters.device_ok += 1
            return Principal(username=device_id, role=Role.DEVICE, name=device_id, via="device", device_id=device_id)
        if self.mode is DeviceAuthMode.LOOPBACK and not is_loopback(host):
            return None
        return Principal(username=f"device@{host or '?'}", role=Role.DEVICE, via=self.mode.value)

    def _refused(self, device_id: str, host: str | None, why: str) -> None:
        self._counters.device_rejected += 1
        now = self._clock()
        key = f"{device_id[:64]}|{host}"
        if now - self._logged.get(key, float("-inf")) >= self.LOG_EVERY_S:
            if len(self._logged) > self.MAX_LOGGED:
                self._logged.clear()
            self._logged[key] = now
            log.info("device sign-in refused for %r from %s: %s", device_id[:64], host, why)
