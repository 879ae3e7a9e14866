"""The agent's end of the media path check (H1, H4): a WebRTC call to the collector's media peer.

The agent offers a connection (HTTP ``POST {collector}/api/mediapath/offer``), sends its camera and
microphone (or files, or a generated pattern and tone) for ``seconds``, and drains and checks the
collector's test stream (pattern + 1 kHz tone: the member must see and hear the room, H1). Then it
says ``done`` on the data channel and waits briefly for the collector's view of what arrived.

ICE servers always come from the config (empty = host candidates only), never aiortc's default
public STUN server. The peer connection and the media sources are closed in ``finally`` with a
deadline, whether ICE completed or not. Run alone::

    python -m agent.media.mediapath --collector http://127.0.0.1:8080 --device-id dev1 \
        --video clip.avi --audio voice.wav --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agent.media.worker import mark_open, mark_released
from likavillkor.config import Section
from likavillkor.media.findings import Issue, Verdict, worst
from likavillkor.media.report import Direction, PathReport, complete

log = logging.getLogger(__name__)


class IceServer(Section):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class MediaPathConfig(Section):
    #: how long media flows (the handbook's "stable" needs a few seconds; tests use less)
    seconds: float = 10.0
    #: STUN/TURN servers; empty = host candidates only. Never aiortc's default public STUN.
    ice_servers: list[IceServer] = msgspec.field(default_factory=list)
    #: the collector's offer endpoint, relative to its base URL
    endpoint: str = "/api/mediapath/offer"
    #: video to send: a file/URL (at least ``seconds`` long: it is not looped); None = the camera
    #: (``camera_device``), or a generated pattern if there is none
    video_source: str | None = None
    #: sound to send: a file/URL; None = the microphone, or a tone if there is none
    audio_source: str | None = None
    camera_device: str | None = None  # e.g. /dev/video0, "video=Integrated Camera", "0"
    microphone_device: str | None = None  # e.g. default, "audio=Microphone", ":0"
    width: int = 640
    height: int = 480
    fps: float = 15.0
    http_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    #: how long to wait for the collector's result after "done"
    result_timeout_s: float = 5.0


@dataclass(slots=True)
class PathOutcome:
    """Both directions: ``up`` as the collector saw the member, ``down`` as the member saw the room."""

    up: PathReport | None
    down: PathReport
    verdict: Verdict
    findings: list[Issue] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "up": msgspec.to_builtins(self.up) if self.up else None,
            "down": msgspec.to_builtins(self.down),
            "verdict": self.verdict.value,
            "error": self.error,
            "findings": msgspec.to_builtins(self.findings),
        }


def rtc_configuration(servers: list[IceServer]) -> Any:
    from aiortc import RTCConfiguration, RTCIceServer

    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers]
    )


def _platform_player(device: str, kind: str, config: MediaPathConfig) -> Any:
    from aiortc.contrib.media import MediaPlayer

    if sys.platform.startswith("linux"):
        fmt = "v4l2" if kind == "video" else "alsa"
    elif sys.platform == "win32":
        fmt = "dshow"
    else:
        fmt = "avfoundation"
    options = (
        {"video_size": f"{config.width}x{config.height}", "framerate": str(int(config.fps))} if kind == "video" else {}
    )
    return MediaPlayer(device, format=fmt, options=options)


def open_sources(config: MediaPathConfig) -> tuple[Any, Any, list[Any]]:
    """(video track, audio track, players to stop). Falls back to a generated pattern / tone."""
    from aiortc.contrib.media import MediaPlayer

    from likavillkor.media.tracks import PatternTrack, ToneTrack

    players: list[Any] = []
    video = audio = None
    if config.video_source:
        # no loop: a looping file restarts its timestamps, which the VP8 encoder refuses
        player = MediaPlayer(config.video_source)
        players.append(player)
        video = player.video
    elif config.camera_device:
        with contextlib.suppress(Exception):
            player = _platform_player(config.camera_device, "video", config)
            players.append(player)
            video = player.video
    if config.audio_source:
        player = MediaPlayer(config.audio_source)
        players.append(player)
        audio = player.audio
    elif config.microphone_device:
        with contextlib.suppress(Exception):
            player = _platform_player(config.microphone_device, "audio", config)
            players.append(player)
            audio = player.audio
    return (video or PatternTrack(config.width, config.height, config.fps), audio or ToneTrack(), players)


async def run(
    collector_url: str,
    device_id: str,
    config: MediaPathConfig,
    *,
    meeting_id: str | None = None,
    deadline: float | None = None,
    credentials: tuple[str, str] | None = None,
) -> PathOutcome:
    """The media path check. Always answers by ``deadline`` (``time.monotonic()``) and closes the peer.
    ``credentials``: the device's broker credentials, sent as HTTP Basic with the offer (docs/web.md)."""
    import httpx
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from likavillkor.media.tracks import TONE_DBFS, TONE_HZ, AudioSink, VideoSink

    started = time.monotonic()
    deadline = deadline or started + config.seconds + config.connect_timeout_s + config.result_timeout_s + 10
    pc = RTCPeerConnection(rtc_configuration(config.ice_servers))
    mark_open("peer")
    players: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    vsink, asink = VideoSink(), AudioSink(max_seconds=config.seconds + 5)
    state: dict[str, Any] = {"connected": False, "up": None, "error": None}
    got_result = asyncio.Event()
    try:
        channel = pc.createDataChannel("mediapath")
        _wire(pc, channel, state, got_result, tasks, (vsink, asink))
        video, audio, players = open_sources(config)
        pc.addTrack(video)
        pc.addTrack(audio)
        await _within(pc.setLocalDescription(await pc.createOffer()), deadline)
        answer = await _post_offer(
            httpx, collector_url + config.endpoint, device_id, meeting_id, pc, config, credentials, deadline
        )
        await _within(pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"])), deadline)
        await _exchange(pc, channel, state, got_result, config, deadline)
    except (OSError, ValueError, TimeoutError, RuntimeError) as exc:
        state["error"] = f"{type(exc).__name__}: {exc}"[:200]
        log.info("media path failed: %s", state["error"])
    finally:
        await _close(pc, players, tasks)
        mark_released("peer")
    down = _down_report(vsink, asink, state, device_id, meeting_id, started, TONE_HZ, TONE_DBFS)
    up: PathReport | None = state["up"]
    findings = list(down.findings) + (list(up.findings) if up else [])
    verdict = worst(findings) if up is not None and down.connected else Verdict.FAILED
    if up is None and state["connected"] and state["error"] is None:
        state["error"] = "the collector sent no result"
    return PathOutcome(up=up, down=down, verdict=verdict, findings=findings, error=state["error"])


def _wire(
    pc: Any,
    channel: Any,
    state: dict[str, Any],
    got_result: asyncio.Event,
    tasks: list[asyncio.Task[None]],
    sinks: tuple[Any, Any],
) -> None:
    """The peer's callbacks: the collector's result on the data channel, its tracks into the sinks."""
    vsink, asink = sinks

    @channel.on("message")
    def on_message(message: object) -> None:
        if isinstance(message, str):
            try:
                state["up"] = msgspec.json.decode(message, type=PathReport)
            except msgspec.DecodeError as exc:
                log.info("media path: bad result from the collector: %s", exc)
            got_result.set()

    @pc.on("track")
    def on_track(track: Any) -> None:
        sink = vsink if track.kind == "video" else asink
        tasks.append(asyncio.ensure_future(sink.drain(track)))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState == "connected":
            state["connected"] = True


async def _exchange(
    pc: Any, channel: Any, state: dict[str, Any], got_result: asyncio.Event, config: MediaPathConfig, deadline: float
) -> None:
    """Wait for the connection, let media flow ``config.seconds``, then ask for the collector's result."""
    connect_by = min(deadline, time.monotonic() + config.connect_timeout_s)
    while not state["connected"] and time.monotonic() < connect_by and pc.connectionState != "failed":
        await asyncio.sleep(0.05)
    if state["connected"]:
        await asyncio.sleep(max(0.0, min(config.seconds, deadline - time.monotonic() - 1)))
        own = await _within(pc.getStats(), deadline)
        if channel.readyState == "open":
            channel.send("done")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    got_result.wait(), max(0.1, min(config.result_timeout_s, deadline - time.monotonic()))
                )
        state["stats"] = own
    else:
        state["error"] = "no ICE/DTLS connection to the collector"


def _down_report(
    vsink: Any,
    asink: Any,
    state: dict[str, Any],
    device_id: str,
    meeting_id: str | None,
    started: float,
    tone_hz: float,
    tone_dbfs: float,
) -> PathReport:
    from likavillkor.media.rtcstats import summarise

    net = summarise(state["stats"].values()) if state.get("stats") is not None else None
    video = vsink.report()
    audio = asink.report(tone_hz=tone_hz)
    report = PathReport(
        direction=Direction.DOWN,
        device_id=device_id,
        meeting_id=meeting_id,
        connected=bool(state["connected"]) and video.frames + audio.samples > 0,
        duration_s=round(time.monotonic() - started, 2),
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
        tone_dbfs=audio.tone_dbfs,
        loss_percent=_r(net.loss_percent if net else None),
        jitter_ms=_r(net.jitter_ms if net else None),
        rtt_ms=_r(net.rtt_ms if net else None),
        reason=state["error"],
        video=video,
        audio=audio,
    )
    return complete(report, expect_tone_dbfs=tone_dbfs)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _within(awaitable: Any, deadline: float) -> Any:
    return await asyncio.wait_for(awaitable, max(0.01, deadline - time.monotonic()))


async def _post_offer(
    httpx: Any,
    url: str,
    device_id: str,
    meeting_id: str | None,
    pc: Any,
    config: MediaPathConfig,
    credentials: tuple[str, str] | None,
    deadline: float,
) -> dict[str, str]:
    body = {
        "device_id": device_id,
        "meeting_id": meeting_id,
        "sdp": pc.localDescription.sdp,
        "type": pc.localDescription.type,
        "seconds": config.seconds,
    }
    if config.video_source or config.camera_device:
        body.update(width=config.width, height=config.height)
    timeout = max(0.1, min(config.http_timeout_s, deadline - time.monotonic()))
    try:
        async with httpx.AsyncClient(timeout=timeout, auth=credentials) as client:
            response = await client.post(url, json={k: v for k, v in body.items() if v is not None})
    except httpx.HTTPError as exc:
        raise OSError(f"cannot reach the collector's media peer: {exc}") from None
    if response.status_code in (401, 403):
        raise ValueError(
            f"the collector did not accept this device's credentials ([mqtt] username/password): "
            f"HTTP {response.status_code} {response.text[:100]}"
        )
    if response.status_code != 200:
        raise ValueError(f"the collector refused the offer: HTTP {response.status_code} {response.text[:100]}")
    answer = response.json()
    if not isinstance(answer, dict) or answer.get("type") != "answer" or not isinstance(answer.get("sdp"), str):
        raise ValueError("the collector's answer is not an SDP answer")
    return answer


async def _close(pc: Any, players: list[Any], tasks: list[asyncio.Task[None]]) -> None:
    for player in players:
        for track in (getattr(player, "video", None), getattr(player, "audio", None)):
            if track is not None:
                track.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pc.close(), 5.0)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="media path check against a collector (H1)")
    parser.add_argument("--collector", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--meeting-id")
    parser.add_argument("--video", help="video file to send instead of the camera")
    parser.add_argument("--audio", help="sound file to send instead of the microphone")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument(
        "--credentials",
        help="the device's credentials file (broker-credentials: [mqtt] username/password), sent as HTTP Basic",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = MediaPathConfig(
        seconds=args.seconds,
        video_source=args.video,
        audio_source=args.audio,
        width=args.width,
        height=args.height,
        fps=args.fps,
    )
    credentials = None
    if args.credentials:
        from agent.config import collector_credentials, load_agent_config

        credentials = collector_credentials(load_agent_config(args.credentials))
    outcome = asyncio.run(
        run(args.collector.rstrip("/"), args.device_id, config, meeting_id=args.meeting_id, credentials=credentials)
    )
    print(json.dumps(outcome.to_dict()))
    return 0 if outcome.verdict is not Verdict.FAILED else 1


if __name__ == "__main__":
    raise SystemExit(main())
