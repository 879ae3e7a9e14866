"""The device API: what an agent calls with its broker credentials (``[http] device_auth``), each
route for that device only (IT may call them too): its meetings (the agent's scheduler), its key for
signed path probes (issue 11) and the media path check (H13). Also mounts the peers agents and the
browser self-test measure against over HTTP: the speed test (open to anyone, with slots kept for
trusted callers) and the media path peer."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import importlib
import logging
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response

from collector.auth import Principal
from collector.web import it
from collector.web.access import Access
from collector.web.context import WebDeps
from collector.web.models import DeviceMeeting
from collector.web.render import json_response

log = logging.getLogger(__name__)


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter(prefix="/api/devices/{device_id}")
    rt = web.runtime
    Device = Annotated[Principal, Depends(access.device_own)]

    @r.get(
        "/meetings",
        response_model=list[DeviceMeeting],
        summary="The meetings a device takes part in (the agent's scheduler)",
    )
    def device_meetings(device_id: str, who: Device) -> Any:
        return rt.device_meetings(device_id)

    @r.get("/probe-key", summary="The device's SSID and key for signed path probes (the agent; issue 11)")
    def device_probe_key(device_id: str, who: Device) -> Response:
        doc = rt.probe_key(device_id)
        if doc is None:
            raise HTTPException(404, f"no probe key for {device_id!r}: not on the roster, or the reflector is off")
        return json_response(doc)

    return r


def mediapath_offer(peer: Any, access: Access, max_bytes: int) -> APIRouter:
    """``POST /api/mediapath/offer``: an agent's, a member's (self-test link) or staff's WebRTC offer
    to the media path peer (collector/peers/media.py); who may offer for which device:
    :func:`collector.web.access._mediapath_offer`."""
    r = APIRouter(prefix="/api/mediapath")
    Offerer = Annotated[Principal | None, Depends(access.mediapath_offer)]

    @r.post("/offer")
    async def post_offer(request: Request, who: Offerer) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            peer.counters["offers"] += 1
            peer.counters["rejected_oversized"] += 1
            return json_response({"error": "offer too large", "limit_bytes": max_bytes}, 413)
        body = await _read_limited(request, max_bytes + 1)
        status, payload = await peer.offer(body)
        return Response(content=msgspec.json.encode(payload), status_code=status, media_type="application/json")

    return r


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, but never more than ``limit`` bytes (a chunked upload cannot exhaust memory)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)


def mount_peers(app: FastAPI, web: WebDeps, access: Access) -> None:
    """The speed test at ``/speedtest`` and the media path peer at ``/api/mediapath``; a peer that
    cannot load is logged and shown in /api/health, never fatal."""
    rt = web.runtime

    def on_mediapath(result: dict[str, Any]) -> None:
        """A media path result (H13 roll-call helper) -> the engine and the database. Only for a
        device on the roster: an unknown device's result is counted by the peer, not recorded."""
        device_id = str(result.get("device_id") or "")
        if not rt.knows_device(device_id):
            log.warning("media path result from a device on no roster: %s", device_id[:64])
            return
        meeting = result.get("meeting_id")
        rt.record_mediapath(device_id, str(meeting) if meeting else None, result)

    def speedtest(mod: Any) -> None:
        router = mod.router(trusted=access.speedtest)
        app.include_router(router, prefix="/speedtest")
        app.state.speedtest_counters = router.speedtest_counters

    def media(mod: Any) -> None:
        peer = mod.MediaPeer(
            on_mediapath,
            mod.MediaPeerConfig(
                ice_servers=[  # [media] ice_servers
                    mod.IceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                    for s in rt.config.media.ice_servers
                ]
            ),
        )
        app.include_router(mediapath_offer(peer, access, mod.MAX_SDP_BYTES))
        app.include_router(it.mediapath_results(peer, access))
        app.state.media_peer = peer

    for module, mount in (("collector.peers.speedtest", speedtest), ("collector.peers.media", media)):
        try:
            mount(importlib.import_module(module))
            rt.optional_modules[module] = "loaded"
        except Exception as exc:
            rt.optional_modules[module] = f"not loaded: {exc}"
            log.warning("%s not mounted: %s", module, exc)
