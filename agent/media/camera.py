"""Camera capture for the self-test (H1, H4, H13) and a cheap state for monitor mode.

:func:`capture` grabs ``seconds`` of video from a camera (index or device path) or from a file /
stream URL (``source``; every path accepts a file, for machines without a camera and for tests),
with a deadline, in a daemon thread, and ALWAYS releases the capture in ``finally``. A camera held
by Teams/Compodium during a session is ``in_use``: good news (video is on), not a fault.

:func:`camera_state` never opens the camera: on Linux it looks for ``/dev/video*`` and for
processes holding one open (``/proc/*/fd``); on Windows it reads the privacy consent store, where
an app using the webcam has ``LastUsedTimeStop == 0``; elsewhere it says ``unknown``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec

from agent.media.worker import DeadlineExceeded, mark_open, mark_released, run_with_deadline
from likavillkor.config import Section
from likavillkor.media.findings import VideoReport
from likavillkor.media.limits import FrameLimits

log = logging.getLogger(__name__)


class CameraState(StrEnum):
    OK = "ok"  # opened and delivered frames (or, for camera_state: present and idle)
    IN_USE = "in_use"  # held by another app (Teams/Compodium): video is on
    ABSENT = "absent"  # no such camera / file
    NO_FRAMES = "no_frames"  # opened but delivered nothing
    LOST = "lost"  # delivered frames, then disappeared mid-check
    TIMEOUT = "timeout"  # the deadline came before the camera answered
    ERROR = "error"  # could not be opened for another reason
    UNKNOWN = "unknown"  # camera_state on a platform where it cannot tell


class CameraConfig(Section):
    #: camera index (0 = first) or a device path (``/dev/video2``)
    device: int | str = 0
    #: a file or stream URL to read instead of the camera (no camera here; tests)
    source: str | None = None
    width: int = 640
    height: int = 480
    fps: float = 15.0
    seconds: float = 3.0
    detect_faces: bool = True
    limits: FrameLimits = msgspec.field(default_factory=FrameLimits)


@dataclass(slots=True)
class CameraResult:
    state: CameraState
    report: VideoReport | None = None
    detail: str = ""
    elapsed_s: float = 0.0


def _is_url(source: str) -> bool:
    return "://" in source


def device_path(device: int | str) -> str | None:
    """The Linux device node of a camera, or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    return device if isinstance(device, str) else f"/dev/video{device}"


def holders(device: str, proc_dir: str = "/proc") -> list[int]:
    """PIDs (other than ours) holding ``device`` open, from ``/proc/*/fd`` (ours and, as root, all)."""
    target = os.path.realpath(device)
    found: list[int] = []
    try:
        pids = [d for d in os.listdir(proc_dir) if d.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if int(pid) == os.getpid():
            continue
        fd_dir = os.path.join(proc_dir, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                    found.append(int(pid))
                    break
            except OSError:
                continue
    return found


def camera_state(dev_dir: str = "/dev", proc_dir: str = "/proc") -> str:
    """``in_use``, ``ok`` (present, idle) or ``absent`` — without ever opening the camera."""
    if sys.platform.startswith("linux"):
        devices = sorted(str(p) for p in Path(dev_dir).glob("video*"))
        if not devices:
            return CameraState.ABSENT.value
        held = any(holders(d, proc_dir) for d in devices)
        return (CameraState.IN_USE if held else CameraState.OK).value
    if sys.platform == "win32":
        return _windows_state()
    return CameraState.UNKNOWN.value


def _windows_state() -> str:  # pragma: no cover - Windows only
    import importlib

    winreg: Any = importlib.import_module("winreg")

    root = r"Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager\ConsentStore\webcam"

    def in_use(key: Any, depth: int) -> bool:
        try:
            stop, _ = winreg.QueryValueEx(key, "LastUsedTimeStop")
            start, _ = winreg.QueryValueEx(key, "LastUsedTimeStart")
            if stop == 0 and start:
                return True
        except OSError:
            pass
        if depth > 2:
            return False
        i = 0
        while True:
            try:
                name = winreg.EnumKey(key, i)
            except OSError:
                return False
            with winreg.OpenKey(key, name) as sub:
                if in_use(sub, depth + 1):
                    return True
            i += 1

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, root) as key:
            return (CameraState.IN_USE if in_use(key, 0) else CameraState.OK).value
    except OSError:
        return CameraState.UNKNOWN.value


def _backend() -> int:
    import cv2

    if sys.platform.startswith("linux"):
        return int(cv2.CAP_V4L2)
    if sys.platform == "win32":
        return int(cv2.CAP_DSHOW)
    if sys.platform == "darwin":
        return int(cv2.CAP_AVFOUNDATION)
    return int(cv2.CAP_ANY)


def _precheck(config: CameraConfig) -> CameraResult | None:
    """A clear answer before opening anything: a missing file or device node is ``absent``."""
    if config.source is not None:
        if not _is_url(config.source) and not os.path.exists(config.source):
            return CameraResult(CameraState.ABSENT, detail=f"no such file: {config.source}")
        return None
    node = device_path(config.device)
    if node is not None and not os.path.exists(node):
        return CameraResult(CameraState.ABSENT, detail=f"no camera at {node}")
    return None


def _busy(config: CameraConfig) -> bool:
    node = device_path(config.device) if config.source is None else None
    return bool(node and holders(node))


def capture_blocking(config: CameraConfig, deadline: float, stop: threading.Event) -> CameraResult:
    """Open, read ``config.seconds`` of frames, release. Runs in a worker thread."""
    import cv2

    from likavillkor.media.frames import FrameStats

    started = time.monotonic()
    early = _precheck(config)
    if early is not None:
        return early
    mark_open("camera")  # counted from the attempt: an open() that hangs may hold the device already
    cap = None
    try:
        if config.source is not None:
            cap = cv2.VideoCapture(config.source, cv2.CAP_FFMPEG)
        else:
            cap = cv2.VideoCapture(config.device, _backend())
        if not cap.isOpened():
            state = CameraState.IN_USE if _busy(config) else CameraState.ERROR
            return CameraResult(state, detail="could not open the camera")
        if config.source is None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
            cap.set(cv2.CAP_PROP_FPS, config.fps)
        stats = FrameStats(config.width, config.height, limits=config.limits, detect_faces=config.detect_faces)
        state, detail = _read_loop(cap, config, stats, deadline, stop)
        if state is CameraState.NO_FRAMES and _busy(config):
            state, detail = CameraState.IN_USE, "held by another application"
        return CameraResult(state, report=stats.report(), detail=detail, elapsed_s=time.monotonic() - started)
    finally:
        if cap is not None:
            cap.release()
        mark_released("camera")


def _read_loop(
    cap: object, config: CameraConfig, stats: object, deadline: float, stop: threading.Event
) -> tuple[CameraState, str]:
    """Read frames until ``seconds`` of media time, the deadline, a stop, or a failed read."""
    import cv2
    import numpy as np

    from likavillkor.media.frames import FrameStats

    assert isinstance(cap, cv2.VideoCapture) and isinstance(stats, FrameStats)
    is_file = config.source is not None and not _is_url(config.source)
    media_clock = config.source is not None
    file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if media_clock else 0.0
    t0 = time.monotonic()
    index = 0
    while not stop.is_set() and time.monotonic() < deadline:
        ok, frame = cap.read()
        now = time.monotonic()
        if not ok or frame is None:
            if index == 0:
                return CameraState.NO_FRAMES, "the camera opened but delivered no picture"
            if is_file:
                return CameraState.OK, "end of file"
            return CameraState.LOST, f"the camera stopped after {index} frames"
        t = index / file_fps if media_clock and file_fps > 0 else now - t0
        stats.add(np.asarray(frame, dtype=np.uint8), t, arrival_s=t)
        index += 1
        if t + (1.0 / file_fps if file_fps > 0 else 0.0) >= config.seconds:
            return CameraState.OK, ""
    if index == 0:
        return CameraState.TIMEOUT, "the camera did not answer in time"
    return CameraState.OK, "stopped at the deadline"


async def capture(config: CameraConfig, deadline: float) -> CameraResult:
    """Capture with a deadline (``time.monotonic()``): always answers by the deadline."""
    started = time.monotonic()
    try:
        return await run_with_deadline(
            lambda stop: capture_blocking(config, deadline, stop), deadline, "camera-capture"
        )
    except DeadlineExceeded:
        return CameraResult(
            CameraState.TIMEOUT, detail="the camera did not answer in time", elapsed_s=time.monotonic() - started
        )
    except Exception as exc:  # a driver error is a result, never a crash
        log.warning("camera capture failed: %s", exc)
        return CameraResult(CameraState.ERROR, detail=str(exc)[:200], elapsed_s=time.monotonic() - started)
