"""Personal self-test links (H7, H8): one member, one meeting, expiring after the meeting.

A link is ``/selftest/{token}``. The token is HMAC-signed (the collector's web secret, purpose
``selftest``) over the meeting id, the member id and the expiry, so nothing is stored and a link
cannot be altered to name another member or meeting. It expires ``grace_s`` after the meeting ends.
The secretary gets every member's link from ``/secretary/{meeting_id}/links`` (or its JSON twin).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from collector.auth import SignatureError, sign, unsign
from collector.web import i18n
from collector.web.msgids import N_
from likavillkor.roster import Meeting, Participant, Roster

PURPOSE = "selftest"
#: how long after the meeting's end a link still works (the member may look at the result)
DEFAULT_GRACE_S = 3600.0


class LinkError(StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    UNKNOWN_MEETING = "unknown_meeting"
    NOT_A_PARTICIPANT = "not_a_participant"


#: what the member reads for a refused link: the catalogs' ``link_error.*`` (collector/web/locale)
KEYS: dict[LinkError, str] = {
    LinkError.MALFORMED: N_("link_error.malformed"),
    LinkError.BAD_SIGNATURE: N_("link_error.bad_signature"),
    LinkError.EXPIRED: N_("link_error.expired"),
    LinkError.UNKNOWN_MEETING: N_("link_error.unknown_meeting"),
    LinkError.NOT_A_PARTICIPANT: N_("link_error.not_a_participant"),
}
TEXT: dict[LinkError, dict[str, str]] = {e: {lang: i18n.t(k, lang) for lang in i18n.LANGS} for e, k in KEYS.items()}


class InvalidLink(ValueError):
    def __init__(self, reason: LinkError) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinkClaims:
    meeting_id: str
    member_id: str
    expires_at: float


def make_token(secret: bytes, meeting_id: str, member_id: str, expires_at: float) -> str:
    return sign(secret, PURPOSE, {"m": meeting_id, "p": member_id, "exp": round(expires_at, 3)})


def read_token(secret: bytes, token: str, now: float) -> LinkClaims:
    """Verify signature and expiry. Raises :class:`InvalidLink` naming why."""
    try:
        payload = unsign(secret, PURPOSE, token, max_len=600)
        claims = LinkClaims(meeting_id=str(payload["m"]), member_id=str(payload["p"]), expires_at=float(payload["exp"]))
    except SignatureError as exc:
        raise InvalidLink(LinkError(exc.reason)) from None
    except (KeyError, ValueError, TypeError):
        raise InvalidLink(LinkError.MALFORMED) from None
    if claims.expires_at < now:
        raise InvalidLink(LinkError.EXPIRED)
    return claims


def resolve(secret: bytes, token: str, roster: Roster, now: float) -> tuple[Meeting, Participant]:
    """The meeting and participant a valid, current link is for."""
    claims = read_token(secret, token, now)
    meeting = roster.meetings.get(claims.meeting_id)
    if meeting is None:
        raise InvalidLink(LinkError.UNKNOWN_MEETING)
    for p in meeting.participants:
        if p.member_id == claims.member_id:
            return meeting, p
    raise InvalidLink(LinkError.NOT_A_PARTICIPANT)


@dataclass(frozen=True, slots=True)
class MemberLink:
    member_id: str
    name: str
    role: str
    device_id: str
    email: str | None
    path: str
    expires_at: float


def links_for_meeting(secret: bytes, meeting: Meeting, grace_s: float = DEFAULT_GRACE_S) -> list[MemberLink]:
    expires = meeting.end + grace_s
    return [
        MemberLink(
            member_id=p.member_id,
            name=p.name,
            role=p.role.value,
            device_id=p.device_id,
            email=p.email,
            path=f"/selftest/{make_token(secret, meeting.id, p.member_id, expires)}",
            expires_at=expires,
        )
        for p in meeting.participants
    ]


#: hosts whose plain-http pages a browser still treats as secure (camera allowed): this machine only
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def link_base_problem(base: str) -> str | None:
    """Why personal links built on ``base`` (``[http] public_url``, or the listener's own address)
    would not work on a member's iPad, or None. Links are always built from this configured
    address, never from the address a secretary's browser used (issue 12, issue 15)."""
    u = urlsplit(base)
    if u.scheme == "https":
        return None
    if u.scheme == "http" and (u.hostname or "") in _LOOPBACK:
        return None  # a browser on this machine: a secure context, the camera works
    return (
        "plain http: iPad Safari (and every browser) gives no camera or microphone to it; "
        "set [http] public_url to the collector's https address"
    )
