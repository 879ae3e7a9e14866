"""End to end (issue 14): a real agent watches a real PulseAudio source beside a second reader (the
meeting program), publishes through a real Mosquitto to a real collector, and the member's state
follows the microphone — normal speech is ``ok``, a dead line (a mains hum, no variation) makes her
``failing`` with the reason ``mic_dead`` (H1: she cannot be heard, so the chair must adjourn, H2),
and a silent microphone (a listening member) is ``ok`` again. Only numbers travel: the sample has
levels and a state, never sound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.faults.harness import MEETING, Collector
from tests.media.clips import speech_like, tone
from tests.support.pulse import PulseServer, running_pulse
from tests.support.services import Mosquitto, running_mosquitto, stop_pid
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "mic-dev-1"
pytestmark = pytest.mark.slow


@pytest.fixture
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with running_pulse(tmp_path_factory.mktemp("pa")) as server:
        yield server


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with running_mosquitto(tmp_path / "mosquitto") as b:
        yield b


@pytest.fixture
def collector(tmp_path: Path, broker: Mosquitto) -> Iterator[Collector]:
    col = Collector(tmp_path / "collector", broker.url, [DEVICE])
    col.start()
    try:
        yield col
    finally:
        col.stop()


@pytest.fixture
def agent(tmp_path: Path, broker: Mosquitto, pulse: PulseServer, collector: Collector) -> Iterator[Path]:
    data = tmp_path / "agent"
    data.mkdir()
    config = tmp_path / "agent.toml"
    config.write_text(
        f'device_id = "{DEVICE}"\ndata_dir = "{data}"\n[mqtt]\nurl = "{broker.url}"\n'
        "[monitor]\npath_probe = false\ncamera_state_every_s = 0\n"
        '[micwatch]\nsource = "room.monitor"\nfacts_every_s = 2.0\n',
        encoding="utf-8",
    )
    now = time.time()
    log = tmp_path / "agent.log"
    env = {**pulse.env, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "likavillkor-agent"),
                "monitor",
                "--config",
                str(config),
                "--meeting",
                MEETING,
                "--start",
                str(now - 900),
                "--end",
                str(now + 7200),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        yield log
    finally:
        stop_pid(proc, timeout=15)


def participant(col: Collector) -> dict[str, Any]:
    return col.participant(DEVICE)


def test_a_dead_microphone_makes_the_member_failing_and_silence_does_not(
    pulse: PulseServer, collector: Collector, agent: Path, tmp_path: Path
) -> None:
    with pulse.record(tmp_path / "meeting-program.wav"):  # the meeting program reads the same microphone
        pulse.play(speech_like(600, -25, rate=48000))
        wait_until(
            lambda: participant(collector)["state"] == "ok", timeout=120, what="member ok while she speaks", log=agent
        )

        pulse.stop_players()
        pulse.play(tone(600, 50, -30))  # the line carries only a hum: no variation, not saturated
        wait_until(
            lambda: participant(collector)["state"] == "failing",
            timeout=90,
            what="member failing on a dead microphone",
            log=agent,
            detail=lambda: participant(collector),
        )
        p = participant(collector)
        assert p["reason"]["code"] == "mic_dead", p
        assert "mikrofonen" in p["reason"]["sv"]
        assert collector.view()["verdict"] == "adjourn"  # H2: she cannot be heard

        pulse.stop_players()
        pulse.play(np.zeros(48000 * 600))  # she listens: silent is normal
        wait_until(
            lambda: participant(collector)["state"] == "ok",
            timeout=90,
            what="member ok again while silent",
            log=agent,
            detail=lambda: participant(collector),
        )
    assert os.path.getsize(tmp_path / "meeting-program.wav") > 48000  # the other reader got sound throughout
