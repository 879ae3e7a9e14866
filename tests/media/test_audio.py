"""Microphone checks on WAV files with known levels, clipping and silence, read through the real
capture path (PyAV), and the self-test check built on it (H1, H4; testrtc and Twilio limits)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from agent.checks.base import CheckContext
from agent.checks.media import check_microphone
from agent.media.microphone import MicrophoneConfig, MicState, capture
from likavillkor.media.audio import analyse, tone_dbfs
from likavillkor.media.audio_judge import judge_audio
from likavillkor.media.findings import AudioReport
from likavillkor.wire import CheckStatus
from tests.media.clips import speech_like, tone, write_wav

RATE = 48000
pytestmark = pytest.mark.anyio


async def read(path: Path, seconds: float = 3.0) -> AudioReport:
    result = await capture(MicrophoneConfig(source=str(path), seconds=seconds), time.monotonic() + 10)
    assert result.state is MicState.OK, result
    assert result.report is not None
    return result.report


def statuses(report: AudioReport) -> dict[str, CheckStatus]:
    return {i.id: i.status for i in judge_audio(report)}


async def test_speech_at_known_level_passes(tmp_path: Path) -> None:
    report = await read(write_wav(tmp_path / "speech.wav", speech_like(3, -25)).path)
    assert report.rms_dbfs == pytest.approx(-25, abs=0.2)
    assert report.duration_s == pytest.approx(3.0, abs=0.05)
    assert not report.silent and not report.dead and report.clipping_runs == []
    assert report.noise_floor_dbfs is not None and report.noise_floor_dbfs < -40  # the pauses between syllables
    assert statuses(report) == {"microphone.level": CheckStatus.PASS, "microphone.clipping": CheckStatus.PASS}


async def test_quiet_speech_is_not_called_dead(tmp_path: Path) -> None:
    report = await read(write_wav(tmp_path / "quiet.wav", speech_like(3, -50)).path)
    assert not report.silent and not report.dead


async def test_digital_silence_is_silent(tmp_path: Path) -> None:
    report = await read(write_wav(tmp_path / "zero.wav", np.zeros(3 * RATE)).path)
    assert report.silent and report.rms_dbfs == -120.0
    issue = judge_audio(report)[0]
    assert issue.status is CheckStatus.WARN  # a muted listener is normal (policy: silent = warn)
    assert "mikrofonen tar inte upp något ljud" in issue.advice["sv"]


async def test_noise_below_minus_60_is_silent(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    report = await read(write_wav(tmp_path / "n70.wav", rng.normal(0, 10 ** (-70 / 20), 3 * RATE)).path)
    assert report.rms_dbfs == pytest.approx(-70, abs=1.5)
    assert report.silent


async def test_constant_hum_is_a_dead_microphone(tmp_path: Path) -> None:
    report = await read(write_wav(tmp_path / "hum.wav", tone(3, 50, -30)).path)
    assert not report.silent and report.dead
    assert report.level_std_percent is not None and report.level_std_percent < 1.0
    assert statuses(report)["microphone.level"] is CheckStatus.FAIL


async def test_clipping_runs_found_where_they_are(tmp_path: Path) -> None:
    x = speech_like(3, -25)
    x[RATE : RATE + 100] = 1.5  # 100 samples past full scale at 1.0 s
    x[2 * RATE : 2 * RATE + 6] = -1.5  # 6 samples: not more than 6, so no clipping (testrtc)
    x[2 * RATE + 1000 : 2 * RATE + 1007] = -1.5  # 7: clipping
    report = await read(write_wav(tmp_path / "clip.wav", x).path)
    starts = [(round(r.start_s, 3), r.samples) for r in report.clipping_runs]
    assert starts == [(1.0, 100), (round((2 * RATE + 1000) / RATE, 3), 7)]
    assert statuses(report)["microphone.clipping"] is CheckStatus.WARN


def test_tone_level_by_goertzel() -> None:
    x = tone(1, 1000, -20) + speech_like(1, -40)
    assert tone_dbfs(x.astype(np.float32), RATE, 1000) == pytest.approx(-20, abs=0.3)
    assert tone_dbfs(speech_like(1, -40).astype(np.float32), RATE, 1000) < -50
    assert analyse(x.astype(np.float32), RATE, tone_hz=1000).tone_dbfs == pytest.approx(-20, abs=0.3)


def test_int16_full_scale_sine_is_minus_3_dbfs() -> None:
    pcm = (32767 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)).astype(np.int16)
    assert analyse(pcm, RATE).rms_dbfs == pytest.approx(-3.01, abs=0.05)


async def test_missing_file_and_missing_device_are_absent_within_the_deadline(tmp_path: Path) -> None:
    t0 = time.monotonic()
    missing = await capture(MicrophoneConfig(source=str(tmp_path / "nope.wav")), t0 + 5)
    assert missing.state is MicState.ABSENT
    device = await capture(MicrophoneConfig(), t0 + 5)  # this machine has no sound card
    assert device.state is MicState.ABSENT, device
    assert time.monotonic() - t0 < 2


async def test_a_file_that_is_not_sound_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    result = await capture(MicrophoneConfig(source=str(bad)), time.monotonic() + 5)
    assert result.state in (MicState.ERROR, MicState.NO_SAMPLES), result


class _Cfg:
    def __init__(self, microphone: MicrophoneConfig) -> None:
        self.microphone = microphone


async def test_check_microphone_findings(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "speech.wav", speech_like(2, -25))
    messages: list[str] = []
    ctx = CheckContext(
        config=_Cfg(MicrophoneConfig(source=str(wav.path), seconds=2)),
        deadline=time.monotonic() + 10,
        progress=messages.append,
    )
    findings = {f.id: f for f in await check_microphone(ctx)}
    assert findings["microphone.device"].status is CheckStatus.PASS
    assert findings["microphone.level"].status is CheckStatus.PASS and findings["microphone.level"].rule == "H4"
    assert messages and "säg några ord" in messages[0]
    absent = await check_microphone(CheckContext(config=_Cfg(MicrophoneConfig()), deadline=time.monotonic() + 5))
    assert [(f.id, f.status) for f in absent] == [("microphone.device", CheckStatus.FAIL)]
    assert "anslut" in absent[0].advice["sv"]
