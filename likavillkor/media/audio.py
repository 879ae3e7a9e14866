"""Microphone level checks on PCM samples (H1, H4). Pure; heavy (numpy): import on demand.

Levels are dBFS with full scale = 1.0 (a full-scale sine is -3.01 dBFS RMS, no +3 dB convention).

* RMS and peak level;
* silence: RMS < -60 dBFS (testrtc) — only a warning, a muted listener is normal;
* clipping: runs of more than 6 consecutive full-scale samples (testrtc);
* dead microphone (neither silent nor clipping: one cause per fault): the level is almost
  constant — the standard deviation of the short-window level is below 1 % of full scale
  (Twilio) — and it moves less than 6 dB between its 10th and 90th percentile (so quiet speech
  is not called dead), and the 100 ms level is steadier than any room noise (relative standard
  deviation < 0.5 %: a hum, a DC offset, a stuck buffer; issue 14);
* noise floor: the 10th percentile of the short-window RMS;
* tone level: the level at one frequency (Goertzel), used to hear the collector's test tone.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from likavillkor.media.findings import AudioReport, ClipRun
from likavillkor.media.limits import AudioLimits

Samples = npt.NDArray[np.float32]
FLOOR_DBFS = -120.0


def to_float(samples: npt.NDArray[np.generic]) -> Samples:
    """PCM as float32 in [-1, 1], channels interleaved in one array (int16/int32/uint8/float)."""
    a = np.asarray(samples)
    if a.dtype == np.int16:
        return (a.astype(np.float32) / 32768.0).ravel()
    if a.dtype == np.int32:
        return (a.astype(np.float32) / 2147483648.0).ravel()
    if a.dtype == np.uint8:
        return ((a.astype(np.float32) - 128.0) / 128.0).ravel()
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32).ravel()
    raise ValueError(f"unsupported sample type {a.dtype}")


def dbfs(linear: float) -> float:
    return max(FLOOR_DBFS, 20.0 * math.log10(linear)) if linear > 0 else FLOOR_DBFS


def rms(x: Samples) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def peak(x: Samples) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def window_rms(x: Samples, rate: int, window_s: float) -> npt.NDArray[np.float64]:
    """RMS of consecutive windows (the last partial window dropped, unless it is the only one)."""
    n = max(1, int(rate * window_s))
    whole = x.size // n
    if whole == 0:
        return np.array([rms(x)])
    blocks = x[: whole * n].astype(np.float64).reshape(whole, n)
    return np.asarray(np.sqrt(np.mean(blocks * blocks, axis=1)))


def clipping_runs(x: Samples, rate: int, limits: AudioLimits) -> list[ClipRun]:
    """Runs of at least ``clip_run_samples`` consecutive samples at full scale (either sign)."""
    full = np.abs(x) >= limits.full_scale
    if not full.any():
        return []
    edges = np.diff(np.concatenate(([0], full.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [
        ClipRun(start_s=round(int(s) / rate, 4), samples=int(e - s))
        for s, e in zip(starts, ends, strict=True)
        if e - s >= limits.clip_run_samples
    ]


def tone_dbfs(x: Samples, rate: int, freq_hz: float) -> float:
    """Level of one frequency (Goertzel), as the RMS dBFS a pure sine of that amplitude would have."""
    n = x.size
    if n == 0:
        return FLOOR_DBFS
    k = round(n * freq_hz / rate)
    w = 2.0 * math.pi * k / n
    t = np.arange(n, dtype=np.float64)
    re = float(np.dot(x, np.cos(w * t)))
    im = float(np.dot(x, np.sin(w * t)))
    amplitude = 2.0 * math.hypot(re, im) / n
    return dbfs(amplitude / math.sqrt(2.0))


def analyse(
    samples: npt.NDArray[np.generic], rate: int, limits: AudioLimits | None = None, *, tone_hz: float | None = None
) -> AudioReport:
    """All microphone numbers of one mono capture."""
    lim = limits or AudioLimits()
    x = to_float(samples)
    if x.size == 0:
        return AudioReport(samples=0, sample_rate=rate)
    level = rms(x)
    windows = window_rms(x, rate, lim.window_s)
    windows_db = np.array([dbfs(float(w)) for w in windows])
    std_percent = float(np.std(windows)) * 100.0
    spread = float(np.percentile(windows_db, 90) - np.percentile(windows_db, 10))
    rms_db = dbfs(level)
    tenths = window_rms(x, rate, 0.1)  # 5 periods of 50 Hz, 6 of 60 Hz: a hum's level is exact here
    mean_tenth = float(np.mean(tenths))
    rel_std = float(np.std(tenths)) / mean_tenth if tenths.size > 1 and mean_tenth > 0 else 0.0
    clipped = clipping_runs(x, rate, lim)
    clipped_share = 100.0 * sum(r.samples for r in clipped) / x.size
    return AudioReport(
        samples=int(x.size),
        sample_rate=rate,
        duration_s=round(x.size / rate, 3),
        rms_dbfs=round(rms_db, 2),
        peak_dbfs=round(dbfs(peak(x)), 2),
        noise_floor_dbfs=round(float(np.percentile(windows_db, 10)), 2),
        level_std_percent=round(std_percent, 4),
        level_spread_db=round(spread, 2),
        level_rel_std_percent=round(100 * rel_std, 3),
        clipping_runs=clipped,
        clipped_percent=round(clipped_share, 3),
        silent=rms_db < lim.silence_dbfs,
        # dead: no variation at a level that is neither silent nor saturated (issue 14): a clipping
        # signal is constant too, but its cause and advice are clipping
        dead=(
            not clipped
            and rms_db >= lim.silence_dbfs
            and std_percent < lim.dead_level_std_percent
            and spread < lim.dead_level_spread_db
            and rel_std < lim.dead_level_rel_std
        ),
        tone_dbfs=round(tone_dbfs(x, rate, tone_hz), 2) if tone_hz else None,
    )


class LevelMeter:
    """Running audio accumulator for a stream that arrives in chunks (the media path)."""

    def __init__(self, rate: int, max_seconds: float = 30.0) -> None:
        self.rate = rate
        self._chunks: list[Samples] = []
        self._kept = 0
        self._max = int(rate * max_seconds)

    def add(self, samples: npt.NDArray[np.generic]) -> None:
        x = to_float(samples)
        if self._kept + x.size > self._max:
            x = x[: max(0, self._max - self._kept)]
        if x.size:
            self._chunks.append(x)
            self._kept += x.size

    def report(self, limits: AudioLimits | None = None, *, tone_hz: float | None = None) -> AudioReport:
        x = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        return analyse(x, self.rate, limits, tone_hz=tone_hz)
