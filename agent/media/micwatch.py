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

One concept per module: here ``[micwatch]`` (:class:`MicWatchConfig`) and the watcher loop
(:class:`MicWatch`: the capture thread, reopening, the once-a-second :meth:`MicWatch.read`);
:mod:`agent.media.miclevels` the pure level analysis and the states (:func:`~agent.media.miclevels.analyse`,
:class:`~agent.media.miclevels.MicJudge`); :mod:`agent.media.miccapture` the capture backends
(:func:`~agent.media.miccapture.open_shared`, :func:`~agent.media.miccapture.pick_device`).

Cost (bench/bench_micwatch.py, docs/performance.md): the analysis runs on 16 kHz int16 without
numpy (audioop's C loops where the standard library still has them, pure Python otherwise); the
capture is ``parec``'s or PortAudio's thread. Nothing is imported before the watch starts (a meeting
is on and ``[micwatch] enabled``), so the idle monitor path stays light (tests/agent/test_light.py).
"""

from __future__ import annotations

import array
import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from itertools import islice
from typing import Annotated, Any

import msgspec

from agent.media.miccapture import Stream, open_shared
from agent.media.miclevels import MicJudge, MicWatchState, analyse
from likavillkor.config import Section

log = logging.getLogger(__name__)


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


#: ``open(cfg, on_block) -> Stream``; ``on_block(bytes)`` gets mono int16 little-endian
Opener = Callable[[MicWatchConfig, Callable[[bytes], None]], Stream]
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
