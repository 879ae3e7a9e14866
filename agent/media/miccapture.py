"""The in-meeting microphone watch's capture backends (issue 14): the microphone read beside the meeting
program, in **shared** mode, one path per OS (:func:`open_shared`):

* Linux: ``parec`` (:class:`ParecStream`), one more client of PulseAudio or PipeWire
  (``pipewire-pulse``); without ``parec``, PortAudio's ALSA ``pulse`` device (``PULSE_SOURCE``).
* Windows: the WASAPI host API in shared mode (``WasapiSettings(exclusive=False, auto_convert=True)``).
* macOS: Core Audio's default input (Core Audio always shares input devices).

PortAudio (``sounddevice``) is imported only when a stream is opened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agent.media.micwatch import MicWatchConfig


class Stream(Protocol):
    samplerate: float

    @property
    def active(self) -> bool: ...

    def close(self) -> None: ...


def pick_device(
    devices: Sequence[dict[str, Any]], hostapis: Sequence[dict[str, Any]], platform: str, wanted: str = ""
) -> int | str | None:
    """The PortAudio input to open on ``platform``, from ``sounddevice.query_devices()`` and
    ``query_hostapis()``: Linux ``"pulse"`` (the sound server: shared); Windows the WASAPI host
    API's default input (shared mode is asked for when opening); macOS Core Audio's default input.
    ``wanted``: part of a device name. ``None``: no such input."""

    def inputs(api: int | None) -> list[int]:
        return [
            i
            for i, d in enumerate(devices)
            if d.get("max_input_channels", 0) > 0 and (api is None or d.get("hostapi") == api)
        ]

    if platform.startswith("linux"):
        names = {d.get("name") for d in devices}
        return "pulse" if "pulse" in names else None
    api_name = {"win32": "Windows WASAPI", "darwin": "Core Audio"}.get(platform)
    api = next((i for i, h in enumerate(hostapis) if h.get("name") == api_name), None)
    if api is None:
        return None
    candidates = inputs(api)
    if wanted:
        found = [i for i in candidates if wanted.lower() in str(devices[i].get("name", "")).lower()]
        return found[0] if found else None
    default = hostapis[api].get("default_input_device", -1)
    if isinstance(default, int) and default in candidates:
        return default
    return candidates[0] if candidates else None


class ParecStream:
    """Linux: ``parec`` (pulseaudio-utils; PipeWire serves it through ``pipewire-pulse``) records the
    source as one more client of the sound server, which hands every client the same samples. Its
    raw s16le mono output is read in a daemon thread and handed on in 100 ms blocks.

    Why not PortAudio here: PortAudio's ALSA host API enumerates every ALSA device and plugin when it
    starts (about 19 MB of libraries in the agent, and pages of ALSA errors on stderr on a machine
    without a sound card); ``parec`` is a separate process of about 4 MB that the agent can kill."""

    def __init__(self, cfg: MicWatchConfig, on_block: Callable[[bytes], None]) -> None:
        argv = [
            "parec",
            "--raw",
            "--format=s16le",
            "--channels=1",
            f"--rate={cfg.sample_rate}",
            "--latency-msec=250",
            "--client-name=likavillkor-micwatch",
        ]
        if cfg.source:
            argv.append(f"--device={cfg.source}")
        self.samplerate = float(cfg.sample_rate)
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._block = max(2, cfg.sample_rate // 4 * 2)  # 250 ms
        self._thread = threading.Thread(target=self._pump, args=(on_block,), name="micwatch-parec", daemon=True)
        self._thread.start()

    def _pump(self, on_block: Callable[[bytes], None]) -> None:
        out = self._proc.stdout
        assert out is not None
        while True:
            data = out.read(self._block)
            if not data:
                return  # parec exited: the source or the server is gone
            on_block(data)

    @property
    def active(self) -> bool:
        return self._proc.poll() is None and self._thread.is_alive()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)
        self._thread.join(3)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def open_shared(cfg: MicWatchConfig, on_block: Callable[[bytes], None]) -> Stream:
    """The shared-mode input of this OS: ``parec`` on Linux, PortAudio elsewhere."""
    if sys.platform.startswith("linux") and shutil.which("parec"):
        return ParecStream(cfg, on_block)
    return open_sounddevice(cfg, on_block)


def open_sounddevice(cfg: MicWatchConfig, on_block: Callable[[bytes], None]) -> Stream:
    """Open a shared-mode input stream with PortAudio (imported here, not at module import)."""
    import sounddevice as sd

    if sys.platform.startswith("linux") and cfg.source:
        os.environ["PULSE_SOURCE"] = cfg.source  # read by ALSA's pulse plugin when it opens
    device = pick_device(sd.query_devices(), sd.query_hostapis(), sys.platform, cfg.device)
    if device is None:
        raise LookupError("no shared-mode input device")
    extra = sd.WasapiSettings(exclusive=False, auto_convert=True) if sys.platform == "win32" else None

    def callback(indata: Any, _frames: int, _time: Any, _status: Any) -> None:
        on_block(bytes(indata))

    stream = sd.RawInputStream(
        device=device,
        samplerate=cfg.sample_rate,
        channels=1,
        dtype="int16",
        blocksize=cfg.sample_rate // 10,
        latency="high",
        callback=callback,
        extra_settings=extra,
    )
    stream.start()
    return stream
