"""The camera during the meeting (issue 14; H1, H4): one frame every few seconds, checked for black and
frozen, where the OS lets a second program read the camera while the meeting program uses it.

Per OS (docs/media.md, "Camera during the meeting"):

* macOS: AVFoundation hands the same camera to several processes at once, so the agent opens it
  (OpenCV's AVFoundation backend), reads one frame and releases it, every ``every_s``.
* Windows: only the frame server's shared mode (WinRT ``MediaCapture`` with
  ``SharingMode = SharedReadOnly``) reads a camera that Teams holds; OpenCV's DirectShow and Media
  Foundation backends open it exclusively. The agent has no WinRT binding, so on Windows it keeps
  reporting ``in_use`` only (not built: it cannot be tested without a Windows machine and camera).
* Linux: a V4L2 camera that another program streams from cannot be opened a second time: ``in_use``
  only, as before.
* ``source`` (a file or stream URL) runs the same frame path on any OS: the tests, and a camera that
  is shared through a loopback stream.

Numbers only: the mean luma and the largest block change between two sampled frames; the frame is
dropped at once. Black: mean luma <= 20 (testrtc) on ``bad_after`` samples in a row. Frozen: the
picture identical within the sensor's noise (no block of an 8x8 grid changes by more than
``frozen_motion_luma``, SSIM > 0.985) on ``frozen_after`` comparisons in a row: frames seconds apart
from a live camera always differ by more. A frame that cannot be read is counted and logged, and
the state stays ``in_use`` (a denied permission must not make a member "failing").
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from likavillkor.config import Section
from likavillkor.media.limits import FrameLimits

log = logging.getLogger(__name__)


class CamWatchConfig(Section):
    """``[camwatch]``: a frame every few seconds beside the meeting program, where the OS shares it."""

    enabled: bool = True
    every_s: Annotated[float, msgspec.Meta(ge=1, le=600)] = 5.0
    #: consecutive black samples before the state says black
    bad_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    #: consecutive unchanged comparisons before the state says frozen (3 x 5 s = 15 s of one picture)
    frozen_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    device: int | str = 0
    #: a file or stream URL to read instead of the camera (tests; a shared loopback stream)
    source: str | None = None
    limits: FrameLimits = msgspec.field(default_factory=FrameLimits)


def shared_access(platform: str, cfg: CamWatchConfig) -> bool:
    """Whether a second program may read the camera here while the meeting program uses it."""
    return cfg.source is not None or platform == "darwin"


@dataclass(frozen=True, slots=True)
class CamSample:
    state: str  # "in_use" (video on, picture fine), "black", "frozen"
    luma: float
    motion: float | None  # largest mean block change against the previous sample, luma levels


class SparseJudge:
    """Black and frozen over frames seconds apart. Pure (numpy/OpenCV, imported with this class)."""

    def __init__(self, cfg: CamWatchConfig) -> None:
        self.cfg = cfg
        self._prev: Any = None
        self._black = 0
        self._still = 0

    def add(self, frame: Any) -> CamSample:
        from likavillkor.media.frames import SSIM_SIZE, is_black, luma, mean_luma, motion, shrink, ssim

        lim = self.cfg.limits
        tiny = shrink(shrink(luma(frame), (320, 240)), SSIM_SIZE)
        mean = mean_luma(tiny)
        black = is_black(mean, lim)
        moved = None
        still = False
        if self._prev is not None:
            moved = motion(self._prev, tiny)
            still = not black and moved < lim.frozen_motion_luma and ssim(self._prev, tiny) > lim.frozen_ssim
        self._prev = tiny
        self._black = self._black + 1 if black else 0
        self._still = self._still + 1 if still else 0
        state = "in_use"
        if self._black >= self.cfg.bad_after:
            state = "black"
        elif self._still >= self.cfg.frozen_after:
            state = "frozen"
        return CamSample(state=state, luma=round(mean, 1), motion=None if moved is None else round(moved, 1))


def _open(cfg: CamWatchConfig) -> Any:
    import cv2

    if cfg.source is not None:
        return cv2.VideoCapture(cfg.source, cv2.CAP_FFMPEG)
    return cv2.VideoCapture(cfg.device, int(cv2.CAP_AVFOUNDATION) if sys.platform == "darwin" else int(cv2.CAP_ANY))


def grab_one(cfg: CamWatchConfig, media_s: float) -> Any:
    """Open, read one frame, release (``finally``). A file source is read at ``media_s`` (looped)."""
    import cv2

    from agent.media.worker import mark_open, mark_released

    if cfg.source is not None and "://" not in cfg.source and not os.path.exists(cfg.source):
        raise FileNotFoundError(cfg.source)
    mark_open("camera")
    cap = _open(cfg)
    try:
        if not cap.isOpened():
            raise OSError("the camera could not be opened beside the meeting program")
        if cfg.source is not None and "://" not in cfg.source:
            length_s = (cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) / (cap.get(cv2.CAP_PROP_FPS) or 1)
            cap.set(cv2.CAP_PROP_POS_MSEC, 1000 * (media_s % length_s if length_s > 0 else 0))
        ok, frame = cap.read()
        if not ok or frame is None:
            raise OSError("no frame")
        return frame
    finally:
        cap.release()
        mark_released("camera")


class CamWatch:
    """Grabs a frame every ``every_s`` in a daemon thread; :meth:`read` gives the latest numbers."""

    def __init__(
        self,
        cfg: CamWatchConfig,
        *,
        grab: Callable[[CamWatchConfig, float], Any] = grab_one,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.grab = grab
        self.clock = clock
        self.judge = SparseJudge(cfg)
        self.problems: collections.Counter[str] = collections.Counter()
        self._latest: tuple[float, CamSample] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="camwatch", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        t0 = self.clock()
        while not self._stop.is_set():
            try:
                frame = self.grab(self.cfg, self.clock() - t0)
                sample = self.judge.add(frame)
                del frame  # numbers only: the picture is not kept
                with self._lock:
                    self._latest = (self.clock(), sample)
            except Exception as exc:  # a camera the OS will not share now: counted, the state stays in_use
                self.problems["grab"] += 1
                if self.problems["grab"] == 1:
                    log.warning("camwatch: no frame beside the meeting program: %s", exc)
            self._stop.wait(self.cfg.every_s)

    def read(self) -> dict[str, Any]:
        """``camera`` (black/frozen/in_use), ``camera_luma``, ``camera_motion`` from a sample no older
        than three periods; nothing otherwise."""
        with self._lock:
            latest = self._latest
        if latest is None or self.clock() - latest[0] > 3 * self.cfg.every_s:
            return {}
        s = latest[1]
        return {"camera": s.state, "camera_luma": s.luma, "camera_motion": s.motion}
