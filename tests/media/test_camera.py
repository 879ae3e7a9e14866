"""Camera capture paths: a file source, missing devices, a source that never answers, a stream that
disappears mid-check, the monitor-mode state, and the self-test check (H1, H4, H13). The capture is
always released, also on timeout (the member's camera light must not stay on)."""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.checks.base import CheckContext
from agent.checks.media import check_camera
from agent.media.camera import CameraConfig, CameraState, camera_state, capture
from agent.media.worker import open_count
from likavillkor.wire import CheckStatus
from tests.media.clips import write_clip

pytestmark = pytest.mark.anyio


class _Cfg:
    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera


async def test_file_source_is_captured_and_released(clip: Path) -> None:
    result = await capture(CameraConfig(source=str(clip), seconds=8.0), time.monotonic() + 20)
    assert result.state is CameraState.OK
    assert result.report is not None and result.report.frames == 120
    assert result.report.black_runs[0].start_s == pytest.approx(2.0)
    assert open_count("camera") == 0


async def test_capture_stops_after_the_seconds_asked(clip: Path) -> None:
    result = await capture(CameraConfig(source=str(clip), seconds=1.0), time.monotonic() + 20)
    assert result.report is not None and result.report.frames == 15


async def test_missing_file_and_missing_camera_are_absent_at_once(tmp_path: Path) -> None:
    t0 = time.monotonic()
    assert (await capture(CameraConfig(source=str(tmp_path / "none.avi")), t0 + 5)).state is CameraState.ABSENT
    assert (await capture(CameraConfig(device=7), t0 + 5)).state is CameraState.ABSENT  # no /dev/video7 here
    assert (await capture(CameraConfig(device="/dev/video-nope"), t0 + 5)).state is CameraState.ABSENT
    assert time.monotonic() - t0 < 2.0
    assert open_count("camera") == 0


async def test_a_source_that_never_answers_times_out_and_is_released_later(tmp_path: Path) -> None:
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)  # opening it blocks until a writer comes: a camera that hangs in open()
    t0 = time.monotonic()
    result = await capture(CameraConfig(source=str(fifo), seconds=2.0), t0 + 1.0)
    waited = time.monotonic() - t0
    assert result.state is CameraState.TIMEOUT
    assert 0.9 <= waited < 2.5
    assert open_count("camera") == 1  # the worker still hangs in open()
    # unblock the hung open(): the worker must then release the capture by itself
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO, not a hang, if nobody reads
    os.write(fd, b"not a video")
    os.close(fd)
    end = time.monotonic() + 10
    while (open_count("camera") or _workers()) and time.monotonic() < end:
        time.sleep(0.05)
    assert open_count("camera") == 0
    assert not _workers()


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "camera-capture"]


@pytest.fixture
def truncated_stream(tmp_path: Path) -> Iterator[str]:
    """An HTTP stream that ends after 1 s of video: a camera that disappears mid-check."""
    write_clip(tmp_path / "short.avi", 320, 240, seconds=1.0)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/short.avi"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_stream_that_disappears_is_lost(truncated_stream: str) -> None:
    result = await capture(
        CameraConfig(source=truncated_stream, width=320, height=240, seconds=3.0), time.monotonic() + 10
    )
    assert result.state is CameraState.LOST, result
    assert result.report is not None and 10 <= result.report.frames <= 15
    assert open_count("camera") == 0


def test_camera_state_never_opens_and_reads_holders(tmp_path: Path) -> None:
    dev, proc = tmp_path / "dev", tmp_path / "proc"
    dev.mkdir()
    (proc / "4242" / "fd").mkdir(parents=True)
    assert camera_state(str(dev), str(proc)) == "absent"
    (dev / "video0").write_bytes(b"")
    assert camera_state(str(dev), str(proc)) == "ok"
    os.symlink(dev / "video0", proc / "4242" / "fd" / "7")  # Teams holds the camera: video is on
    assert camera_state(str(dev), str(proc)) == "in_use"
    assert camera_state() == "absent"  # this machine has no camera


async def test_check_camera_on_the_clip(clip: Path) -> None:
    ctx = CheckContext(config=_Cfg(CameraConfig(source=str(clip), seconds=8.0)), deadline=time.monotonic() + 30)
    findings = {f.id: f for f in await check_camera(ctx)}
    assert findings["camera.device"].status is CheckStatus.PASS
    assert findings["camera.black"].status is CheckStatus.WARN and findings["camera.black"].rule == "H4"
    assert findings["camera.frozen"].status is CheckStatus.WARN
    assert "face" not in {f.split(".")[1] for f in findings}  # the photo segment was seen
    wire = findings["camera.black"].to_wire("sv")
    assert wire.summary and "ta bort skyddet" in wire.summary


async def test_check_camera_resolution_not_the_one_asked_for(tmp_path: Path) -> None:
    small = write_clip(tmp_path / "small.avi", 320, 240, seconds=1.0)
    ctx = CheckContext(config=_Cfg(CameraConfig(source=str(small), seconds=1.0)), deadline=time.monotonic() + 10)
    findings = {f.id: f for f in await check_camera(ctx)}
    assert findings["camera.resolution"].status is CheckStatus.FAIL
    assert findings["camera.resolution"].value == "320x240"


async def test_check_camera_without_a_camera_and_during_a_session() -> None:
    absent = await check_camera(CheckContext(config=_Cfg(CameraConfig()), deadline=time.monotonic() + 5))
    assert [(f.id, f.status, f.value) for f in absent] == [("camera.device", CheckStatus.FAIL, "absent")]
    assert "anslut kameran" in absent[0].advice["sv"]
    during = await check_camera(
        CheckContext(config=_Cfg(CameraConfig()), deadline=time.monotonic() + 5, in_session=True)
    )
    assert [f.id for f in during] == ["camera.device"]  # state only: the camera is never grabbed in a session


async def test_a_camera_that_opens_but_delivers_nothing(tmp_path: Path) -> None:
    import cv2

    empty = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter.fourcc(*"MJPG"), 15, (640, 480)).release()  # header, no frames
    result = await capture(CameraConfig(source=str(empty)), time.monotonic() + 5)
    assert result.state is CameraState.NO_FRAMES
    findings = await check_camera(
        CheckContext(config=_Cfg(CameraConfig(source=str(empty))), deadline=time.monotonic() + 5)
    )
    assert [(f.id, f.status, f.value) for f in findings] == [("camera.device", CheckStatus.FAIL, "no_frames")]
    assert open_count("camera") == 0
