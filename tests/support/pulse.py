"""A real PulseAudio server for the microphone-watch tests (docs/media.md; environment notes).

Started in the foreground (so the test owns its PID) with a private ``XDG_RUNTIME_DIR``, a null
sink ``room`` whose monitor ``room.monitor`` serves as the member's microphone, and stopped by PID.
``play()`` feeds a signal into the sink with ``pacat`` (the "room" the microphone hears);
``record()`` starts ``parecord`` as a second reader beside the agent (the meeting program).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.support.services import require_binary, stop_pid

RATE = 48000


@dataclass
class PulseServer:
    runtime: Path
    proc: subprocess.Popen[bytes] | None = None
    players: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "XDG_RUNTIME_DIR": str(self.runtime),
            "HOME": str(self.runtime),
            "PULSE_SERVER": f"unix:{self.runtime}/pulse/native",
        }

    def start(self) -> None:
        binary = require_binary("pulseaudio", "/usr/bin/pulseaudio")
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = (self.runtime / "pulseaudio.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "-n",
                "--use-pid-file=no",
                "--load=module-native-protocol-unix",
                "--load=module-null-sink sink_name=room rate=48000 channels=1",
                "--load=module-always-sink",
                "--log-target=stderr",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pulseaudio exited: " + (self.runtime / "pulseaudio.log").read_text()[-2000:])
            if self.pactl("list", "short", "sources", check=False).find("room.monitor") >= 0:
                return
            time.sleep(0.2)
        raise RuntimeError("pulseaudio did not come up in 20 s")

    def pactl(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["pactl", *args], env={**self.env, "LC_ALL": "C"}, capture_output=True, timeout=10, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.decode()}")
        return done.stdout.decode()

    def play(self, samples: np.ndarray, rate: int = RATE) -> subprocess.Popen[bytes]:
        """Play float samples in [-1, 1] (values beyond clip) into the ``room`` sink, mono s16."""
        pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()
        path = self.runtime / f"play-{len(self.players)}.raw"
        path.write_bytes(pcm)
        proc = subprocess.Popen(
            [
                "pacat",
                "--device=room",
                "--raw",
                "--format=s16le",
                f"--rate={rate}",
                "--channels=1",
                "--latency-msec=50",
                str(path),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.players.append(proc)
        return proc

    def stop_players(self) -> None:
        for p in self.players:
            stop_pid(p)
        self.players.clear()

    @contextlib.contextmanager
    def record(self, path: Path) -> Iterator[Path]:
        """A second reader of ``room.monitor`` (as the meeting program is), writing a WAV."""
        proc = subprocess.Popen(
            [
                "parecord",
                "--device=room.monitor",
                "--channels=1",
                f"--rate={RATE}",
                "--format=s16le",
                "--file-format=wav",
                str(path),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield path
        finally:
            stop_pid(proc)

    def stop(self) -> None:
        self.stop_players()
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None


def wav_rms_dbfs(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0
    if x.size == 0:
        return -120.0
    return float(20 * np.log10(max(1e-6, np.sqrt(np.mean(x * x)))))


@contextlib.contextmanager
def running_pulse(runtime: Path) -> Iterator[PulseServer]:
    server = PulseServer(runtime)
    server.start()
    try:
        yield server
    finally:
        server.stop()
