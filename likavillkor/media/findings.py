"""What a camera or microphone check measured (:class:`VideoReport`, :class:`AudioReport`) and what
it found (:class:`Issue`, :class:`Verdict`, :func:`worst`) (H1, H4).

Light (msgspec and the standard library): the collector's engine and pages read these without
numpy. The judges are :mod:`likavillkor.media.video_judge`, :mod:`likavillkor.media.audio_judge`
and, for a media path, :mod:`likavillkor.media.report`.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from likavillkor.wire import CheckStatus


class Verdict(StrEnum):
    GOOD = "good"
    DEGRADED = "degraded"  # a warning: equal terms still hold
    POOR = "poor"  # equal terms broken (H2)
    FAILED = "failed"  # the check could not measure (no connection, no media)


class Segment(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stretch of time within a check, in seconds from its start."""

    start_s: float
    end_s: float
    frames: int = 0


class VideoReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    frames: int
    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    requested_width: int | None = None
    requested_height: int | None = None
    resolution_ok: bool | None = None
    black_frames: int = 0
    frozen_frames: int = 0
    blurred_frames: int = 0
    dark_frames: int = 0
    bright_frames: int = 0
    mean_luma: float | None = None
    black_runs: list[Segment] = msgspec.field(default_factory=list)
    frozen_runs: list[Segment] = msgspec.field(default_factory=list)
    blurred_runs: list[Segment] = msgspec.field(default_factory=list)
    dark_runs: list[Segment] = msgspec.field(default_factory=list)
    bright_runs: list[Segment] = msgspec.field(default_factory=list)
    freezes: int = 0  # W3C webrtc-stats freezes
    freeze_duration_ms: float = 0.0
    freeze_runs: list[Segment] = msgspec.field(default_factory=list)
    face_checks: int = 0
    face_seen: int = 0
    face_runs: list[Segment] = msgspec.field(default_factory=list)


class ClipRun(msgspec.Struct, kw_only=True):
    start_s: float
    samples: int


class AudioReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    samples: int
    sample_rate: int
    duration_s: float = 0.0
    rms_dbfs: float | None = None
    peak_dbfs: float | None = None
    noise_floor_dbfs: float | None = None
    level_std_percent: float | None = None
    level_spread_db: float | None = None
    level_rel_std_percent: float | None = None  # relative std of the 100 ms level
    clipping_runs: list[ClipRun] = msgspec.field(default_factory=list)
    clipped_percent: float | None = None  # share of samples at full scale
    silent: bool = False
    dead: bool = False
    tone_dbfs: float | None = None  # level at the test-tone frequency, when one was asked for


class Issue(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One finding of a media check, in the shape of ``agent.checks.base.Finding``."""

    id: str
    status: CheckStatus
    value: float | int | bool | str | None = None
    unit: str | None = None
    rule: str | None = None
    text: dict[str, str] = msgspec.field(default_factory=dict)
    advice: dict[str, str] = msgspec.field(default_factory=dict)


def tr(sv: str, en: str) -> dict[str, str]:
    """A text in Swedish and English."""
    return {"sv": sv, "en": en}


def worst(issues: list[Issue]) -> Verdict:
    statuses = {i.status for i in issues}
    if CheckStatus.ERROR in statuses:
        return Verdict.FAILED
    if CheckStatus.FAIL in statuses:
        return Verdict.POOR
    if CheckStatus.WARN in statuses:
        return Verdict.DEGRADED
    return Verdict.GOOD
