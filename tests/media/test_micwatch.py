"""The in-meeting microphone watch (issue 14): pure levels and states on generated signals, then the
real shared-capture path against a real PulseAudio server — a null sink's monitor as the microphone,
``parecord`` as a second reader beside the agent (the meeting program), ``pacat`` playing signals —
including a device that disappears and a server that dies (a state, never a crash)."""

from __future__ import annotations

import array
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.media.miclevels import MicJudge, analyse, clip_runs
from agent.media.micwatch import MicWatch, MicWatchConfig
from agent.platform.audio import AudioFacts
from tests.media.clips import speech_like, tone
from tests.support.pulse import PulseServer, running_pulse, wav_rms_dbfs
from tests.support.waiting import wait_until

RATE = 16000


def pcm(x: np.ndarray) -> array.array[int]:
    return array.array("h", np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16).tolist())


def states(signal: np.ndarray, cfg: MicWatchConfig | None = None, rate: int = RATE, **kw: Any) -> list[str]:
    """The state of each second of ``signal``, as the watch would publish it."""
    cfg = cfg or MicWatchConfig()
    judge = MicJudge(cfg)
    out = []
    for s in range(len(signal) // rate):
        out.append(judge.judge(analyse(pcm(signal[s * rate : (s + 1) * rate]), rate, cfg.clip_run_samples), **kw))
    return out


# ---- pure: levels and states ---------------------------------------------------------------------


def test_levels_of_a_known_sine_and_silence() -> None:
    lv = analyse(pcm(tone(1, 1000, -20, rate=RATE)), RATE, 7)
    assert lv.rms_dbfs == pytest.approx(-20, abs=0.1) and lv.peak_dbfs == pytest.approx(-17, abs=0.1)
    assert lv.clip_runs == 0 and len(lv.window_rms) == 10
    zero = analyse(array.array("h", [0] * RATE), RATE, 7)
    assert (zero.rms_dbfs, zero.peak_dbfs, zero.ac_dbfs) == (-120.0, -120.0, -120.0)


def test_clip_runs_count_only_runs_of_seven() -> None:
    x = [0] * 100 + [32767] * 6 + [0] * 10 + [-32768] * 7 + [0] + [32767] * 30
    assert clip_runs(array.array("h", x), 7) == 2


def test_speech_is_ok_and_a_listener_is_silent_not_dead() -> None:
    assert set(states(speech_like(6, -30, rate=RATE))) == {"ok"}
    assert set(states(np.zeros(6 * RATE))) == {"silent"}  # digital silence: a muted listener, normal
    noise = np.random.default_rng(1).normal(0, 10 ** (-75 / 20), 6 * RATE)
    assert set(states(noise)) == {"silent"}


def test_steady_room_noise_is_not_dead() -> None:
    fan = np.random.default_rng(2).normal(0, 10 ** (-45 / 20), 10 * RATE)  # a fan: steady, but noise
    assert set(states(fan)) == {"ok"}


def test_a_hum_or_a_stuck_value_is_dead_after_the_window() -> None:
    hum = states(tone(8, 50, -30, rate=RATE))
    assert hum[:4] == ["ok"] * 4 and hum[4:] == ["dead"] * 4  # 5 s of evidence first
    dc = states(np.full(8 * RATE, 0.05))
    assert dc[4:] == ["dead"] * 4


def test_saturation_is_clipping_never_dead() -> None:
    square = np.where(np.sin(2 * np.pi * 50 * np.arange(8 * RATE) / RATE) >= 0, 1.5, -1.5)
    assert set(states(square)) == {"clipping"}
    hot = np.clip(speech_like(6, -2, rate=RATE) * 3, -1.5, 1.5)
    assert set(states(hot)) == {"clipping"}


def test_muted_and_absent_come_from_the_os() -> None:
    assert set(states(np.zeros(3 * RATE), muted=True)) == {"muted"}
    assert set(states(speech_like(3, -30, rate=RATE), present=False)) == {"absent"}


def test_levels_do_not_depend_on_the_rate_delivered() -> None:
    for rate in (8000, 16000, 44100, 48000):
        lv = analyse(pcm(tone(1, 1000, -20, rate=rate)), rate, 7)
        assert lv.rms_dbfs == pytest.approx(-20, abs=0.1), rate


# ---- the watch with injected streams: rates, no frames, a device that cannot be opened ----------


class FakeStream:
    """A stream that delivers recorded blocks (or nothing) from its own thread, as PortAudio does."""

    def __init__(self, on_block: Callable[[bytes], None], rate: float, blocks: list[bytes]) -> None:
        self.samplerate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(on_block, blocks), daemon=True)
        self._thread.start()

    def _run(self, on_block: Callable[[bytes], None], blocks: list[bytes]) -> None:
        for b in blocks:
            if self._stop.wait(0.1):
                return
            on_block(b)

    @property
    def active(self) -> bool:
        return not self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def wait_for(watch: MicWatch, want: Callable[[dict[str, Any]], bool], timeout: float = 30) -> list[dict[str, Any]]:
    """Read the watch once a second until ``want``; every read, in order."""
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        time.sleep(1.0)
        seen.append(watch.read())
        return want(seen[-1])

    wait_until(reached, timeout=timeout, what="the wanted microphone state", detail=lambda: seen[-8:], interval=0)
    return seen


def test_a_rate_not_asked_for_is_measured_at_the_rate_delivered() -> None:
    x = pcm(tone(30, 1000, -20, rate=44100)).tobytes()
    blocks = [x[i : i + 8820] for i in range(0, len(x), 8820)]  # 100 ms of 44.1 kHz each
    watch = MicWatch(MicWatchConfig(), opener=lambda cfg, cb: FakeStream(cb, 44100.0, blocks), facts=lambda _s: None)
    watch.start()
    try:
        seen = wait_for(watch, lambda f: f.get("microphone") == "ok")
        assert seen[-1]["mic_dbfs"] == pytest.approx(-20, abs=0.3)
        assert watch.problems["rate_mismatch"] >= 1
    finally:
        watch.stop()


def test_a_device_that_gives_no_frames_is_no_samples_and_is_reopened() -> None:
    opened: list[float] = []

    def opener(cfg: MicWatchConfig, cb: Callable[[bytes], None]) -> FakeStream:
        opened.append(time.monotonic())
        return FakeStream(cb, 16000.0, [])

    watch = MicWatch(
        MicWatchConfig(no_samples_after_s=1.0, reopen_every_s=1.0),
        opener=opener,
        facts=lambda _s: AudioFacts(input_present=True),
    )  # the OS lists it: it gives nothing
    watch.start()
    try:
        wait_for(watch, lambda f: f.get("microphone") == "no_samples")
        deadline = time.monotonic() + 30
        while len(opened) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(opened) >= 2  # stalled: closed and opened again
    finally:
        watch.stop()


def test_a_device_that_cannot_be_opened_is_absent() -> None:
    def opener(cfg: MicWatchConfig, cb: Callable[[bytes], None]) -> FakeStream:
        raise OSError("Error querying device -1")

    gone = MicWatch(
        MicWatchConfig(reopen_every_s=1.0), opener=opener, facts=lambda _s: AudioFacts(input_present=False)
    )  # the OS no longer lists it
    gone.start()
    try:
        wait_for(gone, lambda f: f.get("microphone") == "absent")
        assert gone.problems["open"] >= 1
    finally:
        gone.stop()


def test_no_sound_system_at_all_publishes_no_microphone_state() -> None:
    """A test machine or a sandbox with no sound server: not sure, so nothing (the self-test judges)."""

    def opener(cfg: MicWatchConfig, cb: Callable[[bytes], None]) -> FakeStream:
        raise OSError("Connection refused")

    watch = MicWatch(MicWatchConfig(reopen_every_s=1.0), opener=opener, facts=lambda _s: AudioFacts())
    watch.start()
    try:
        time.sleep(3.0)
        fields = [watch.read() for _ in range(3)]
        assert all("microphone" not in f for f in fields), fields
        assert watch.problems["open"] >= 1 and watch.problems["unknown"] >= 1
    finally:
        watch.stop()


# ---- a real PulseAudio: shared capture beside a second reader -------------------------------------


@pytest.fixture
def pulse(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    with running_pulse(tmp_path_factory.mktemp("pa")) as server:
        for key in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "HOME"):
            monkeypatch.setenv(key, server.env[key])
        yield server


@pytest.fixture
def watch(pulse: PulseServer) -> Iterator[MicWatch]:
    w = MicWatch(MicWatchConfig(source="room.monitor", facts_every_s=1.0, reopen_every_s=1.0, no_samples_after_s=2.0))
    w.start()
    try:
        yield w
    finally:
        w.stop()
        assert not any(t.name == "micwatch" for t in threading.enumerate())


def test_shared_capture_beside_a_second_reader_follows_the_signal(
    pulse: PulseServer, watch: MicWatch, tmp_path: Path
) -> None:
    with pulse.record(tmp_path / "meeting-program.wav") as other:
        pulse.play(speech_like(30, -25, rate=48000))
        seen = wait_for(watch, lambda f: f.get("microphone") == "ok" and f.get("mic_dbfs", -120) > -35)
        assert seen[-1]["mic_muted"] is False  # the OS's switch, read with pactl
        pulse.stop_players()
        pulse.play(tone(30, 50, -30))  # the line now carries only a mains hum: dead
        wait_for(watch, lambda f: f.get("microphone") == "dead")
        pulse.stop_players()
        pulse.play(np.zeros(48000 * 30))  # a listening member: silent, normal
        wait_for(watch, lambda f: f.get("microphone") == "silent")
        time.sleep(1.0)
    assert wav_rms_dbfs(other) > -50  # the second reader got the sound too: shared, not taken


def test_clipping_is_reported_as_clipping(pulse: PulseServer, watch: MicWatch) -> None:
    pulse.play(np.clip(speech_like(30, -2, rate=48000) * 3, -1.5, 1.5))
    seen = wait_for(watch, lambda f: f.get("microphone") == "clipping")
    assert seen[-1]["mic_clipping"] >= 1 and seen[-1]["mic_peak_dbfs"] == pytest.approx(0, abs=0.01)
    assert "dead" not in [f.get("microphone") for f in seen]


def test_os_mute_is_muted(pulse: PulseServer, watch: MicWatch) -> None:
    pulse.play(speech_like(30, -25, rate=48000))
    wait_for(watch, lambda f: f.get("microphone") == "ok")
    pulse.pactl("set-source-mute", "room.monitor", "1")
    seen = wait_for(watch, lambda f: f.get("microphone") == "muted")
    assert seen[-1]["mic_muted"] is True


def test_a_device_that_disappears_is_absent_and_the_watch_goes_on(pulse: PulseServer, watch: MicWatch) -> None:
    pulse.play(speech_like(60, -25, rate=48000))
    wait_for(watch, lambda f: f.get("microphone") == "ok")
    module = next(
        line.split()[0] for line in pulse.pactl("list", "short", "modules").splitlines() if "module-null-sink" in line
    )
    pulse.pactl("unload-module", module)  # the USB headset is pulled out
    wait_for(watch, lambda f: f.get("microphone") == "absent")
    pulse.pactl("load-module", "module-null-sink", "sink_name=room", "rate=48000", "channels=1")
    pulse.stop_players()
    pulse.play(speech_like(60, -25, rate=48000))
    wait_for(watch, lambda f: f.get("microphone") == "ok", timeout=60)  # plugged back in: reopened


def test_a_sound_server_that_dies_is_absent_or_no_samples(pulse: PulseServer, watch: MicWatch) -> None:
    pulse.play(speech_like(60, -25, rate=48000))
    wait_for(watch, lambda f: f.get("microphone") == "ok")
    pulse.stop()
    seen = wait_for(watch, lambda f: f.get("microphone") in ("absent", "no_samples"))
    assert all(isinstance(f, dict) for f in seen)


@pytest.mark.anyio
@pytest.mark.parametrize(("form_factor", "status"), [("speaker", "warn"), ("headphone", "pass")])
async def test_self_test_reads_the_output_kind_from_the_sound_server(
    pulse: PulseServer, tmp_path: Path, form_factor: str, status: str
) -> None:
    """H19 on a real PulseAudio: the default output's form factor decides the headphones finding."""
    from agent.checks.base import CheckContext
    from agent.checks.media import check_microphone
    from agent.media.microphone import MicrophoneConfig
    from tests.media.clips import write_wav

    pulse.pactl("load-module", "module-null-sink", "sink_name=out", f"sink_properties=device.form_factor={form_factor}")
    pulse.pactl("set-default-sink", "out")
    wav = write_wav(tmp_path / "speech.wav", speech_like(2, -25))

    class Cfg:
        microphone = MicrophoneConfig(source=str(wav.path), seconds=2)

    findings = {f.id: f for f in await check_microphone(CheckContext(config=Cfg(), deadline=time.monotonic() + 30))}
    assert findings["audio.headphones"].status.value == status
    assert findings["audio.headphones"].rule == "H19"


def test_the_c_and_the_pure_python_meters_agree() -> None:
    rng = np.random.default_rng(9)
    for x in (
        speech_like(1, -30, rate=RATE),
        tone(1, 50, -20, rate=RATE),
        np.full(RATE, 0.05),
        np.clip(rng.normal(0, 0.8, RATE), -1.5, 1.5),
    ):
        fast = analyse(pcm(x), RATE, 7)
        slow = analyse(pcm(x), RATE, 7, fast=False)
        assert fast.rms_dbfs == pytest.approx(slow.rms_dbfs, abs=0.02)
        assert fast.peak_dbfs == slow.peak_dbfs and fast.clip_runs == slow.clip_runs
        assert fast.ac_dbfs == pytest.approx(slow.ac_dbfs, abs=0.05)
        assert fast.window_rms == pytest.approx(slow.window_rms, rel=1e-3, abs=1e-6)


def test_the_monitor_reads_the_microphone_only_during_a_meeting(pulse: PulseServer) -> None:
    import msgspec

    from agent.config import AgentConfig
    from agent.monitor import SampleSources

    def parecs() -> int:
        import psutil

        return sum(1 for p in psutil.Process().children(recursive=True) if p.name() in ("parec", "pacat"))

    pulse.play(speech_like(60, -25, rate=48000))
    players = parecs()
    cfg = msgspec.convert(
        {"monitor": {"camera_state_every_s": 0}, "micwatch": {"source": "room.monitor", "no_samples_after_s": 2.0}},
        AgentConfig,
    )
    sources = SampleSources(cfg)
    try:
        assert "microphone" not in sources.read(time.time(), None) and sources.micwatch is None  # no meeting
        deadline = time.monotonic() + 30
        fields: dict[str, Any] = {}
        while time.monotonic() < deadline and fields.get("microphone") != "ok":
            time.sleep(1.0)
            fields = sources.read(time.time(), time.time() + 3600)
        assert fields.get("microphone") == "ok" and -35 < fields["mic_dbfs"] < -15, fields
        assert parecs() == players + 1  # one reader beside the meeting program
        sources.read(time.time(), None)  # the meeting is over
        assert sources.micwatch is None and parecs() == players  # the microphone is no longer read
    finally:
        sources.close()


def test_samples_overrule_an_older_answer_that_the_device_is_gone() -> None:
    """Plugged back in: the OS's last answer (every facts_every_s) still says absent, the sound flows."""
    x = pcm(speech_like(30, -25, rate=RATE)).tobytes()
    blocks = [x[i : i + 3200] for i in range(0, len(x), 3200)]
    watch = MicWatch(
        MicWatchConfig(facts_every_s=3600),
        opener=lambda cfg, cb: FakeStream(cb, 16000.0, blocks),
        facts=lambda _s: AudioFacts(input_present=False),
    )
    watch.start()
    try:
        wait_for(watch, lambda f: f.get("microphone") == "ok")
    finally:
        watch.stop()
