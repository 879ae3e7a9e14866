"""Request bodies bounded by route, before anything reads them (issue 12, item 1).

A raw ASGI middleware in front of every route:

* the route's limit comes from :func:`limit_for` (``(method, path) -> bytes``); a declared
  ``Content-Length`` above it is answered 413 before one byte of the body is read, and a chunked
  body is counted as it arrives: the moment it passes the limit the request is answered 413 and
  whatever the route had begun to do with the body is dropped;
* ``precheck(scope)`` runs before the body is read: it answers requests that carry no credential
  at all for a route that needs one (401), or a self-test link that is not valid (403/410), so an
  anonymous client never gets a body parsed (authenticate before parsing).

Every refusal is counted (``count(name)``) and logged at most once a minute per reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KIB = 1024
#: bytes per route (method, path prefix or exact path); the first match wins
DEFAULT_LIMIT = 64 * KIB
ACTION_LIMIT = 16 * KIB  # an ActionIn: by 200, item 200, note 2000 characters (UTF-8: at most 4 bytes each)
LOGIN_LIMIT = 8 * KIB  # username 128 + password 1024 characters, the CSRF token, the method
SELFTEST_RESULT_LIMIT = 64 * KIB  # a browser self-test becomes one wire message (wire.MAX_PAYLOAD_BYTES)
UNEQUAL_LIMIT = 4 * KIB  # the member's H17 report: her words, at most 500 characters
MEDIA_OFFER_LIMIT = 64 * KIB  # collector.peers.media.MAX_SDP_BYTES
SPEEDTEST_UPLOAD_LIMIT = 8 * 1024 * KIB  # collector.peers.speedtest.DEFAULT_MAX_UPLOAD_BYTES
ICS_IMPORT_LIMIT = 1024 * KIB + 16 * KIB  # collector.planning.icsimport.MAX_BYTES and the form around it
MEETING_FORM_LIMIT = 256 * KIB  # the meeting form: 200 participant rows of 10 fields (collector.web.meeting_form)


def limit_for(method: str, path: str) -> int:
    """The largest body ``method path`` may carry."""
    if path.startswith("/speedtest/") and path.endswith("/upload.php"):
        return SPEEDTEST_UPLOAD_LIMIT
    if path in ("/login", "/logout"):
        return LOGIN_LIMIT
    if path.startswith("/api/meetings/") and path.endswith("/actions"):
        return ACTION_LIMIT
    if path.startswith("/selftest/") and path.endswith("/unequal"):
        return UNEQUAL_LIMIT
    if path.startswith("/selftest/"):
        return SELFTEST_RESULT_LIMIT
    if path == "/api/mediapath/offer":
        return MEDIA_OFFER_LIMIT
    if path == "/secretary/import":
        return ICS_IMPORT_LIMIT
    if path.startswith("/secretary/") and (path.endswith("/edit") or path == "/secretary/meetings/new"):
        return MEETING_FORM_LIMIT
    return DEFAULT_LIMIT


class _TooLarge(Exception):
    pass


class BodyLimit:
    """``BodyLimit(app, precheck=..., count=...)``; see the module's doc."""

    LOG_EVERY_S = 60.0

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: Callable[[str, str], int] = limit_for,
        precheck: Callable[[Scope], tuple[int, str] | None] | None = None,
        count: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.precheck = precheck
        self.count = count or (lambda _name: None)
        self._logged: dict[str, float] = {}

    def _note(self, reason: str, scope: Scope, detail: str) -> None:
        self.count(reason)
        now = time.monotonic()
        if now - self._logged.get(reason, float("-inf")) >= self.LOG_EVERY_S:
            self._logged[reason] = now
            client = scope.get("client") or ("?", 0)
            log.info(
                "%s %s from %s refused (%s): %s",
                scope.get("method"),
                str(scope.get("path"))[:120],
                client[0],
                reason,
                detail,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = str(scope.get("method", "GET")), str(scope.get("path", ""))
        limit = self.limit(method, path)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            self._note("body_too_large", scope, f"declared {declared[:20]} bytes, limit {limit}")
            await _answer(send, 413, {"detail": f"the body may be at most {limit} bytes", "limit_bytes": limit})
            return
        if self.precheck is not None:
            refused = self.precheck(scope)
            if refused is not None:
                status, detail = refused
                self._note(f"refused_before_body_{status}", scope, detail)
                headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
                await _answer(send, status, {"detail": detail}, headers)
                return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the route's own answer to a cut-off body: ours (413) goes out instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            self._note("body_too_large", scope, f"more than {limit} bytes sent")
            await _answer(
                send,
                413,
                {"detail": f"the body may be at most {limit} bytes", "limit_bytes": limit},
                [(b"connection", b"close")],
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def has_header(scope: Scope, name: bytes) -> bool:
    return _header(scope, name) is not None


def cookie_names(scope: Scope) -> set[str]:
    raw = _header(scope, b"cookie") or ""
    return {part.split("=", 1)[0].strip() for part in raw.split(";") if "=" in part}


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
