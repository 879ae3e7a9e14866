"""The media path between a real agent process and a real collector-side process over loopback,
aiortc on both ends (H1: the room sees and hears the member, the member sees and hears the room).

The collector side is a small uvicorn app mounting ``collector.peers.media.router`` at
``/api/mediapath`` (tests/media/mediapath_app.py); the agent side is ``python -m agent.media.mediapath``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request  # module level: FastAPI resolves the handler's annotations here

from tests.media.clips import speech_like, write_clip, write_wav
from tests.support.services import free_port, stop_pid, wait_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 5.0


@dataclass
class Collector:
    url: str
    results: Path

    def on_result_lines(self) -> list[dict[str, Any]]:
        if not self.results.exists():
            return []
        return [json.loads(line) for line in self.results.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    tmp = tmp_path_factory.mktemp("mediapath")
    port = free_port()
    env = {**os.environ, "MEDIAPATH_RESULTS": str(tmp / "results.jsonl"), "MEDIAPATH_CONNECT_TIMEOUT_S": "10"}
    log = (tmp / "collector.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.media.mediapath_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port("127.0.0.1", port, timeout=20)
        yield Collector(f"http://127.0.0.1:{port}", tmp / "results.jsonl")
    finally:
        stop_pid(proc)
        log.close()


@pytest.fixture(scope="module")
def session(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real call: the clip (clean, black 2-3 s, frozen 3-4 s, blurred) and speech at -25 dBFS."""
    tmp = tmp_path_factory.mktemp("agent")
    video = write_clip(tmp / "clip.avi", 320, 240, seconds=SECONDS)
    audio = write_wav(tmp / "voice.wav", speech_like(SECONDS, -25)).path
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.media.mediapath",
            "--collector",
            collector.url,
            "--device-id",
            "dev-media-1",
            "--meeting-id",
            "m1",
            "--video",
            str(video),
            "--audio",
            str(audio),
            "--seconds",
            str(SECONDS),
            "--width",
            "320",
            "--height",
            "240",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome


def overlaps(runs: list[dict[str, float]], start: float, end: float, tolerance: float = 0.35) -> bool:
    return any(
        r["start_s"] <= end + tolerance
        and r["end_s"] >= start - tolerance
        and r["start_s"] >= start - tolerance
        and r["end_s"] <= end + tolerance
        for r in runs
    )


def test_collector_sees_the_members_stream(session: dict[str, Any]) -> None:
    up = session["up"]
    assert up["connected"] is True
    assert up["fps"] == pytest.approx(15, abs=2.5)
    assert (up["width"], up["height"]) == (320, 240)
    assert up["frames"] >= 0.8 * 15 * SECONDS
    assert up["loss_percent"] is not None and up["loss_percent"] < 1.0
    assert up["jitter_ms"] is not None and 0 <= up["jitter_ms"] < 30
    # a mono source loses 3 dB: aiortc's Opus encoder upmixes mono to stereo with the centre at -3 dB
    assert up["audio_rms_dbfs"] == pytest.approx(-25 - 3.0, abs=1.5)


def test_collector_sees_the_black_and_frozen_segments_where_they_are(session: dict[str, Any]) -> None:
    up = session["up"]
    assert 12 <= up["black_frames"] <= 16 and overlaps(up["black_runs"], 2.0, 3.0)
    assert 10 <= up["frozen_frames"] <= 16 and overlaps(up["frozen_runs"], 3.0, 4.0)
    assert all(overlaps([r], 2.0, 3.0) for r in up["black_runs"])
    assert all(overlaps([r], 3.0, 4.0) for r in up["frozen_runs"])
    status = {f["id"]: f["status"] for f in up["findings"]}
    assert status["mediapath.up.video.black"] == "warn" and status["mediapath.up.video.frozen"] == "warn"
    assert status["mediapath.up.loss"] == "pass" and status["mediapath.up.video.fps"] == "pass"


def test_member_sees_and_hears_the_room(session: dict[str, Any]) -> None:
    down = session["down"]
    assert down["connected"] is True
    assert down["fps"] == pytest.approx(15, abs=2.5)
    assert (down["width"], down["height"]) == (320, 240)
    assert down["black_frames"] == 0 and down["frozen_frames"] <= 1
    # W3C freezes come from arrival times: on a loaded CI machine one scheduling stall of >= 150 ms
    # can happen, a broken stream gives many
    assert down["freezes"] <= 1, down["video"].get("freeze_runs")
    assert down["tone_dbfs"] == pytest.approx(-20, abs=1)  # the room's 1 kHz tone at -20 dBFS (stereo L = R)
    assert down["rtt_ms"] is not None and 0 < down["rtt_ms"] < 100  # agent as sender, RTCP remote-inbound
    assert down["loss_percent"] is not None and down["loss_percent"] < 1.0
    assert session["verdict"] == "degraded"  # the clip's black and frozen seconds are visible (warn)


def test_collector_hands_the_result_to_on_result_and_keeps_it(collector: Collector, session: dict[str, Any]) -> None:
    lines = [r for r in collector.on_result_lines() if r["device_id"] == "dev-media-1"]
    assert len(lines) == 1 and lines[0]["meeting_id"] == "m1"
    assert lines[0]["black_frames"] == session["up"]["black_frames"]
    latest = httpx.get(f"{collector.url}/api/mediapath/results/dev-media-1", timeout=5).json()
    assert latest["session_id"] == lines[0]["session_id"]
    assert httpx.get(f"{collector.url}/api/mediapath/results/nobody", timeout=5).status_code == 404


def test_oversized_and_invalid_offers(collector: Collector) -> None:
    big = {"device_id": "dev-x", "type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 20_000}
    assert httpx.post(f"{collector.url}/api/mediapath/offer", json=big, timeout=5).status_code == 413
    bad = httpx.post(f"{collector.url}/api/mediapath/offer", content=b"{not json", timeout=5)
    assert bad.status_code == 400 and "invalid offer" in bad.json()["error"]
    wrong = {"device_id": "../etc", "type": "offer", "sdp": "v=0"}
    assert httpx.post(f"{collector.url}/api/mediapath/offer", json=wrong, timeout=5).status_code == 400
    garbage = {"device_id": "dev-x", "type": "offer", "sdp": "this is no SDP"}
    assert httpx.post(f"{collector.url}/api/mediapath/offer", json=garbage, timeout=5).status_code == 400


def test_a_peer_that_never_completes_ice_is_closed_with_a_failed_result(collector: Collector) -> None:
    """An offer whose sender never applies the answer: the collector gives up after its connect timeout
    (10 s, the shipped one: 2 s was too short for ICE + DTLS on a loaded 2-core machine), reports
    verdict failed and closes the peer."""
    import asyncio

    from aiortc import RTCConfiguration, RTCPeerConnection

    from likavillkor.media.tracks import ToneTrack

    async def offer_only() -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTrack(ToneTrack())
            await pc.setLocalDescription(await pc.createOffer())
            body = {"device_id": "dev-silent", "type": "offer", "sdp": pc.localDescription.sdp, "seconds": 2}
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.post(f"{collector.url}/api/mediapath/offer", json=body)
            assert answer.status_code == 200 and answer.json()["type"] == "answer"
        finally:
            await pc.close()

    asyncio.run(offer_only())
    wait_until(
        lambda: httpx.get(f"{collector.url}/api/mediapath/results/dev-silent", timeout=5).status_code == 200,
        timeout=60,
        what="a result for the peer that never connected",
    )
    found = httpx.get(f"{collector.url}/api/mediapath/results/dev-silent", timeout=5).json()
    assert found["verdict"] == "failed" and found["connected"] is False
    assert found["findings"][0]["id"] == "mediapath.up.connect"


def test_agent_without_a_collector_fails_fast_with_a_reason() -> None:
    import asyncio

    from agent.media.mediapath import MediaPathConfig, run

    port = free_port()
    t0 = time.monotonic()
    outcome = asyncio.run(
        run(f"http://127.0.0.1:{port}", "dev-y", MediaPathConfig(seconds=2), deadline=time.monotonic() + 10)
    )
    assert outcome.verdict.value == "failed" and outcome.up is None
    assert outcome.error and "cannot reach" in outcome.error
    assert time.monotonic() - t0 < 5


class _Cfg:
    def __init__(self, mediapath: object) -> None:
        self.mediapath = mediapath
        self.device_id = "dev-check"

    def resolved_device_id(self) -> str:
        return self.device_id


def test_check_media_path_with_generated_streams_passes(collector: Collector) -> None:
    """No camera or microphone here and no files given: the agent sends its pattern and tone."""
    import asyncio

    from agent.checks.base import CheckContext
    from agent.checks.media import check_media_path
    from agent.media.mediapath import MediaPathConfig

    config = MediaPathConfig(seconds=2.0, width=320, height=240)
    ctx = CheckContext(config=_Cfg(config), deadline=time.monotonic() + 20, collector_url=collector.url)
    findings = asyncio.run(check_media_path(ctx))
    status = {f.id: f.status.value for f in findings}
    assert status["mediapath.up.video.fps"] == "pass" and status["mediapath.down.tone"] == "pass"
    assert status["mediapath.up.audio"] == "pass" and status["mediapath.up.loss"] == "pass"
    assert "mediapath.connect" not in status
    assert all(f.rule == "H1" or f.rule == "H4" for f in findings)
    assert {v for k, v in status.items() if not k.endswith((".frozen", ".freezes"))} == {"pass"}, status
    skipped = asyncio.run(check_media_path(CheckContext(config=_Cfg(config), deadline=time.monotonic() + 5)))
    assert [(f.id, f.status.value) for f in skipped] == [("mediapath.connect", "skipped")]


def test_collector_counts_and_closes_its_peers(collector: Collector, session: dict[str, Any]) -> None:
    status = httpx.get(f"{collector.url}/api/mediapath/status", timeout=5).json()
    assert status["counters"]["results"] >= 1
    # the ICE-less peer may still be waiting for its connect timeout
    wait_until(
        lambda: httpx.get(f"{collector.url}/api/mediapath/status", timeout=5).json()["open_peers"] == 0,
        timeout=60,
        what="no open peers",
    )


def test_agent_closes_a_peer_whose_ice_never_completes(tmp_path: Path) -> None:
    """A collector that answers and then vanishes (its peer closed at once): the agent gives up after
    its connect timeout, reports failed with the reason, and has closed its peer connection."""
    import asyncio

    import uvicorn
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from agent.media.mediapath import MediaPathConfig, run
    from agent.media.worker import open_count

    app = FastAPI()

    @app.post("/api/mediapath/offer")
    async def offer(request: Request) -> dict[str, str]:
        body = await request.json()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"sdp": pc.localDescription.sdp, "type": "answer"}
        await pc.close()  # nobody will answer the agent's connectivity checks
        return answer

    async def scenario() -> tuple[Any, float]:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        serving = asyncio.ensure_future(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.02)
            t0 = time.monotonic()
            outcome = await run(
                f"http://127.0.0.1:{port}",
                "dev-z",
                MediaPathConfig(seconds=2, connect_timeout_s=2),
                deadline=time.monotonic() + 15,
            )
            return outcome, time.monotonic() - t0
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)

    outcome, elapsed = asyncio.run(scenario())
    assert outcome.verdict.value == "failed" and outcome.up is None
    assert outcome.error == "no ICE/DTLS connection to the collector"
    assert elapsed < 2 + 6
    assert open_count("peer") == 0
    assert outcome.down.findings[0].id == "mediapath.down.connect"


def test_ice_servers_are_always_explicit() -> None:
    """aiortc falls back to a public Google STUN server when iceServers is None: both ends always pass
    the configured list, empty meaning host candidates only."""
    from agent.media import mediapath
    from collector.peers import media as media_peer

    for module in (mediapath, media_peer):
        assert module.rtc_configuration([]).iceServers == []
        turn = module.IceServer(urls=["turn:turn.kommun.example:3478"], username="u", credential="c")
        (server,) = module.rtc_configuration([turn]).iceServers
        assert (server.urls, server.username, server.credential) == (["turn:turn.kommun.example:3478"], "u", "c")
