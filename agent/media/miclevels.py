"""The in-meeting microphone watch's level analysis (issue 14; H1, H4): a second of int16 samples
reduced to levels (:func:`analyse`), and the state of each second from them (:class:`MicJudge`).
Pure: no sound system, no clock; the watcher loop (:mod:`agent.media.micwatch`) feeds them.

Cost (bench/bench_micwatch.py, docs/performance.md): 16 kHz int16 without numpy, audioop's C loops
where the standard library still has them, pure Python otherwise.
"""

from __future__ import annotations

import array
import collections
import importlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import mul
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.media.micwatch import MicWatchConfig

FULL_SCALE = 32767
FLOOR_DBFS = -120.0


class MicWatchState(StrEnum):
    OK = "ok"
    SILENT = "silent"  # below the silence level: a listening member, normal
    MUTED = "muted"  # the OS's mute switch is on: normal
    CLIPPING = "clipping"  # full-scale runs: lower the input level
    DEAD = "dead"  # no variation at a level that is neither silent nor saturated
    ABSENT = "absent"  # no such input (the device disappeared) or it cannot be opened
    NO_SAMPLES = "no_samples"  # open, but no samples arrive


def dbfs(linear: float) -> float:
    return max(FLOOR_DBFS, 20.0 * math.log10(linear)) if linear > 0 else FLOOR_DBFS


@dataclass(frozen=True, slots=True)
class Levels:
    """One second (or less) of int16 samples, reduced to numbers."""

    samples: int
    rms_dbfs: float
    peak_dbfs: float
    ac_dbfs: float  # RMS of the signal without its DC part: how much it varies
    clip_runs: int
    window_rms: tuple[float, ...]  # linear RMS of each 100 ms window


def clip_runs(pcm: Sequence[int], min_run: int) -> int:
    """Runs of at least ``min_run`` consecutive samples at full scale, either sign."""
    if min_run <= 0:
        return 0
    full = (FULL_SCALE, -FULL_SCALE - 1)
    if sum(pcm.count(v) for v in full) < min_run:
        return 0  # the common case: C-speed count, no Python loop
    runs = length = 0
    for v in pcm:
        if v >= FULL_SCALE or v <= -FULL_SCALE:
            length += 1
            if length == min_run:
                runs += 1
        else:
            length = 0
    return runs


def _audioop() -> Any:
    """The standard library's C level meter (Python <= 3.12); None where it is gone."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module("audioop")
    except ImportError:
        return None


_AUDIOOP = _audioop()


def analyse(pcm: array.array[int], rate: int, min_run: int, *, fast: bool = True) -> Levels:
    """Levels of mono int16 samples. ``fast``: audioop's C loops where available (about 0.3 ms a
    second at 16 kHz), else pure Python (about 4 ms)."""
    n = len(pcm)
    if n == 0:
        return Levels(0, FLOOR_DBFS, FLOOR_DBFS, FLOOR_DBFS, 0, ())
    step = max(1, rate // 10)
    ops = _AUDIOOP if fast else None
    if ops is not None:
        raw = pcm.tobytes()
        low, high = ops.minmax(raw, 2)
        wide = ops.lin2lin(raw, 2, 4)  # 32-bit (x 65536): audioop's RMS is an integer, keep its precision
        rms = ops.rms(wide, 4) / 65536.0
        power, mean = rms * rms, ops.avg(wide, 4) / 65536.0
        windows = [ops.rms(wide[4 * i : 4 * (i + step)], 4) / 2**31 for i in range(0, n - step + 1, step)]
    else:
        power = sum(map(mul, pcm, pcm)) / n
        mean = sum(pcm) / n
        low, high = min(pcm), max(pcm)
        windows = []
        for start in range(0, n - step + 1, step):
            w = pcm[start : start + step]
            windows.append(math.sqrt(sum(map(mul, w, w)) / step) / 32768.0)
    ac = max(0.0, power - mean * mean)
    peak = max(high, -low)
    return Levels(
        samples=n,
        rms_dbfs=round(dbfs(math.sqrt(power) / 32768.0), 2),
        peak_dbfs=round(dbfs(peak / 32768.0), 2),
        ac_dbfs=round(dbfs(math.sqrt(ac) / 32768.0), 2),
        clip_runs=clip_runs(pcm, min_run),
        window_rms=tuple(windows),
    )


class MicJudge:
    """The state of each second from its levels and the last ``dead_window_s`` seconds. Pure."""

    def __init__(self, cfg: MicWatchConfig) -> None:
        self.cfg = cfg
        self.history: collections.deque[Levels] = collections.deque(maxlen=max(1, round(cfg.dead_window_s)))

    def reset(self) -> None:
        self.history.clear()

    def judge(self, levels: Levels | None, *, muted: bool | None = None, present: bool | None = None) -> str:
        cfg = self.cfg
        if present is False:
            self.history.clear()
            return MicWatchState.ABSENT.value
        if levels is None or levels.samples == 0:
            self.history.clear()
            return MicWatchState.NO_SAMPLES.value
        self.history.append(levels)
        if muted:
            return MicWatchState.MUTED.value
        if levels.clip_runs:
            return MicWatchState.CLIPPING.value
        if levels.rms_dbfs < cfg.silence_dbfs:
            return MicWatchState.SILENT.value
        if self._dead():
            return MicWatchState.DEAD.value
        return MicWatchState.OK.value

    def _dead(self) -> bool:
        cfg = self.cfg
        hist = self.history
        if len(hist) < (hist.maxlen or 1):
            return False  # not enough evidence yet
        if any(h.clip_runs or h.rms_dbfs < cfg.silence_dbfs for h in hist):
            return False
        if all(h.ac_dbfs < cfg.dead_ac_dbfs for h in hist):
            return True  # a constant value: a stuck converter or a DC offset
        windows = [w for h in hist for w in h.window_rms]
        if len(windows) < 4:
            return False
        mean = sum(windows) / len(windows)
        std = math.sqrt(sum((w - mean) ** 2 for w in windows) / len(windows))
        return mean > 0 and std / mean < cfg.dead_level_rel_std
