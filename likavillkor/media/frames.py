"""Per-frame video checks on the luma plane, and an accumulator over a check (H1, H4).

Pure: frames in, numbers out, times passed in. Heavy (numpy, OpenCV): import on demand.

* black: mean luma (0.21 R + 0.72 G + 0.07 B) <= 20/255 (webrtc/testrtc);
* frozen: SSIM against the previous frame > 0.985 (testrtc), on a 160x120 copy of the luma plane,
  and no 20x15 block of it changed by more than the sensor's noise — only on a frame that could
  show movement: one cause per frame, ranked black > dark / over-exposed > blurred > frozen
  (issue 14: a dim or smeared picture has a high SSIM although it moves);
* blur: variance of the Laplacian on the 320x240 luma plane;
* exposure: share of dark / clipped pixels in the histogram;
* W3C freezes: a gap between frame arrivals >= max(3 x average frame duration, average + 150 ms)
  (webrtc-stats ``freezeCount``), the average taken over the frames before the gap;
* faces: OpenCV's Haar cascade, at most once per ``face_interval_s`` (H4: identification).

The budget is <= 2 ms per 640x480 frame without face detection (``bench/bench_frames.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from likavillkor.media.findings import Segment, VideoReport
from likavillkor.media.limits import FrameLimits

Image = npt.NDArray[np.uint8]
Frame = npt.NDArray[Any]  # what callers pass in: uint8 BGR or luma, as OpenCV/PyAV hand it out

ANALYSIS_SIZE = (320, 240)  # luma plane for blur, exposure, faces
SSIM_SIZE = (160, 120)  # luma plane for SSIM
# BGR order: 0.07 B + 0.72 G + 0.21 R (testrtc's luma weights)
_LUMA_BGR = np.array([[0.07, 0.72, 0.21]], dtype=np.float32)
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
# limited-range video Y (16..235) to full range (0..255), for decoded YUV frames
LIMITED_TO_FULL = np.clip((np.arange(256) - 16) * 255.0 / 219.0, 0, 255).astype(np.uint8)


class Exposure(StrEnum):
    OK = "ok"
    UNDER = "under"
    OVER = "over"


def luma(frame: Frame) -> Image:
    """The luma plane of a frame: a 2-D array is taken as luma already, a 3-D one as BGR."""
    if frame.ndim == 2:
        return np.asarray(frame, dtype=np.uint8)
    if frame.ndim == 3 and frame.shape[2] >= 3:
        return np.asarray(cv2.transform(frame[:, :, :3], _LUMA_BGR), dtype=np.uint8)
    raise ValueError(f"not an image: shape {frame.shape}")


def shrink(plane: Image, size: tuple[int, int]) -> Image:
    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    return np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def mean_luma(plane: Image) -> float:
    return float(cv2.mean(plane)[0])


def is_black(mean: float, limits: FrameLimits) -> bool:
    return mean <= limits.black_luma


def ssim(a: Image, b: Image) -> float:
    """Mean structural similarity of two equally sized luma planes (Gaussian 7x7, sigma 1.5)."""
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    blur = (7, 7)
    mx = cv2.GaussianBlur(x, blur, 1.5)
    my = cv2.GaussianBlur(y, blur, 1.5)
    mx2, my2, mxy = mx * mx, my * my, mx * my
    sx = cv2.GaussianBlur(x * x, blur, 1.5) - mx2
    sy = cv2.GaussianBlur(y * y, blur, 1.5) - my2
    sxy = cv2.GaussianBlur(x * y, blur, 1.5) - mxy
    num = (2 * mxy + _C1) * (2 * sxy + _C2)
    den = (mx2 + my2 + _C1) * (sx + sy + _C2)
    return float(cv2.mean(num / den)[0])


MOTION_GRID = (8, 8)  # blocks across and down the 160x120 plane for the motion test


def motion(a: Image, b: Image) -> float:
    """The largest mean absolute luma change of any block of an 8x8 grid between two equally
    sized planes. Sensor noise averages out within a block (about 1 level on a live camera); a
    codec refining a still picture about 4; a moving hand, face or bar changes its blocks by 15 or
    more, however dim or smeared the picture."""
    diff = cv2.absdiff(a, b)
    blocks = cv2.resize(diff, MOTION_GRID, interpolation=cv2.INTER_AREA)
    return float(blocks.max())


def blur_variance(plane: Image) -> float:
    """Variance of the Laplacian: low means few edges (out of focus, smeared, covered)."""
    _mean, std = cv2.meanStdDev(cv2.Laplacian(plane, cv2.CV_16S))
    return float(std[0][0]) ** 2


def exposure(plane: Image, mean: float, limits: FrameLimits) -> Exposure:
    hist = cv2.calcHist([plane], [0], None, [256], [0, 256]).ravel()
    total = float(hist.sum()) or 1.0
    dark = float(hist[:31].sum()) / total
    bright = float(hist[250:].sum()) / total
    if bright > limits.bright_pixel_ratio:
        return Exposure.OVER
    if mean < limits.dark_luma or dark > limits.dark_pixel_ratio:
        return Exposure.UNDER
    return Exposure.OK


@dataclass(slots=True)
class FrameCheck:
    """What one frame showed."""

    t_s: float
    width: int
    height: int
    mean_luma: float
    black: bool
    frozen: bool
    ssim: float | None
    blur_var: float
    blurred: bool
    exposure: Exposure
    faces: int | None = None  # None: detection did not run on this frame


class FaceDetector:
    """OpenCV's frontal-face Haar cascade (shipped in ``cv2.data``)."""

    def __init__(self) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path}")

    def count(self, plane: Frame) -> int:
        found = self._cascade.detectMultiScale(plane, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        return len(found)


def runs(times: Sequence[float], flags: Sequence[bool], frame_s: float) -> list[Segment]:
    """Consecutive flagged frames as segments [first frame's time, last frame's time + frame_s)."""
    out: list[Segment] = []
    start: int | None = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append(
                Segment(start_s=round(times[start], 3), end_s=round(times[i - 1] + frame_s, 3), frames=i - start)
            )
            start = None
    return out


def w3c_freezes(arrivals: Sequence[float], history: int = 30) -> list[Segment]:
    """Freezes as webrtc-stats defines them: an inter-frame gap >= max(3 x avg, avg + 150 ms),
    with the average frame duration over up to ``history`` gaps before this one."""
    out: list[Segment] = []
    gaps: list[float] = []
    for prev, cur in itertools.pairwise(arrivals):
        gap = cur - prev
        if len(gaps) >= 2:
            avg = sum(gaps[-history:]) / len(gaps[-history:])
            if gap >= max(3 * avg, avg + 0.150):
                out.append(Segment(start_s=round(prev, 3), end_s=round(cur, 3), frames=0))
                continue  # a freeze does not feed the average it is judged against
        gaps.append(gap)
    return out


@dataclass
class FrameStats:
    """Accumulates :class:`FrameCheck` over one check and summarises it as a :class:`VideoReport`.

    ``add(frame, t_s)`` analyses a frame shown at media time ``t_s`` (seconds); ``arrival_s`` is
    when it arrived (for W3C freezes), defaulting to ``t_s``.
    """

    requested_width: int | None = None
    requested_height: int | None = None
    limits: FrameLimits = field(default_factory=FrameLimits)
    detect_faces: bool = True
    checks: list[FrameCheck] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    _prev_small: Image | None = None
    _prev_tiny: Image | None = None
    _last_face_t: float | None = None
    _faces: FaceDetector | None = None

    def add(self, frame: Frame, t_s: float, arrival_s: float | None = None) -> FrameCheck:
        check = self._analyse(luma(frame), t_s)
        self.checks.append(check)
        self.arrivals.append(t_s if arrival_s is None else arrival_s)
        return check

    def _analyse(self, plane: Image, t_s: float) -> FrameCheck:
        height, width = plane.shape[:2]
        small = shrink(plane, ANALYSIS_SIZE)
        tiny = shrink(small, SSIM_SIZE)
        mean = mean_luma(tiny)
        black = is_black(mean, self.limits)
        similarity = ssim(self._prev_small, tiny) if self._prev_small is not None else None
        self._prev_small = tiny
        blur = blur_variance(small)
        lit = Exposure.OK if black else exposure(small, mean, self.limits)
        # one cause per frame, ranked so the advice fixes the real problem first (issue 14):
        # black, then too dark / over-exposed, then blurred, and frozen only on a picture that could
        # show movement (lit and sharp: a dim or smeared picture has a high SSIM although it moves)
        # and does not (no part of it changes by more than the sensor's noise)
        blurred = not black and lit is Exposure.OK and blur < self.limits.blur_laplacian_var
        clear = not black and lit is Exposure.OK and not blurred
        frozen = (
            clear
            and similarity is not None
            and similarity > self.limits.frozen_ssim
            and (self._prev_tiny is not None and motion(self._prev_tiny, tiny) < self.limits.frozen_motion_luma)
        )
        self._prev_tiny = tiny
        faces = self._maybe_faces(small, t_s) if clear else None
        return FrameCheck(
            t_s=t_s,
            width=width,
            height=height,
            mean_luma=mean,
            black=black,
            frozen=frozen,
            ssim=similarity,
            blur_var=blur,
            blurred=blurred,
            exposure=lit,
            faces=faces,
        )

    def _maybe_faces(self, small: Image, t_s: float) -> int | None:
        if not self.detect_faces:
            return None
        if self._last_face_t is not None and t_s - self._last_face_t < self.limits.face_interval_s:
            return None
        if self._faces is None:
            self._faces = FaceDetector()
        self._last_face_t = t_s
        return self._faces.count(small)

    def report(self) -> VideoReport:
        return summarise(self.checks, self.arrivals, self.requested_width, self.requested_height, self.limits)


def summarise(
    checks: Sequence[FrameCheck],
    arrivals: Sequence[float],
    requested_width: int | None,
    requested_height: int | None,
    limits: FrameLimits,
) -> VideoReport:
    """The numbers of a check: frame rate, resolution, black/frozen/blurred counts and segments."""
    n = len(checks)
    if n == 0:
        return VideoReport(frames=0, requested_width=requested_width, requested_height=requested_height)
    times = [c.t_s for c in checks]
    span = times[-1] - times[0]
    fps = (n - 1) / span if n > 1 and span > 0 else None
    frame_s = 1.0 / fps if fps else 0.0
    width, height = checks[-1].width, checks[-1].height
    face_checks = [c.faces for c in checks if c.faces is not None]
    freezes = w3c_freezes(arrivals)
    return VideoReport(
        frames=n,
        duration_s=round(span + frame_s, 3),
        fps=round(fps, 2) if fps else None,
        width=width,
        height=height,
        requested_width=requested_width,
        requested_height=requested_height,
        resolution_ok=resolution_ok(width, height, requested_width, requested_height),
        black_frames=sum(c.black for c in checks),
        frozen_frames=sum(c.frozen for c in checks),
        blurred_frames=sum(c.blurred for c in checks),
        dark_frames=sum(c.exposure is Exposure.UNDER for c in checks),
        bright_frames=sum(c.exposure is Exposure.OVER for c in checks),
        mean_luma=round(sum(c.mean_luma for c in checks) / n, 1),
        black_runs=runs(times, [c.black for c in checks], frame_s),
        frozen_runs=runs(times, [c.frozen for c in checks], frame_s),
        blurred_runs=runs(times, [c.blurred for c in checks], frame_s),
        dark_runs=runs(times, [c.exposure is Exposure.UNDER for c in checks], frame_s),
        bright_runs=runs(times, [c.exposure is Exposure.OVER for c in checks], frame_s),
        freezes=len(freezes),
        freeze_duration_ms=round(sum(f.end_s - f.start_s for f in freezes) * 1000, 1),
        freeze_runs=freezes,
        face_checks=len(face_checks),
        face_seen=sum(1 for f in face_checks if f > 0),
        face_runs=runs(
            [c.t_s for c in checks if c.faces is not None], [f > 0 for f in face_checks], limits.face_interval_s
        ),
    )


def resolution_ok(width: int, height: int, requested_width: int | None, requested_height: int | None) -> bool:
    """testrtc: the resolution obtained must be the one asked for (when one was asked for)."""
    return (requested_width is None or width == requested_width) and (
        requested_height is None or height == requested_height
    )
