"""Test media made on the spot: a video clip with known segments and WAV files with known levels.

The clip (15 fps, 640x480 unless asked otherwise) has, in seconds:

=========  ===============================================================
0.0-2.0    clean: sharp checkerboard desk scene, a moving bar, sensor noise
2.0-3.0    black (luma 0..6)
3.0-4.0    frozen: the frame at 3.0 repeated
4.0-5.0    blurred: the clean scene through a Gaussian blur (sigma 6)
5.0-6.0    dark: the clean scene at 18 % brightness (mean luma ~ 25: dark, not black)
6.0-8.0    face: the public-domain astronaut photo (tests/data/media) with a moving bar
=========  ===============================================================
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FACE = Path(__file__).resolve().parents[1] / "data" / "media" / "astronaut-eileen-collins.jpg"
FPS = 15
SEGMENTS = {
    "clean": (0.0, 2.0),
    "black": (2.0, 3.0),
    "frozen": (3.0, 4.0),
    "blurred": (4.0, 5.0),
    "dark": (5.0, 6.0),
    "face": (6.0, 8.0),
}
DURATION_S = 8.0


def _desk(i: int, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    square = max(8, w // 16)
    pan = i * max(2, w // 100)  # the scene pans a few pixels a frame: a live camera never stands still
    board = np.where((((yy + pan // 2) // square) + ((xx + pan) // square)) % 2 == 0, 90, 170).astype(np.uint8)
    frame = cv2.merge([board, board, board])
    x = (i * w // 40) % (w - w // 8)
    frame[h // 4 : h // 2, x : x + w // 8] = (40, 200, 240)
    return frame


def _noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.integers(-4, 5, frame.shape, dtype=np.int16)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def face_photo() -> np.ndarray:
    photo = cv2.imread(str(FACE))
    if photo is None:
        raise FileNotFoundError(FACE)
    return np.asarray(photo)


def _face(i: int, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    frame = _desk(i, w, h, rng)
    side = int(h * 0.85)
    photo = cv2.resize(face_photo(), (side, side), interpolation=cv2.INTER_CUBIC)
    sway = round(math.sin(i / 3) * (w - side) / 2.5)  # the member sways a little
    top, left = (h - side) // 2, (w - side) // 2 + sway
    frame[top : top + side, left : left + side] = photo
    x = (i * w // 40) % (w - w // 16)
    frame[h - h // 12 :, x : x + w // 16] = (240, 240, 240)
    return frame


def frame_at(i: int, w: int, h: int, rng: np.random.Generator, frozen: np.ndarray | None) -> np.ndarray:
    t = i / FPS
    if t < 2.0:
        return _noisy(_desk(i, w, h, rng), rng)
    if t < 3.0:
        return rng.integers(0, 7, (h, w, 3), dtype=np.uint8)
    if t < 4.0:
        assert frozen is not None
        return frozen
    if t < 5.0:
        return _noisy(cv2.GaussianBlur(_desk(i, w, h, rng), (0, 0), 6), rng)
    if t < 6.0:
        return _noisy((_desk(i, w, h, rng).astype(np.float32) * 0.18).astype(np.uint8), rng)
    return _noisy(_face(i, w, h, rng), rng)


def write_clip(
    path: Path, width: int = 640, height: int = 480, seconds: float = DURATION_S, start_s: float = 0.0
) -> Path:
    """Write the clip (from ``start_s``) as Motion-JPEG AVI (quality 95; every frame a key frame)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    rng = np.random.default_rng(7)
    frozen = _noisy(_desk(3 * FPS, width, height, rng), rng)
    try:
        first = round(start_s * FPS)
        for i in range(first, first + round(seconds * FPS)):
            writer.write(frame_at(i, width, height, rng, frozen))
    finally:
        writer.release()
    return path


@dataclass(frozen=True)
class Wav:
    path: Path
    rate: int


def write_wav(path: Path, samples: np.ndarray, rate: int = 48000) -> Wav:
    """Mono 16-bit PCM from float samples in [-1, 1] (values beyond are clipped to full scale)."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Wav(path, rate)


def speech_like(seconds: float, level_dbfs: float, rate: int = 48000, seed: int = 3) -> np.ndarray:
    """Band-limited noise with a syllable-rate envelope (4 Hz), at ``level_dbfs`` RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    carrier = np.sin(2 * math.pi * 220 * t) + 0.5 * np.sin(2 * math.pi * 660 * t) + 0.3 * rng.normal(size=n)
    envelope = np.clip(np.sin(2 * math.pi * 4 * t), 0, None) ** 2 + 0.02
    x = carrier * envelope
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x * x))
    return x


def tone(seconds: float, freq_hz: float, level_dbfs: float, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 10 ** (level_dbfs / 20) * math.sqrt(2) * np.sin(2 * math.pi * freq_hz * t)
