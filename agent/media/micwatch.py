"""The in-meeting microphone watch (issue 14; H1, H4): the microphone read beside the meeting program,
in shared mode, and turned into numbers once a second. No sound is kept or sent: each second's
samples are reduced to levels and dropped.

Shared capture, one path per OS (:func:`open_shared`):

* Linux: ``parec``, one more client of PulseAudio or PipeWire (``pipewire-pulse``); the source is
  ``[micwatch] source`` or the default source. A sound server hands every client the same samples,
  so Teams and the agent read one microphone at once. Without ``parec``: PortAudio's ALSA ``pulse``
  device (``PULSE_SOURCE``), which costs the agent about 19 MB more (see :class:`ParecStream`).
* Windows: the WASAPI host API in **shared** mode (``WasapiSettings(exclusive=False,
  auto_convert=True)``: Windows' engine mixes and converts for every reader).
* macOS: Core Audio's default input (Core Audio always shares input devices).

Every second (:meth:`MicWatch.read`): ``microphone`` (the state), ``mic_dbfs`` (RMS), ``mic_peak_dbfs``,
``mic_clipping`` (runs of more than 6 full-scale samples, testrtc), ``mic_muted`` (the OS's switch,
where it says) and ``headphones`` (H19). States: ``ok``; ``silent`` (below -60 dBFS: a listening
member is silent, normal); ``muted`` (the OS's mute switch: normal); ``clipping``; ``dead`` (no
variation at a level that is neither silent nor saturated, over ``dead_window_s``); ``absent`` (the
OS lists no such input, or a microphone heard in this meeting can no longer be opened);
``no_samples`` (the OS lists it, or it was heard, but nothing arrives). Where no sound system ever
answers (no sound server, a sandbox) no state is published: the self-test judges that.
A device that disappears, a rate the agent did not ask for, a stream that stops: a state, never
an exception out of the monitor.

Cost (bench/bench_micwatch.py, docs/performance.md): the analysis runs on 16 kHz int16 without
numpy (audioop's C loops where the standard library still has them, pure Python otherwise); the
capture is ``parec``'s or PortAudio's thread. Nothing is imported before the watch starts (a meeting
is on and ``[micwatch] enabled``), so the idle monitor path stays light (tests/agent/test_light.py).
"""

from __future__ import annotations

import array
import collections
import importlib
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from operator import mul
from typing import Annotated, Any, Protocol

import msgspec

from likavillkor.config import Section

log = logging.getLogger(__name__)

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


class MicWatchConfig(Section):
    """``[micwatch]``: the microphone beside the meeting program, during a meeting only."""

    enabled: bool = True
    #: Linux: the PulseAudio/PipeWire source to read (``pactl list short sources``); empty: the default
    source: str = ""
    #: Windows/macOS: part of the input device's name; empty: the default input
    device: str = ""
    sample_rate: Annotated[int, msgspec.Meta(ge=8000, le=48000)] = 16000
    #: RMS below this is silent (testrtc: -60 dBFS); silent is normal (a listening member)
    silence_dbfs: Annotated[float, msgspec.Meta(ge=-120, le=0)] = -60.0
    #: a clipping run is more than this many consecutive full-scale samples minus one (testrtc: > 6)
    clip_run_samples: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 7
    #: dead: over this many seconds, the signal's variation (RMS without its DC part) stays below
    #: ``dead_ac_dbfs`` while its level is above silence (a stuck converter, a DC offset) ...
    dead_window_s: Annotated[float, msgspec.Meta(ge=1, le=60)] = 5.0
    dead_ac_dbfs: Annotated[float, msgspec.Meta(ge=-120, le=0)] = -90.0
    #: ... or the level of its 100 ms windows varies by less than this (relative standard deviation):
    #: a mains hum or a stuck buffer is that steady; room noise, breath and speech are not (white
    #: noise varies by about 2 % between 100 ms windows at 16 kHz)
    dead_level_rel_std: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.005
    #: nothing arrived for this long after opening: no_samples (and the stream is reopened)
    no_samples_after_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0
    reopen_every_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    #: how often the OS is asked for the mute switch, the input's presence and the output (H19)
    facts_every_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0


# ---- pure analysis -------------------------------------------------------------------------------


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


# ---- capture -------------------------------------------------------------------------------------


class Stream(Protocol):
    samplerate: float

    @property
    def active(self) -> bool: ...

    def close(self) -> None: ...


#: ``open(cfg, on_block) -> Stream``; ``on_block(bytes)`` gets mono int16 little-endian
Opener = Callable[[MicWatchConfig, Callable[[bytes], None]], Stream]


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


FactsReader = Callable[[str | None], Any]  # source name -> agent.platform.audio.AudioFacts


def _read_facts(source: str | None) -> Any:
    from agent.platform.audio import audio_facts

    return audio_facts(source=source)


class MicWatch:
    """Reads the microphone in a background thread; :meth:`read` gives the numbers once a second.

    ``opener`` and ``facts`` are injectable; ``clock`` is monotonic. Bounded: at most
    ``2 x sample_rate`` samples wait between two reads (older ones are dropped and counted).
    """

    def __init__(
        self,
        cfg: MicWatchConfig,
        *,
        opener: Opener | None = None,
        facts: FactsReader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.opener = opener or open_shared
        self.facts_reader = facts or _read_facts
        self.clock = clock
        self.judge = MicJudge(cfg)
        self.problems: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._blocks: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._max_queued = 2 * cfg.sample_rate * 2  # bytes: two seconds of int16
        self._rate = cfg.sample_rate
        self._opened_at: float | None = None
        self._last_block: float | None = None
        self._open_failed: str | None = None
        self._heard = False  # samples arrived during this watch (this meeting)
        self._idle_failures = 0
        self._facts: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the capture thread --

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="micwatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _on_block(self, data: bytes) -> None:  # PortAudio's thread: keep it short
        with self._lock:
            self._blocks.append(data)
            self._queued += len(data)
            while self._queued > self._max_queued and self._blocks:
                self._queued -= len(self._blocks.popleft())
                self.problems["dropped_blocks"] += 1
            self._last_block = self.clock()
            self._open_failed = None  # sound flows: whatever failed before is over

    def _note(self, reason: str, detail: str) -> None:
        self.problems[reason] += 1
        if self.problems[reason] == 1:
            log.warning("micwatch: %s: %s", reason, detail[:300])

    def _refresh_facts(self) -> None:
        try:
            self._facts = self.facts_reader(self.cfg.source or None)
        except Exception as exc:  # the OS's answer is optional: numbers go on without it
            self._note("facts", str(exc))
            self._facts = None

    def _supervise(self) -> None:
        next_facts = 0.0
        while not self._stop.is_set():
            if self.clock() >= next_facts:
                self._refresh_facts()
                next_facts = self.clock() + self.cfg.facts_every_s
            stream = self._open()
            if stream is None:
                self._stop.wait(self._reopen_delay())
                continue
            try:
                while not self._stop.wait(0.5):
                    if self.clock() >= next_facts:
                        self._refresh_facts()
                        next_facts = self.clock() + self.cfg.facts_every_s
                    if not stream.active:
                        self._note("ended", "the input stopped: reopening it")
                        with self._lock:
                            if self._last_block is None:  # it ended before any sound: nothing to read
                                self._open_failed = "the input ended before delivering sound"
                        break
                    if self._stalled():
                        self._note("stalled", "no samples: reopening the input")
                        break
            finally:
                self._close(stream)
            self._stop.wait(self._reopen_delay())

    def _reopen_delay(self) -> float:
        """``reopen_every_s``; while nothing was ever heard (no sound system), doubling up to 60 s so a
        machine without one is not asked every few seconds."""
        with self._lock:
            heard = self._last_block is not None or self._heard
        if heard:
            self._idle_failures = 0
            return self.cfg.reopen_every_s
        self._idle_failures += 1
        return min(60.0, self.cfg.reopen_every_s * 2 ** min(self._idle_failures - 1, 6))

    def _open(self) -> Stream | None:
        try:
            stream = self.opener(self.cfg, self._on_block)
        except Exception as exc:  # PortAudioError, LookupError, OSError, a missing library: a state
            self._note("open", f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._open_failed = str(exc)[:200] or type(exc).__name__
                self._opened_at = None
            return None
        rate = int(getattr(stream, "samplerate", 0) or 0)
        with self._lock:
            self._opened_at = self.clock()
            self._last_block = None
            self._rate = rate if 1000 <= rate <= 384_000 else 0
        if rate != self.cfg.sample_rate:
            self._note("rate_mismatch", f"asked for {self.cfg.sample_rate} Hz, got {rate} Hz: measured at {rate} Hz")
        return stream

    def _stalled(self) -> bool:
        with self._lock:
            since = self._last_block if self._last_block is not None else self._opened_at
        return since is not None and self.clock() - since > 2 * self.cfg.no_samples_after_s

    def _close(self, stream: Stream) -> None:
        try:
            stream.close()
        except Exception as exc:  # a device that vanished may refuse to close cleanly
            self._note("close", str(exc))
        with self._lock:
            self._opened_at = None

    # -- once a second, from the monitor --

    def _drain(self) -> tuple[array.array[int], int, float | None, float | None, str | None]:
        with self._lock:
            blocks = list(self._blocks)
            self._blocks.clear()
            self._queued = 0
            return_rate = self._rate
            opened, last, failed = self._opened_at, self._last_block, self._open_failed
        pcm = array.array("h")
        for b in blocks:
            pcm.frombytes(b[: len(b) - len(b) % 2])
        if sys.byteorder != "little":  # pragma: no cover - PortAudio hands out native order anyway
            pcm.byteswap()
        if last is None:
            last = opened
        return pcm, return_rate, opened, last, failed

    def read(self) -> dict[str, Any]:
        """The fields of this second's sample. Never raises."""
        try:
            return self._read()
        except Exception as exc:  # one bad second must not cost the sample
            self._note("read", str(exc))
            return {}

    def _read(self) -> dict[str, Any]:
        pcm, rate, opened, last, failed = self._drain()
        facts = self._facts
        present = getattr(facts, "input_present", None)
        if pcm:
            present = True  # samples are proof, whatever an older answer of the OS said (plugged back in)
        muted = getattr(facts, "input_muted", None)
        out: dict[str, Any] = {"mic_muted": muted, "headphones": getattr(facts, "headphones", None)}
        now = self.clock()
        # Only what the watch can be sure of (as the camera's look-up, agent/monitor.py): the OS says
        # the input is gone, or a microphone heard in this meeting stopped, or the OS lists an input
        # that gives nothing. A machine whose sound system never answered (no sound server, no
        # tools, a sandbox) says nothing here: the self-test, which opens the device, judges that.
        sure = present is not None or self._heard
        if present is False or (failed is not None and self._heard):
            self.judge.reset()
            out["microphone"] = MicWatchState.ABSENT.value
            return out
        if failed is not None:
            if sure:
                out["microphone"] = MicWatchState.NO_SAMPLES.value
            else:
                self._note("unknown", f"no sound system answers ({failed}): the microphone state is not published")
            return out
        if opened is None:
            return out  # (re)opening: no evidence either way
        if not pcm:
            quiet_since = last if last is not None else opened
            if sure and now - quiet_since >= self.cfg.no_samples_after_s:
                out["microphone"] = self.judge.judge(None)
            return out
        self._heard = True
        if rate == 0:
            out["microphone"] = MicWatchState.NO_SAMPLES.value  # a rate that makes no sense
            return out
        levels = analyse(
            pcm if len(pcm) <= 2 * rate else array.array("h", islice(pcm, len(pcm) - 2 * rate, None)),
            rate,
            self.cfg.clip_run_samples,
        )
        out.update(
            microphone=self.judge.judge(levels, muted=muted, present=present),
            mic_dbfs=min(0.0, levels.rms_dbfs),
            mic_peak_dbfs=min(0.0, levels.peak_dbfs),
            mic_clipping=levels.clip_runs,
        )
        return out
