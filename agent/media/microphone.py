"""Microphone capture for the self-test (H1, H4, H13), through PyAV (FFmpeg).

Captures ``seconds`` of sound from the platform's capture device (ALSA on Linux, DirectShow on
Windows, AVFoundation on macOS) or from a file (``source``: a WAV file or any FFmpeg URL; this
machine has no microphone), resampled to mono 16-bit at ``sample_rate``. Runs in a daemon thread
with a deadline and closes the container in ``finally`` on success, error and timeout alike.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from agent.media.worker import DeadlineExceeded, mark_open, mark_released, run_with_deadline
from likavillkor.config import Section
from likavillkor.media.findings import AudioReport
from likavillkor.media.limits import AudioLimits

log = logging.getLogger(__name__)


class MicState(StrEnum):
    OK = "ok"
    IN_USE = "in_use"  # held exclusively by another app (Teams/Compodium)
    ABSENT = "absent"
    NO_SAMPLES = "no_samples"  # opened but delivered nothing
    LOST = "lost"  # delivered sound, then disappeared mid-check
    TIMEOUT = "timeout"
    ERROR = "error"


class MicrophoneConfig(Section):
    #: the capture device: ALSA name (``default``, ``hw:1``), DirectShow ``audio=Name``, AVFoundation
    #: ``:0``; None = the platform's default
    device: str | None = None
    #: a file or URL to read instead of the microphone (WAV here; tests)
    source: str | None = None
    seconds: float = 3.0
    sample_rate: int = 48000
    open_timeout_s: float = 3.0
    limits: AudioLimits = msgspec.field(default_factory=AudioLimits)


@dataclass(slots=True)
class MicResult:
    state: MicState
    report: AudioReport | None = None
    detail: str = ""
    elapsed_s: float = 0.0


def platform_input(device: str | None) -> tuple[str, str | None]:
    """(url, FFmpeg input format) for the platform's capture device."""
    if sys.platform.startswith("linux"):
        return device or "default", "alsa"
    if sys.platform == "win32":
        return device or "audio=default", "dshow"
    if sys.platform == "darwin":
        return device or ":0", "avfoundation"
    return device or "default", None


def linux_has_capture(snd_dir: str = "/dev/snd") -> bool:
    """Whether any ALSA capture PCM exists (``pcmC*D*c``)."""
    try:
        return any(n.startswith("pcmC") and n.endswith("c") for n in os.listdir(snd_dir))
    except OSError:
        return False


def _precheck(config: MicrophoneConfig) -> MicResult | None:
    if config.source is not None:
        if "://" not in config.source and not os.path.exists(config.source):
            return MicResult(MicState.ABSENT, detail=f"no such file: {config.source}")
        return None
    if sys.platform.startswith("linux") and not linux_has_capture():
        return MicResult(MicState.ABSENT, detail="no sound capture device (/dev/snd/pcm*c)")
    return None


def _open(config: MicrophoneConfig) -> Any:
    import av

    timeout = (config.open_timeout_s, config.open_timeout_s)
    if config.source is not None:
        return av.open(config.source, timeout=timeout)
    url, fmt = platform_input(config.device)
    return av.open(url, format=fmt, timeout=timeout)


def _state_of_error(exc: Exception) -> MicState:
    code = getattr(exc, "errno", None)
    if code == errno.EBUSY:
        return MicState.IN_USE
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return MicState.ABSENT
    return MicState.ERROR


def capture_blocking(config: MicrophoneConfig, deadline: float, stop: threading.Event) -> MicResult:
    """Open, read ``config.seconds`` of sound, close. Runs in a worker thread."""
    import av

    from likavillkor.media.audio import LevelMeter

    started = time.monotonic()
    early = _precheck(config)
    if early is not None:
        return early
    try:
        container = _open(config)
    except (av.FFmpegError, OSError) as exc:
        return MicResult(_state_of_error(exc), detail=str(exc)[:200], elapsed_s=time.monotonic() - started)
    mark_open("microphone")
    try:
        if not container.streams.audio:
            return MicResult(MicState.NO_SAMPLES, detail="the source has no sound")
        meter = LevelMeter(config.sample_rate, max_seconds=config.seconds)
        state, detail = _read_loop(container, config, meter, deadline, stop)
        report = meter.report(config.limits)
        return MicResult(state, report=report, detail=detail, elapsed_s=time.monotonic() - started)
    finally:
        container.close()
        mark_released("microphone")


def _read_loop(
    container: Any, config: MicrophoneConfig, meter: Any, deadline: float, stop: threading.Event
) -> tuple[MicState, str]:
    import av

    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="s16", layout="mono", rate=config.sample_rate)
    wanted = int(config.seconds * config.sample_rate)
    got = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().ravel()
                    meter.add(samples)
                    got += samples.size
            if got >= wanted:
                return MicState.OK, ""
            if stop.is_set() or time.monotonic() >= deadline:
                return (MicState.OK, "stopped at the deadline") if got else (MicState.TIMEOUT, "no sound in time")
    except (av.FFmpegError, OSError) as exc:
        if got:
            return MicState.LOST, f"the microphone stopped: {exc}"[:200]
        return _state_of_error(exc), str(exc)[:200]
    if got == 0:
        return MicState.NO_SAMPLES, "the microphone opened but delivered no sound"
    is_file = config.source is not None and "://" not in config.source
    return (MicState.OK, "end of file") if is_file else (MicState.LOST, "the microphone stopped")


async def capture(config: MicrophoneConfig, deadline: float) -> MicResult:
    """Capture with a deadline (``time.monotonic()``): always answers by the deadline."""
    started = time.monotonic()
    try:
        return await run_with_deadline(
            lambda stop: capture_blocking(config, deadline, stop), deadline, "microphone-capture"
        )
    except DeadlineExceeded:
        return MicResult(
            MicState.TIMEOUT, detail="the microphone did not answer in time", elapsed_s=time.monotonic() - started
        )
    except Exception as exc:  # a driver error is a result, never a crash
        log.warning("microphone capture failed: %s", exc)
        return MicResult(MicState.ERROR, detail=str(exc)[:200], elapsed_s=time.monotonic() - started)
