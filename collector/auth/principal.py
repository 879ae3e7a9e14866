"""Who is asking: the roles, the :class:`Principal` every access check returns, and the counters of
sign-in outcomes (exported on ``/metrics`` and the web counters).

Roles (docs/web.md)
  * ``chair`` / ``secretary``: the meetings of their own bodies (``bodies = [...]``), the chair's
    view, its actions (H5, H14, H15, H16, H18) and the members' self-test links (H7).
  * ``it``: everything, including incidents, reports and devices.
  * ``member``: only their own self-test, reached through the personal link (``/selftest/{token}``,
    see :mod:`collector.web.selftest_links`), never through a password.
  * ``device``: a member's agent, signed in with its broker credentials (:mod:`collector.auth.devices`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


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


@dataclass
class AuthCounters:
    login_ok: int = 0
    login_failed: int = 0
    csrf_rejected: int = 0
    token_rejected: int = 0
    session_rejected: int = 0
    device_ok: int = 0
    device_rejected: int = 0
