"""Any input gives numbers or a clear error, never a crash or a NaN (property tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from likavillkor.media.audio import analyse
from likavillkor.media.frames import FrameStats, luma, w3c_freezes
from likavillkor.media.rtcstats import fraction_lost_percent, jitter_ms, loss_percent


@settings(max_examples=60, deadline=None)
@given(arrays(np.int16, st.integers(1, 20_000)))
def test_audio_analysis_is_total(samples: np.ndarray) -> None:
    report = analyse(samples, 48000)
    for value in (report.rms_dbfs, report.peak_dbfs, report.noise_floor_dbfs, report.level_std_percent):
        assert value is not None and math.isfinite(value)
    assert -120.0 <= report.rms_dbfs <= 0.01  # type: ignore[operator]
    assert all(r.samples >= 7 for r in report.clipping_runs)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 700), st.integers(1, 500), st.sampled_from([1, 3, 4]), st.integers(0, 255))
def test_any_frame_size_is_analysed(width: int, height: int, channels: int, level: int) -> None:
    shape = (height, width) if channels == 1 else (height, width, channels)
    frame = np.full(shape, level, np.uint8)
    check = FrameStats(detect_faces=False).add(frame, 0.0)
    assert (check.width, check.height) == (width, height)
    assert check.black == (check.mean_luma <= 20)


def test_not_an_image_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an image"):
        luma(np.zeros(10, np.uint8))


@given(st.lists(st.floats(0, 1e6, allow_nan=False), max_size=60))
def test_freezes_never_crash_and_never_overlap(times: list[float]) -> None:
    freezes = w3c_freezes(sorted(times))
    assert all(f.end_s >= f.start_s for f in freezes)


def test_rtp_units() -> None:
    assert jitter_ms(900, "video") == pytest.approx(10.0)  # 90 kHz
    assert jitter_ms(480, "audio") == pytest.approx(10.0)  # Opus 48 kHz
    assert fraction_lost_percent(255) == pytest.approx(99.6, abs=0.1)
    assert fraction_lost_percent(0) == 0.0
    assert loss_percent(1, 99) == pytest.approx(1.0)
    assert loss_percent(0, 0) is None
