"""The camera during the meeting (issue 14): a frame every few seconds, black and frozen only, through
the real OpenCV grab path on a file source (the path macOS's shared camera takes, with the
AVFoundation backend instead of the file), and through the monitor's sample."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest

from agent.config import AgentConfig
from agent.media.camwatch import CamWatch, CamWatchConfig, SparseJudge, shared_access
from agent.monitor import SampleSources
from tests.media.test_verdicts import CLIPS, write_frames
from tests.support.waiting import wait_until

Make = Callable[[int, np.random.Generator], np.ndarray]


def judged(make: Make, n: int, step: int = 75) -> list[str]:
    """States of ``n`` frames sampled ``step`` frames (5 s at 15 fps) apart."""
    judge = SparseJudge(CamWatchConfig())
    rng = np.random.default_rng(3)
    return [judge.add(make(i * step, rng)).state for i in range(n)]


def test_a_live_picture_stays_in_use_even_dark_or_blurred() -> None:
    for name in ("clean", "dark_moving", "blurred_moving", "overexposed_moving"):
        assert set(judged(CLIPS[name], 6)) == {"in_use"}, name


def test_black_after_two_samples_and_frozen_after_three_unchanged_comparisons() -> None:
    assert judged(CLIPS["black"], 4) == ["in_use", "black", "black", "black"]
    assert judged(CLIPS["frozen_noisy"], 5) == ["in_use", "in_use", "in_use", "frozen", "frozen"]
    assert judged(CLIPS["frozen_exact"], 5)[3:] == ["frozen", "frozen"]


def test_numbers_only() -> None:
    judge = SparseJudge(CamWatchConfig())
    rng = np.random.default_rng(1)
    first = judge.add(CLIPS["clean"](0, rng))
    second = judge.add(CLIPS["clean"](75, rng))
    assert first.motion is None and second.motion is not None and second.motion > 3
    assert 0 <= second.luma <= 255


def test_shared_access_per_os() -> None:
    assert shared_access("darwin", CamWatchConfig())
    assert not shared_access("linux", CamWatchConfig())  # V4L2: one streaming reader
    assert not shared_access("win32", CamWatchConfig())  # frame server shared mode: not built
    assert shared_access("linux", CamWatchConfig(source="/x.avi"))


def wait_state(read: Callable[[], dict[str, object]], want: str, timeout: float = 60) -> dict[str, object]:
    seen: dict[str, object] = {}

    def reached() -> bool:
        nonlocal seen
        seen = read()
        return seen.get("camera") == want

    wait_until(reached, timeout=timeout, what=f"camera {want}", detail=lambda: seen, interval=0.2)
    return seen


@pytest.mark.parametrize(("name", "state"), [("black", "black"), ("frozen_exact", "frozen"), ("dark_moving", "in_use")])
def test_the_grab_path_on_a_file(name: str, state: str, tmp_path: Path) -> None:
    clip = write_frames(tmp_path / f"{name}.avi", CLIPS[name], seconds=6.0)
    watch = CamWatch(CamWatchConfig(source=str(clip), every_s=1.0))
    watch.start()
    try:
        seen = wait_state(watch.read, state)
        if state == "in_use":  # and it stays so: a dark, moving picture is never called frozen
            for _ in range(5):
                time.sleep(1.0)
                assert watch.read().get("camera") == "in_use"
        assert set(seen) == {"camera", "camera_luma", "camera_motion"}
    finally:
        watch.stop()
    assert not any(t.name == "camwatch" for t in threading.enumerate())


def test_a_camera_that_cannot_be_read_leaves_the_state_alone(tmp_path: Path) -> None:
    watch = CamWatch(CamWatchConfig(source=str(tmp_path / "gone.avi"), every_s=1.0))
    watch.start()
    try:
        time.sleep(2.5)
        assert watch.read() == {} and watch.problems["grab"] >= 2
    finally:
        watch.stop()


def test_the_monitor_publishes_black_only_during_a_meeting(tmp_path: Path) -> None:
    clip = write_frames(tmp_path / "black.avi", CLIPS["black"], seconds=4.0)
    cfg = msgspec.convert(
        {
            "monitor": {"camera_state_every_s": 0},
            "micwatch": {"enabled": False},
            "camwatch": {"source": str(clip), "every_s": 1.0},
        },
        AgentConfig,
    )
    sources = SampleSources(cfg)
    try:
        assert "camera" not in sources.read(time.time(), None)  # no meeting: the camera is not read
        assert sources.camwatch is None
        fields = wait_state(lambda: sources.read(time.time(), time.time() + 3600), "black")
        assert fields["camera_luma"] is not None and float(str(fields["camera_luma"])) <= 20
        sources.read(time.time(), None)  # the meeting is over: the watch stops
        assert sources.camwatch is None
    finally:
        sources.close()
