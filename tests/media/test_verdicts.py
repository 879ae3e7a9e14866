"""One cause per fault (issue 14): clips and WAVs with exactly one known fault go through the same
code the self-test uses (``check_camera`` / ``check_microphone`` on a file source), and the findings
that are not ``pass`` must name exactly that fault — never a second, wrong cause (H1, H4).

The pictures move (the member sways, a bar crosses the desk) while they are dark, blurred or
over-exposed: a moving picture must never be called frozen. The face is the public-domain NASA
photograph in tests/data/media (a real camera recording), the rest is generated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.checks.base import CheckContext, Finding
from agent.checks.media import check_camera, check_microphone
from agent.media.camera import CameraConfig
from agent.media.microphone import MicrophoneConfig
from likavillkor.wire import CheckStatus
from tests.media.clips import FPS, _desk, _noisy, face_photo, speech_like, tone, write_wav

pytestmark = pytest.mark.anyio
W, H = 640, 480
SECONDS = 3.0
Frame = np.ndarray


class _Cfg:
    def __init__(self, **sections: object) -> None:
        self.__dict__.update(sections)


def write_frames(path: Path, make: Callable[[int, np.random.Generator], Frame], seconds: float = SECONDS) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (W, H))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    rng = np.random.default_rng(11)
    try:
        for i in range(round(seconds * FPS)):
            writer.write(make(i, rng))
    finally:
        writer.release()
    return path


_PHOTO: dict[int, Frame] = {}


def member(i: int, rng: np.random.Generator) -> Frame:
    """The member sitting fairly still in front of a plain wall: the head sways by a few pixels, as a
    listening member does. Little movement is what makes a dim or smeared picture look frozen to SSIM."""
    side = int(H * 0.85)
    if side not in _PHOTO:
        _PHOTO[side] = cv2.resize(face_photo(), (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full((H, W, 3), 150, np.uint8)
    sway = round(6 * np.sin(i / 4))
    top, left = (H - side) // 2 + round(2 * np.cos(i / 5)), (W - side) // 2 + sway
    frame[top : top + side, left : left + side] = _PHOTO[side]
    return frame


def scaled(frame: Frame, gain: float, offset: float = 0.0) -> Frame:
    return np.clip(frame.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def hand(i: int, rng: np.random.Generator) -> Frame:
    """The member holds still; only a hand (48x48 px) moves at the bottom of the picture."""
    frame = member(0, rng).copy()
    x = 540 + abs((i * 6) % 80 - 40)  # back and forth, 6 px a frame, beside the member
    frame[300:348, x : x + 48] = (40, 50, 60)  # a dark sleeve against the light wall
    return frame


CLIPS: dict[str, Callable[[int, np.random.Generator], Frame]] = {
    "clean": lambda i, rng: _noisy(member(i, rng), rng),
    # a sharp, lit, mostly still picture: SSIM is high, but a block moves beyond the noise
    "small_motion": lambda i, rng: _noisy(hand(i, rng), rng),
    "dark_moving": lambda i, rng: _noisy(scaled(member(i, rng), 0.2), rng),
    "blurred_moving": lambda i, rng: _noisy(cv2.GaussianBlur(member(i, rng), (0, 0), 6), rng),
    "overexposed_moving": lambda i, rng: _noisy(scaled(member(i, rng), 2.6, 80), rng),
    "blurred_dim_desk": lambda i, rng: _noisy(cv2.GaussianBlur(scaled(_desk(i, W, H, rng), 0.5, 20), (0, 0), 5), rng),
    "black": lambda i, rng: rng.integers(0, 7, (H, W, 3), dtype=np.uint8),
    # the same picture over and over: within the sensor's noise (fresh noise each frame) and exactly
    "frozen_noisy": lambda i, rng: _noisy(member(0, rng), rng),
    "frozen_exact": lambda i, rng: member(0, np.random.default_rng(0)),
    # a dark picture that is also stuck: ranked, the light is the advice given first
    "dark_frozen": lambda i, rng: scaled(member(0, np.random.default_rng(0)), 0.2),
}

#: the non-pass findings each clip must give: exactly these, nothing else
EXPECTED = {
    "clean": {},
    "small_motion": {},
    "dark_moving": {"camera.dark": CheckStatus.WARN},
    "blurred_moving": {"camera.blur": CheckStatus.WARN},
    "overexposed_moving": {"camera.bright": CheckStatus.WARN},
    "blurred_dim_desk": {"camera.blur": CheckStatus.WARN},
    "black": {"camera.black": CheckStatus.FAIL},
    "frozen_noisy": {"camera.frozen": CheckStatus.FAIL},
    "frozen_exact": {"camera.frozen": CheckStatus.FAIL},
    "dark_frozen": {"camera.dark": CheckStatus.WARN},
}


def not_passed(findings: list[Finding]) -> dict[str, CheckStatus]:
    return {f.id: f.status for f in findings if f.status is not CheckStatus.PASS}


@pytest.mark.parametrize("name", list(CLIPS))
async def test_each_picture_fault_gives_exactly_its_own_cause(name: str, tmp_path: Path) -> None:
    clip = write_frames(tmp_path / f"{name}.avi", CLIPS[name])
    ctx = CheckContext(
        config=_Cfg(camera=CameraConfig(source=str(clip), seconds=SECONDS)), deadline=time.monotonic() + 60
    )
    findings = await check_camera(ctx)
    assert not_passed(findings) == EXPECTED[name], [(f.id, f.status, f.value) for f in findings]
    by_id = {f.id: f for f in findings}
    for fid in EXPECTED[name]:  # each finding keeps its number: the share of frames in percent
        value = by_id[fid].value
        assert by_id[fid].unit == "%" and isinstance(value, float) and value > 33.3
        assert by_id[fid].advice["sv"] and by_id[fid].advice["en"]
    if name in ("dark_moving", "blurred_moving", "overexposed_moving"):
        assert by_id["camera.frozen"].value == 0.0  # moving: not one frame called frozen


async def test_advice_names_the_real_cause_in_swedish(tmp_path: Path) -> None:
    advice = {}
    for name, fid in (
        ("dark_moving", "camera.dark"),
        ("blurred_moving", "camera.blur"),
        ("overexposed_moving", "camera.bright"),
        ("frozen_noisy", "camera.frozen"),
    ):
        clip = write_frames(tmp_path / f"{name}.avi", CLIPS[name], seconds=2.0)
        ctx = CheckContext(
            config=_Cfg(camera=CameraConfig(source=str(clip), seconds=2.0)), deadline=time.monotonic() + 60
        )
        advice[fid] = next(f for f in await check_camera(ctx) if f.id == fid).advice["sv"]
    assert "lampa" in advice["camera.dark"]
    assert "linsen" in advice["camera.blur"] or "skärpan" in advice["camera.blur"]
    assert "fönster" in advice["camera.bright"]
    assert "starta om" in advice["camera.frozen"]


def test_ranking_puts_the_picture_before_frozen() -> None:
    from likavillkor.media.findings import VideoReport
    from likavillkor.media.video_judge import judge_video

    report = VideoReport(
        frames=30,
        fps=15.0,
        width=640,
        height=480,
        resolution_ok=True,
        black_frames=12,
        dark_frames=12,
        blurred_frames=0,
        frozen_frames=12,
    )
    ids = [i.id for i in judge_video(report)]
    assert ids.index("camera.black") < ids.index("camera.dark") < ids.index("camera.frozen")


# ---- microphone ------------------------------------------------------------------------------

RATE = 48000


def square(seconds: float, freq_hz: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.where(np.sin(2 * np.pi * freq_hz * t) >= 0, 1.5, -1.5)  # past full scale: saturated


def clipped_loud_speech(seconds: float) -> np.ndarray:
    return np.clip(speech_like(seconds, -2) * 3.0, -1.5, 1.5)  # 10 dB too hot: hard clipping


def occasional_clips(seconds: float) -> np.ndarray:
    x = speech_like(seconds, -25)
    for k in range(1, int(seconds)):
        x[k * RATE : k * RATE + 40] = 1.5  # a plosive every second saturates for 40 samples
    return x


WAVS: dict[str, Callable[[float], np.ndarray]] = {
    "normal": lambda s: speech_like(s, -25),
    "quiet_speech": lambda s: speech_like(s, -50),
    "silent": lambda s: np.zeros(int(s * RATE)),
    "noise_below_silence": lambda s: np.random.default_rng(4).normal(0, 10 ** (-72 / 20), int(s * RATE)),
    "dead_hum": lambda s: tone(s, 50, -30),
    "dead_dc": lambda s: np.full(int(s * RATE), 0.05),
    "saturated_square": lambda s: square(s, 50),
    "clipped_hot_speech": clipped_loud_speech,
    "occasional_clips": occasional_clips,
    # a working microphone in a quiet room with a fan, the member says nothing: steady, but noise
    "steady_fan_member_quiet": lambda s: np.random.default_rng(6).normal(0, 10 ** (-45 / 20), int(s * RATE)),
    # a mains hum under speech, and speech with a DC offset: the signal varies, nothing is dead
    "speech_over_hum": lambda s: speech_like(s, -25) + tone(s, 50, -40),
    "speech_with_dc_offset": lambda s: speech_like(s, -25) + 0.1,
}

WAV_EXPECTED = {
    "normal": {},
    "quiet_speech": {},
    "silent": {"microphone.level": CheckStatus.WARN},
    "noise_below_silence": {"microphone.level": CheckStatus.WARN},
    "dead_hum": {"microphone.level": CheckStatus.FAIL},
    "dead_dc": {"microphone.level": CheckStatus.FAIL},
    "saturated_square": {"microphone.clipping": CheckStatus.FAIL},
    "clipped_hot_speech": {"microphone.clipping": CheckStatus.FAIL},
    "occasional_clips": {"microphone.clipping": CheckStatus.WARN},
    "steady_fan_member_quiet": {},
    "speech_over_hum": {},
    "speech_with_dc_offset": {},
}


@pytest.mark.parametrize("name", list(WAVS))
async def test_each_sound_fault_gives_exactly_its_own_cause(name: str, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / f"{name}.wav", WAVS[name](3.0))
    ctx = CheckContext(
        config=_Cfg(microphone=MicrophoneConfig(source=str(wav.path), seconds=3.0)), deadline=time.monotonic() + 30
    )
    findings = await check_microphone(ctx)
    assert not_passed(findings) == WAV_EXPECTED[name], [(f.id, f.status, f.value, f.text) for f in findings]
    by_id = {f.id: f for f in findings}
    assert by_id["microphone.level"].unit == "dBFS" and isinstance(by_id["microphone.level"].value, float)
    assert by_id["microphone.clipping"].unit == "runs"


async def test_clipping_is_clipping_with_input_level_advice_not_a_dead_microphone(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "square.wav", square(3.0, 50))
    ctx = CheckContext(
        config=_Cfg(microphone=MicrophoneConfig(source=str(wav.path), seconds=3.0)), deadline=time.monotonic() + 30
    )
    by_id = {f.id: f for f in await check_microphone(ctx)}
    clipping = by_id["microphone.clipping"]
    assert clipping.value == 1  # the whole signal is one run at full scale (either sign) ...
    assert "100.0 % av ljudet" in clipping.text["sv"]  # ... covering all of it
    assert "inspelningsnivå" in clipping.advice["sv"] and "input level" in clipping.advice["en"]
    assert by_id["microphone.level"].status is CheckStatus.PASS
    assert "välj en annan" not in by_id["microphone.level"].advice.get("sv", "")
