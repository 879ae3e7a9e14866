"""aiortc media tracks for the media path (H1): generated test streams, and sinks that drain and
measure what arrives. Heavy (aiortc, PyAV, numpy, OpenCV): import on demand.

aiortc has no frame counters of its own, so :class:`VideoSink` and :class:`AudioSink` count every
frame, run the same per-frame checks as the camera self-test on the luma plane, and measure the
audio level, while DRAINING the track (an undrained track fills aiortc's queues).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from likavillkor.media.audio import LevelMeter
from likavillkor.media.findings import AudioReport, VideoReport
from likavillkor.media.frames import LIMITED_TO_FULL, FrameStats
from likavillkor.media.limits import AudioLimits, FrameLimits

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME_S = 0.020
TONE_HZ = 1000.0
TONE_DBFS = -20.0


class _Paced:
    """Real-time pacing for a generated track: frame n is due at start + n x period."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._start: float | None = None
        self.index = 0

    async def wait(self) -> int:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self.index += 1
            delay = self._start + self.index * self.period_s - now
            if delay > 0:
                await asyncio.sleep(delay)
        return self.index


class PatternTrack(MediaStreamTrack):
    """A moving test pattern: colour bars, a sweeping bar and a frame counter (never black/frozen)."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._pace = _Paced(1.0 / fps)
        bars = np.zeros((height, width, 3), np.uint8)
        colours = [
            (235, 235, 235),
            (16, 235, 235),
            (235, 235, 16),
            (16, 235, 16),
            (235, 16, 235),
            (16, 16, 235),
            (235, 16, 16),
        ]
        for i, colour in enumerate(colours):
            bars[:, i * width // 7 : (i + 1) * width // 7] = colour
        self._bars = bars

    async def recv(self) -> av.VideoFrame:
        n = await self._pace.wait()
        img = self._bars.copy()
        x = (n * max(4, self.width // 25)) % self.width
        img[:, x : x + max(4, self.width // 8)] = (40, 40, 40)
        img[(n * 7) % self.height :: 31] = (128, 128, 128)  # moving lines: every frame differs clearly
        cv2.putText(
            img,
            str(n),
            (self.width // 20, self.height // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            self.height / 120,
            (0, 0, 0),
            max(1, self.height // 80),
        )
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = round(n * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class ToneTrack(MediaStreamTrack):
    """A steady sine (default 1 kHz at -20 dBFS RMS), 20 ms frames of 48 kHz stereo s16 (L = R)."""

    kind = "audio"

    def __init__(self, freq_hz: float = TONE_HZ, level_dbfs: float = TONE_DBFS) -> None:
        super().__init__()
        self._pace = _Paced(AUDIO_PTIME_S)
        self._amplitude = 10 ** (level_dbfs / 20) * math.sqrt(2) * 32767
        self._freq = freq_hz
        self._samples = int(AUDIO_RATE * AUDIO_PTIME_S)

    async def recv(self) -> av.AudioFrame:
        n = await self._pace.wait()
        t = (np.arange(self._samples) + n * self._samples) / AUDIO_RATE
        mono_pcm = (self._amplitude * np.sin(2 * math.pi * self._freq * t)).astype(np.int16)
        # stereo (L = R): aiortc's Opus encoder would upmix mono with the centre at -3 dB per channel
        pcm = np.repeat(mono_pcm, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a decoded frame as full-range luma (limited-range YUV is expanded)."""
    if frame.format.name not in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuvj422p"):
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    y = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    if frame.format.name.startswith("yuvj"):
        return y
    return np.asarray(cv2.LUT(y, LIMITED_TO_FULL), dtype=np.uint8)


class VideoSink:
    """Drains a received video track, counting and checking every frame."""

    def __init__(
        self,
        requested_width: int | None = None,
        requested_height: int | None = None,
        limits: FrameLimits | None = None,
        detect_faces: bool = False,
    ) -> None:
        self.stats = FrameStats(
            requested_width, requested_height, limits=limits or FrameLimits(), detect_faces=detect_faces
        )
        self._first_pts: float | None = None
        self._t0: float | None = None
        self.errors = 0

    def add(self, frame: av.VideoFrame) -> None:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        pts = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else now
        if self._first_pts is None:
            self._first_pts = pts
        self.stats.add(luma_plane(frame), pts - self._first_pts, arrival_s=now - self._t0)

    async def drain(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            try:
                self.add(frame)  # type: ignore[arg-type]
            except (ValueError, cv2.error):  # a malformed frame is counted, never fatal
                self.errors += 1

    def report(self) -> VideoReport:
        return self.stats.report()


def mono(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples averaged over its channels (FFmpeg's own downmix lowers the level 3 dB)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return np.asarray(data.mean(axis=0) if channels > 1 else data.ravel())
    flat = data.ravel()
    if channels > 1:
        return np.asarray(flat.reshape(-1, channels).mean(axis=1).astype(flat.dtype))
    return np.asarray(flat)


class AudioSink:
    """Drains a received audio track, keeping its level (mixed to mono)."""

    def __init__(self, max_seconds: float = 30.0) -> None:
        self.meter = LevelMeter(AUDIO_RATE, max_seconds=max_seconds)
        self.frames = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)

    def add(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        if frame.sample_rate != AUDIO_RATE or frame.format.name not in ("s16", "s16p", "flt", "fltp"):
            for out in self._resampler.resample(frame):
                self.meter.add(out.to_ndarray().ravel())
            return
        self.meter.add(mono(frame))

    async def drain(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.add(frame)  # type: ignore[arg-type]

    def report(self, limits: AudioLimits | None = None, tone_hz: float | None = None) -> AudioReport:
        return self.meter.report(limits, tone_hz=tone_hz)
