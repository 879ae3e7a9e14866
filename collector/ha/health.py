"""The leader endpoint and the standby's refusal (issue 17), for the collector's app to mount.

- ``GET /health/leader``: 200 on the collector that leads, 503 on a standby (JSON: role, holder,
  epoch). HAProxy (deploy/haproxy/haproxy.cfg) or any load balancer checks it and sends traffic to
  the leader only.
- :class:`StandbyGuard` (ASGI middleware): while this collector does not lead, every HTTP request
  except ``/health/*`` (and IT's ``/metrics``) gets 503 with ``Retry-After: 1`` and every websocket is closed with 1013
  (try again later). A request that reaches a standby in the seconds before the load balancer's
  checks catch up is thereby never served or written by it, and HAProxy retries it on the leader
  (``retry-on 503``). The decision is the pure :func:`standby_refuses`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from collector.ha.lease import Lease, Role

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PREFIX = "/health/"


#: a standby also serves IT's /metrics (read-only, signed in as ever): is it following? (issue 17)
STANDBY_SERVES = frozenset({"/metrics"})


def standby_refuses(path: str, leader: bool) -> bool:
    """Pure: a standby answers only its health routes and /metrics."""
    return not leader and not path.startswith(HEALTH_PREFIX) and path not in STANDBY_SERVES


def leader_router(lease: Lease) -> APIRouter:
    r = APIRouter()

    @r.get(
        "/health/leader",
        tags=["health"],
        summary="200 on the collector that leads, 503 on a standby",
        responses={503: {"description": "this collector does not lead"}},
    )
    def health_leader() -> JSONResponse:
        role = lease.role()
        return JSONResponse(
            {"role": str(role), "holder": lease.holder, "epoch": lease.epoch},
            status_code=200 if role is Role.LEADER else 503,
            headers={"Cache-Control": "no-store"},
        )

    return r


class StandbyGuard:
    """ASGI middleware: 503 (HTTP) or close 1013 (websocket) on a standby, except ``/health/*``."""

    def __init__(self, app: ASGIApp, is_leader: Callable[[], bool]) -> None:
        self.app = app
        self.is_leader = is_leader
        self.refused = 0  # a counter for /metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket") or not standby_refuses(str(scope.get("path", "")), self.is_leader()):
            await self.app(scope, receive, send)
            return
        self.refused += 1
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1013, "reason": "standby"})
            return
        body = b'{"detail":"standby: this collector does not lead"}'
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", b"1"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
