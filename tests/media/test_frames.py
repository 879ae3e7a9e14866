"""Per-frame checks and the accumulator find each known segment of the clip, and nothing on the clean
parts (H1, H4; thresholds from webrtc/testrtc and W3C webrtc-stats)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from likavillkor.media.findings import Segment, VideoReport
from likavillkor.media.frames import FaceDetector, FrameStats, luma, ssim, w3c_freezes
from likavillkor.media.video_judge import judge_video
from likavillkor.wire import CheckStatus
from tests.media.clips import FPS, SEGMENTS, face_photo


def analyse(path: Path, **kw: object) -> VideoReport:
    cap = cv2.VideoCapture(str(path))
    stats = FrameStats(640, 480, **kw)  # type: ignore[arg-type]
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            stats.add(frame, i / FPS)
            i += 1
    finally:
        cap.release()
    return stats.report()


@pytest.fixture(scope="module")
def report(clip: Path) -> VideoReport:
    return analyse(clip)


def only_in(runs: list[Segment], name: str, tolerance: float = 1.5 / FPS) -> None:
    start, end = SEGMENTS[name]
    assert runs, f"no {name} segment found"
    for run in runs:
        assert run.start_s >= start - tolerance and run.end_s <= end + tolerance, (name, run)
    covered = sum(r.end_s - r.start_s for r in runs)
    assert covered >= (end - start) - 2 / FPS, (name, runs)


def test_black_segment_found_and_nothing_else(report: VideoReport) -> None:
    only_in(report.black_runs, "black")
    assert report.black_frames == 15


def test_frozen_segment_found_and_nothing_else(report: VideoReport) -> None:
    only_in(report.frozen_runs, "frozen")
    assert report.frozen_frames == 14  # the first frame of the segment still differs from its predecessor


def test_blurred_and_dark_segments(report: VideoReport) -> None:
    only_in(report.blurred_runs, "blurred")
    only_in(report.dark_runs, "dark")
    assert report.bright_runs == []


def test_face_found_only_where_the_photo_is(report: VideoReport) -> None:
    # at most about once a second, and only on frames that are lit and sharp (issue 14: a black, dark
    # or blurred picture is reported as such, never also as "no face"): 5 of the clip's 8 s
    assert 4 <= report.face_checks <= 6
    assert report.face_seen >= 2
    for run in report.face_runs:
        assert run.start_s >= SEGMENTS["face"][0] - 0.1, run


def test_rate_resolution_and_no_freezes_in_an_even_clip(report: VideoReport) -> None:
    assert report.fps == pytest.approx(15.0, abs=0.01)
    assert (report.width, report.height, report.resolution_ok) == (640, 480, True)
    assert report.freezes == 0


def test_judge_fails_nothing_on_a_clean_stretch(clip: Path, tmp_path: Path) -> None:
    from tests.media.clips import write_clip

    clean = write_clip(tmp_path / "clean.avi", seconds=2.0, start_s=SEGMENTS["face"][0])  # the member, swaying
    issues = judge_video(analyse(clean))
    assert {i.id: i.status for i in issues} == {
        "camera.black": CheckStatus.PASS,
        "camera.frozen": CheckStatus.PASS,
        "camera.fps": CheckStatus.PASS,
    }
    desk = analyse(write_clip(tmp_path / "desk.avi", seconds=2.0), detect_faces=False)
    assert (desk.black_frames, desk.frozen_frames, desk.blurred_frames, desk.dark_frames) == (0, 0, 0, 0)


def test_judge_warns_on_each_visible_segment(report: VideoReport) -> None:
    status = {i.id: i.status for i in judge_video(report)}
    assert status["camera.black"] is CheckStatus.WARN  # 1 s of 8: visible, but under testrtc's third
    assert status["camera.frozen"] is CheckStatus.WARN
    assert status["camera.fps"] is CheckStatus.PASS


def test_more_than_a_third_black_fails_with_swedish_advice() -> None:
    stats = FrameStats(320, 240, detect_faces=False)
    black = np.zeros((240, 320, 3), np.uint8)
    rng = np.random.default_rng(0)
    for i in range(30):
        stats.add(black if i % 2 else rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), i / 15)
    issue = next(i for i in judge_video(stats.report()) if i.id == "camera.black")
    assert issue.status is CheckStatus.FAIL
    assert "svart bild" in issue.advice["sv"] and "skyddet" in issue.advice["sv"]


def test_luma_uses_testrtc_weights() -> None:
    green = np.zeros((4, 4, 3), np.uint8)
    green[..., 1] = 255  # BGR
    assert float(luma(green).mean()) == pytest.approx(0.72 * 255, abs=1)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 100
    assert float(luma(red).mean()) == pytest.approx(21, abs=1)  # 0.21 x 100: just above black


def test_black_threshold_is_inclusive_at_20() -> None:
    stats = FrameStats(detect_faces=False)
    assert stats.add(np.full((120, 160), 20, np.uint8), 0.0).black
    assert not stats.add(np.full((120, 160), 21, np.uint8), 0.1).black


def test_ssim_identical_and_different() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, (120, 160), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, rng.integers(0, 255, (120, 160), dtype=np.uint8)) < 0.2


def test_w3c_freeze_rule() -> None:
    # 30 fps, then a 150 ms gap: max(3 x 33 ms, 33 + 150 ms) = 183 ms, so 150 ms is no freeze ...
    even = [i / 30 for i in range(30)]
    assert w3c_freezes([*even, even[-1] + 0.150]) == []
    # ... but 200 ms is one
    freezes = w3c_freezes([*even, even[-1] + 0.200, even[-1] + 0.233])
    assert len(freezes) == 1 and freezes[0].end_s - freezes[0].start_s == pytest.approx(0.2, abs=0.002)
    # at 5 fps the 3 x average term rules: 600 ms is no freeze, 700 ms is
    slow = [i / 5 for i in range(10)]
    assert w3c_freezes([*slow, slow[-1] + 0.59]) == []
    assert len(w3c_freezes([*slow, slow[-1] + 0.7])) == 1


def test_shipped_photo_has_a_face() -> None:
    grey = cv2.cvtColor(face_photo(), cv2.COLOR_BGR2GRAY)
    assert FaceDetector().count(grey) == 1


def test_face_detection_runs_at_most_once_a_second() -> None:
    stats = FrameStats(detect_faces=True)
    rng = np.random.default_rng(5)  # a lit, sharp picture that moves: face detection may run
    ran = [stats.add(rng.integers(60, 200, (240, 320), dtype=np.uint8), i / 30).faces is not None for i in range(90)]
    assert sum(ran) == 3
