"""The collector's end of the media path check (H1, H4): a WebRTC peer built on aiortc.

A member's agent offers a connection (``POST /offer``, mounted by the collector at
``/api/mediapath``), sends its camera and microphone for a few seconds, and receives a test stream
back (a moving pattern and a 1 kHz tone: the member must see and hear the room, H1). This side
drains every received track, counts frames itself (aiortc has none), runs the same frame and level
checks as the self-test, reads loss and jitter from its inbound RTP stats and RTT from its outbound
ones. When the agent says ``done`` on the data channel (or the time is up) the result is sent back
on the channel, handed to ``on_result(result_dict)`` and kept in memory (``GET /results``).

Privacy: frames and samples are analysed in memory and dropped; only numbers leave this module.
ICE servers always come from the config (an empty list = host candidates only), never aiortc's
default public STUN server. Every peer connection is closed within its deadline, including one
that never completes ICE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Request, Response

from likavillkor.config import Section
from likavillkor.media.report import Direction, PathReport, complete
from likavillkor.wire import MAX_PAYLOAD_BYTES, DeviceId, ShortText

log = logging.getLogger(__name__)

MAX_SDP_BYTES = MAX_PAYLOAD_BYTES  # 64 kB: larger offers get 413


class IceServer(Section):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class MediaPeerConfig(Section):
    #: STUN/TURN servers for the collector's side; empty = host candidates only (never a default)
    ice_servers: list[IceServer] = msgspec.field(default_factory=list)
    #: longest media session an agent may ask for (seconds)
    max_seconds: float = 30.0
    #: ICE + DTLS must complete within this, or the peer is closed with verdict "failed"
    connect_timeout_s: float = 10.0
    #: answering an offer (setRemoteDescription + ICE gathering) must finish within this
    answer_timeout_s: float = 10.0
    #: peers at once; more get 503
    max_peers: int = 20
    #: the test stream sent back to the member (H1: the member sees and hears the room)
    return_width: int = 640
    return_height: int = 480
    return_fps: float = 15.0
    #: how many results are kept in memory (latest per device)
    keep_results: int = 1000


class Offer(msgspec.Struct, kw_only=True):
    """The agent's offer. Unknown fields are ignored (a newer agent may send more)."""

    device_id: DeviceId
    sdp: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP_BYTES)]
    type: Literal["offer"]
    meeting_id: ShortText | None = None
    seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    width: Annotated[int, msgspec.Meta(ge=16, le=7680)] | None = None
    height: Annotated[int, msgspec.Meta(ge=16, le=4320)] | None = None


def rtc_configuration(servers: list[IceServer]) -> Any:
    """An explicit RTCConfiguration: aiortc falls back to a public STUN server when none is given."""
    from aiortc import RTCConfiguration, RTCIceServer

    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers]
    )


class PeerSession:
    """One agent's media path session on the collector."""

    def __init__(self, offer: Offer, config: MediaPeerConfig, finished: Callable[[PeerSession], None]) -> None:
        from aiortc import RTCPeerConnection

        from likavillkor.media.tracks import AudioSink, PatternTrack, ToneTrack, VideoSink

        self.id = uuid.uuid4().hex
        self.offer = offer
        self.config = config
        self.started = time.monotonic()
        self.started_at = time.time()
        self.pc = RTCPeerConnection(rtc_configuration(config.ice_servers))
        self.video = VideoSink(offer.width, offer.height)
        self.audio = AudioSink(max_seconds=min(offer.seconds, config.max_seconds) + 5)
        self._return = {
            "video": PatternTrack(config.return_width, config.return_height, config.return_fps),
            "audio": ToneTrack(),
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: Any = None
        self._finished = finished
        self._done = asyncio.Event()
        self.connected = False
        self.result: PathReport | None = None
        self._wire()

    def _wire(self) -> None:
        pc = self.pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            sink = self.video if track.kind == "video" else self.audio
            self._tasks.append(asyncio.ensure_future(sink.drain(track)))
            back = self._return.get(track.kind)
            if back is not None:
                pc.addTrack(back)

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            self._channel = channel

            @channel.on("message")
            def on_message(message: object) -> None:
                if message == "done":
                    self._done.set()

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected = True
            elif pc.connectionState in ("failed", "closed"):
                self._done.set()

    async def answer(self) -> dict[str, str]:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.offer.sdp, type=self.offer.type))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        local = self.pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    async def run(self) -> None:
        """Wait for ICE, then for ``done`` or the time limit; measure; report; close."""
        seconds = min(self.offer.seconds, self.config.max_seconds)
        try:
            await asyncio.wait_for(self._wait_connected(), self.config.connect_timeout_s)
        except TimeoutError:
            log.info("media path %s: no connection within %.0f s", self.offer.device_id, self.config.connect_timeout_s)
        if self.connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), seconds + 5.0)
        try:
            self.result = await self._measure()
            self._send_result(self.result)
            self._finished(self)
        finally:
            await asyncio.sleep(0.2 if self.connected else 0)  # let the result leave on the channel
            await self.close()

    async def _wait_connected(self) -> None:
        while not self.connected:
            if self.pc.connectionState in ("failed", "closed"):
                return
            await asyncio.sleep(0.05)

    async def _measure(self) -> PathReport:
        from likavillkor.media.rtcstats import summarise

        net = summarise((await self.pc.getStats()).values()) if self.connected else None
        video = self.video.report()
        audio = self.audio.report()
        report = PathReport(
            direction=Direction.UP,
            device_id=self.offer.device_id,
            meeting_id=self.offer.meeting_id,
            connected=self.connected and video.frames + audio.samples > 0,
            duration_s=round(time.monotonic() - self.started, 2),
            fps=video.fps,
            width=video.width,
            height=video.height,
            frames=video.frames,
            freezes=video.freezes,
            black_frames=video.black_frames,
            frozen_frames=video.frozen_frames,
            black_runs=video.black_runs,
            frozen_runs=video.frozen_runs,
            audio_rms_dbfs=audio.rms_dbfs,
            loss_percent=_r(net.loss_percent if net else None),
            jitter_ms=_r(net.jitter_ms if net else None),
            rtt_ms=_r(net.rtt_ms if net else None),
            reason=None if self.connected else "no ICE/DTLS connection",
            video=video,
            audio=audio,
        )
        return complete(report)

    def _send_result(self, result: PathReport) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            try:
                channel.send(msgspec.json.encode(result).decode())
            except Exception as exc:  # the agent left early: it still gets GET /results
                log.info("media path %s: result not sent: %s", self.offer.device_id, exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for track in self._return.values():
            track.stop()
        await asyncio.wait_for(self.pc.close(), 5.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class MediaPeer:
    """Holds the running sessions and the latest results; :meth:`router` is the HTTP face."""

    def __init__(
        self, on_result: Callable[[dict[str, Any]], None] | None = None, config: MediaPeerConfig | None = None
    ) -> None:
        self.config = config or MediaPeerConfig()
        self.on_result = on_result
        self.sessions: dict[str, PeerSession] = {}
        self.latest: dict[str, dict[str, Any]] = {}  # device_id -> result dict
        self.counters = {
            "offers": 0,
            "rejected_oversized": 0,
            "rejected_invalid": 0,
            "rejected_busy": 0,
            "answer_failed": 0,
            "results": 0,
            "callback_errors": 0,
        }
        self._runners: set[asyncio.Task[None]] = set()

    def _finished(self, session: PeerSession) -> None:
        assert session.result is not None
        # the one media-path result type (issue 13): handed on in its JSON form, which the engine
        # decodes back into a PathReport (collector/engine/media.py)
        report = msgspec.structs.replace(session.result, session_id=session.id, started_at=session.started_at)
        result: dict[str, Any] = msgspec.to_builtins(report)
        self.latest.pop(session.offer.device_id, None)
        self.latest[session.offer.device_id] = result
        while len(self.latest) > self.config.keep_results:
            self.latest.pop(next(iter(self.latest)))
        self.counters["results"] += 1
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                self.counters["callback_errors"] += 1
                log.exception("media path: on_result failed")

    async def offer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer an offer: (HTTP status, JSON body)."""
        self.counters["offers"] += 1
        if len(body) > MAX_SDP_BYTES:
            self.counters["rejected_oversized"] += 1
            log.info("media path: offer of %d bytes rejected (limit %d)", len(body), MAX_SDP_BYTES)
            return 413, {"error": "offer too large", "limit_bytes": MAX_SDP_BYTES}
        try:
            offer = msgspec.json.decode(body, type=Offer)
        except msgspec.DecodeError as exc:
            self.counters["rejected_invalid"] += 1
            log.info("media path: invalid offer: %s", exc)
            return 400, {"error": f"invalid offer: {exc}"[:300]}
        if not offer.sdp.startswith("v=0") or "\nm=" not in offer.sdp:
            self.counters["rejected_invalid"] += 1
            log.info("media path: offer from %s is not an SDP with media", offer.device_id)
            return 400, {"error": "invalid offer: not an SDP offer with media"}
        if len(self.sessions) >= self.config.max_peers:
            self.counters["rejected_busy"] += 1
            return 503, {"error": "too many media path checks at once, try again in a minute"}
        session = PeerSession(offer, self.config, self._finished)
        self.sessions[session.id] = session
        try:
            answer = await asyncio.wait_for(session.answer(), self.config.answer_timeout_s)
        except Exception as exc:  # bad SDP, or ICE gathering hung
            self.counters["answer_failed"] += 1
            log.info("media path %s: cannot answer: %s", offer.device_id, exc or type(exc).__name__)
            self.sessions.pop(session.id, None)
            await session.close()
            return 400, {"error": "cannot answer this offer"}
        runner = asyncio.ensure_future(self._run(session))
        self._runners.add(runner)
        runner.add_done_callback(self._runners.discard)
        return 200, {**answer, "session_id": session.id}

    async def _run(self, session: PeerSession) -> None:
        try:
            await session.run()
        except Exception:
            log.exception("media path %s: session failed", session.offer.device_id)
            with contextlib.suppress(Exception):
                await session.close()
        finally:
            self.sessions.pop(session.id, None)

    async def aclose(self) -> None:
        """Close every peer connection (collector shutdown)."""
        for runner in list(self._runners):
            runner.cancel()
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.close()
        self.sessions.clear()

    def router(self) -> APIRouter:
        api = APIRouter()

        @api.post("/offer")
        async def post_offer(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_SDP_BYTES:
                self.counters["offers"] += 1
                self.counters["rejected_oversized"] += 1
                return _json(413, {"error": "offer too large", "limit_bytes": MAX_SDP_BYTES})
            body = await _read_limited(request, MAX_SDP_BYTES + 1)
            status, payload = await self.offer(body)
            return _json(status, payload)

        @api.get("/status")
        async def get_status() -> Response:
            return _json(200, {"open_peers": len(self.sessions), "counters": self.counters})

        @api.get("/results")
        async def get_results() -> Response:
            return _json(200, {"results": list(self.latest.values())})

        @api.get("/results/{device_id}")
        async def get_result(device_id: str) -> Response:
            found = self.latest.get(device_id)
            return _json(200, found) if found else _json(404, {"error": "no result for this device"})

        return api


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


def _json(status: int, payload: Any) -> Response:
    return Response(content=msgspec.json.encode(payload), status_code=status, media_type="application/json")


def router(on_result: Callable[[dict[str, Any]], None], config: MediaPeerConfig | None = None) -> APIRouter:
    """The media path's HTTP API. Mount at ``/api/mediapath``. The :class:`MediaPeer` behind it (latest
    results in ``.latest``, ``await .aclose()`` at shutdown) is ``api.media_peer``."""
    peer = MediaPeer(on_result, config)
    api = peer.router()
    api.media_peer = peer  # type: ignore[attr-defined]
    return api
