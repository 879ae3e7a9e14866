"""The web layer's state, made once per app by :func:`build` and handed to every router: the sign-in
(:class:`collector.auth.Auth`), the runtime port, the change hub, the web's own counters and the
self-test rate limits. It lives on ``app.state.web``; nothing is kept at module level."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from fastapi import HTTPException

from collector import ratelimit
from collector.auth import Auth, DeviceAuthMode, DevicePasswords, load_secret, local_token, resolve_device_auth
from collector.config import CollectorConfig
from collector.engine.types import MeetingView
from collector.web import selftest_links
from collector.web.hub import ChangeHub
from collector.web.port import WebRuntime
from likavillkor.roster import Meeting, Participant

log = logging.getLogger(__name__)

#: browser self-test results one link may record: a burst of 5, then one per 30 s; one device (all its
#: links together): 10, then one per 15 s. A result is at most 64 KiB (collector.web.bodylimit), so one
#: link writes at most ~2 KiB/s to the database, not megabytes (issue 12)
SELFTEST_LINK_BURST, SELFTEST_LINK_EVERY_S = 5, 30.0
SELFTEST_DEVICE_BURST, SELFTEST_DEVICE_EVERY_S = 10, 15.0
#: "Jag deltar inte på lika villkor" (H17) per link: 3 at once, then one a minute (each is recorded)
UNEQUAL_LINK_BURST, UNEQUAL_LINK_EVERY_S = 3, 60.0


@dataclass
class WebDeps:
    """What every router shares; see the module's doc."""

    auth: Auth
    secret: bytes
    runtime: WebRuntime
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    hub: ChangeHub = field(default_factory=ChangeHub)
    mediapath_offer_url: str = "/api/mediapath/offer"
    speedtest_url: str = "/speedtest"
    link_grace_s: float = selftest_links.DEFAULT_GRACE_S
    #: where self-test links point ([http] public_url / the listener); never the request's Host header
    public_url: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    streams: int = 0  # open live views (event streams)
    #: accepted browser self-test results per link and per device (issue 12: a link must not fill the disk)
    selftest_per_link: ratelimit.Buckets = field(
        default_factory=lambda: ratelimit.Buckets(1 / SELFTEST_LINK_EVERY_S, SELFTEST_LINK_BURST)
    )
    selftest_per_device: ratelimit.Buckets = field(
        default_factory=lambda: ratelimit.Buckets(1 / SELFTEST_DEVICE_EVERY_S, SELFTEST_DEVICE_BURST)
    )

    unequal_per_link: ratelimit.Buckets = field(
        default_factory=lambda: ratelimit.Buckets(1 / UNEQUAL_LINK_EVERY_S, UNEQUAL_LINK_BURST)
    )
    #: the Servicedesk's number (H20, ``[help] servicedesk``) and a note beside it
    servicedesk: str = "08-606 78 00"
    servicedesk_note: str = ""

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def now(self) -> float:
        return self.runtime.clock()

    def meeting(self, meeting_id: str) -> Meeting:
        """The roster's meeting, or 404."""
        meeting = self.runtime.roster().meetings.get(meeting_id)
        if meeting is None:
            raise HTTPException(404, "no such meeting")
        return meeting

    def view(self, meeting_id: str) -> MeetingView:
        """The meeting's current view, or 404."""
        view = self.runtime.view(meeting_id)
        if view is None:
            raise HTTPException(404, "no such meeting")
        return view

    def resolve_link(self, token: str) -> tuple[Meeting, Participant]:
        """The meeting and member of a personal link (H7); raises ``selftest_links.InvalidLink``."""
        return selftest_links.resolve(self.secret, token, self.runtime.roster(), self.now())


def build(runtime: WebRuntime, auth: Auth | None = None) -> WebDeps:
    """The web's state for ``runtime``: the Auth (users ``{data_dir}/users.toml``, secret
    ``{data_dir}/web-secret.key``, the host's own IT token ``{data_dir}/api-token.local``; cookies
    Secure when the collector serves TLS), wired to the runtime's change signal."""
    config = runtime.config
    secret = load_secret(config.data_path / "web-secret.key")
    if auth is None:
        auth = auth_of(runtime, secret)
    web = WebDeps(
        auth=auth,
        secret=secret,
        runtime=runtime,
        ice_servers=ice_servers_of(config),
        public_url=config.http.base_url,
        servicedesk=config.help.servicedesk,
        servicedesk_note=config.help.note,
    )
    problem = selftest_links.link_base_problem(web.public_url)
    if problem is not None:
        log.warning("members' self-test links on %s will not work on their tablets: %s", web.public_url, problem)
    runtime.on_change(web.hub.notify)
    return web


def auth_of(runtime: WebRuntime, secret: bytes) -> Auth:
    config = runtime.config
    data = config.data_path

    def meeting_body(meeting_id: str) -> str | None:
        meeting = runtime.roster().meetings.get(meeting_id)
        return meeting.body if meeting is not None else None

    mode, passwords = device_auth_of(config)
    return Auth(
        secret=secret,
        users_path=data / "users.toml",
        meeting_body=meeting_body,
        secure_cookies=bool(config.http.tls_cert),
        clock=runtime.clock,
        local_token=local_token(data),
        device_auth=mode,
        device_passwords=passwords,
    )


def device_auth_of(config: CollectorConfig) -> tuple[DeviceAuthMode, DevicePasswords | None]:
    """``[http] device_auth`` / ``device_passwords`` (collector/config.py) -> the mode and, for
    ``passwords``, the broker's password file. Logged once, so the operator sees which it is."""
    http = config.http
    path = http.device_passwords
    mode = resolve_device_auth(http.device_auth, path)
    passwords = None
    if mode is DeviceAuthMode.PASSWORDS:
        passwords = DevicePasswords(Path(path), cache_s=http.device_auth_cache_s)
        log.info("devices sign in over HTTP with their broker credentials (%s)", path)
    elif mode is DeviceAuthMode.LOOPBACK:
        log.info("device routes answer only this host: no device passwords configured ([http] device_passwords)")
    else:
        log.warning('device routes are open to anyone ([http] device_auth = "none")')
    return mode, passwords


def ice_servers_of(config: Any) -> list[dict[str, Any]]:
    """ICE servers for the browser's RTCPeerConnection: ``[media] ice_servers`` (a list of
    ``{urls, username?, credential?}``, collector/config.py); none on a LAN."""
    servers = getattr(getattr(config, "media", None), "ice_servers", None)
    if not servers:
        return []
    out = []
    for s in msgspec.to_builtins(servers):
        server = s if isinstance(s, dict) else {"urls": s}
        out.append({k: v for k, v in server.items() if v not in (None, "")})
    return out
