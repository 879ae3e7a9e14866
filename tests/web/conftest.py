"""Fixtures for the web tests: a real collector process (with its pages), real device processes
publishing over a real Mosquitto, users and an API token, and Debian's Chromium through Playwright.

Never a downloaded browser: ``/usr/bin/chromium`` from the distribution's package. A missing
Chromium fails the test with the reason (scripts/install-deps.sh installs it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import auth
from tests.support.collector import ROOT, CollectorProcess
from tests.support.roster import write_web_roster
from tests.support.services import Mosquitto, free_port, require_binary, running_mosquitto, stop_pid

#: where screenshots go: docs/screenshots/ when LIKAVILLKOR_SCREENSHOTS=1 (to refresh docs/web.md),
#: else a scratch directory, so a test run leaves the source tree as it was
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("LIKAVILLKOR_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "likavillkor-screenshots"
)
SILENCE_S = 2.0
SUBSTITUTE_S = 12.0
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


class Collector(CollectorProcess):
    """The web suite's collector process: an API token, an external Mosquitto the tests can kill,
    and device processes (tests/web/device.py) publishing over it."""

    def __init__(self, workdir: Path, config: Path, port: int, token: str, mosquitto: Mosquitto) -> None:
        super().__init__(workdir, config, port, token=token)
        self.mosquitto = mosquitto
        self.devices: dict[str, subprocess.Popen[bytes]] = {}

    def _health_ok(self) -> bool:
        h = self.get("/api/health")
        return h is not None and bool(h["broker"]["connected"])

    def start_device(self, device_id: str, meeting_id: str = "ks-test") -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{device_id}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/web/device.py"),
                "--port",
                str(self.mosquitto.port),
                "--device",
                device_id,
                "--meeting",
                meeting_id,
                "--period",
                "0.2",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.devices[device_id] = proc
        return proc

    def kill_device(self, device_id: str) -> None:
        proc = self.devices.pop(device_id)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def participant(self, meeting_id: str, member_id: str) -> dict[str, Any]:
        return self.participant_of(meeting_id, member_id=member_id)


def make_collector(workdir: Path, mosquitto: Mosquitto, *, http_extra: str = "") -> Collector:
    """``http_extra``: more ``[http]`` keys, e.g. ``device_passwords = "..."``."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    roster = workdir / "roster.toml"
    write_web_roster(roster, time.time())
    policy = workdir / "policy.toml"
    policy.write_text(f"[defaults]\nsilence_lost_s = {SILENCE_S}\nsubstitute_after_s = {SUBSTITUTE_S}\n")
    port = free_port()
    cfg = workdir / "collector.toml"
    cfg.write_text(
        f'data_dir = "{data}"\nroster = "{roster}"\npolicy = "{policy}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\n[http]\nport = {port}\n{http_extra}\n'
        "[store]\nsnapshot_interval_s = 0.5\nflush_interval_s = 0.05\n"
        "[reflector]\nenabled = false\n[ingest]\ntick_interval_s = 0.1\n",
        encoding="utf-8",
    )
    users = data / "users.toml"
    auth.add_user(users, "ordf", PASSWORD, "chair", bodies=["Kommunstyrelsen"], name="Eva Ordförande")
    auth.add_user(users, "sekr-sn", PASSWORD, "secretary", bodies=["socialnämnden"], name="Sam Sekreterare")
    auth.add_user(users, "it", PASSWORD, "it", name="IT-support")
    token = auth.add_api_token(users, "tests", "it")
    return Collector(workdir, cfg, port, token, mosquitto)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """A real collector process for the module, with an external Mosquitto the tests can kill."""
    workdir = tmp_path_factory.mktemp("web")
    with running_mosquitto(workdir / "mosquitto") as broker:
        c = make_collector(workdir, broker)
        c.start()
        try:
            yield c
        finally:
            for proc in c.devices.values():
                stop_pid(proc)
            c.stop()


@contextlib.contextmanager
def launch_chromium(extra_args: tuple[str, ...] = ()) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = require_binary("chromium", "/usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=[*CHROMIUM_ARGS, *extra_args], timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as b:
        yield b


def write_camera_clip(path: Path, seconds: float = 3.0, fps: int = 15, size: tuple[int, int] = (320, 240)) -> Path:
    """A Y4M clip for Chromium's fake camera: the astronaut photograph (a face, H4) panning slowly.

    Chromium's built-in fake camera draws its pacman on a Y plane of 7..42 with zero chroma: green on
    screen but "black" by luma (Y <= 20, the WebRTC troubleshooter's test), so the collector's media
    path check rightly calls it dark. A real picture is the fair test of the path.
    """
    import cv2
    import numpy as np

    photo = cv2.imread(str(ROOT / "tests/data/media/astronaut-eileen-collins.jpg"))
    assert photo is not None, "tests/data/media/astronaut-eileen-collins.jpg is missing"
    w, h = size
    big = cv2.resize(photo, (h + 60, h + 60), interpolation=cv2.INTER_AREA)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(int(seconds * fps)):
            frame = np.full((h, w, 3), 90, np.uint8)
            shift = int(30 + 28 * np.sin(2 * np.pi * i / (seconds * fps)))
            frame[:, 20 : 20 + h] = big[shift : shift + h, shift : shift + h]
            frame[:, w - 40 + (i % 20) : w - 30 + (i % 20)] = 230  # a moving bar: never a frozen picture
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def sign_in(browser: Any, base: str, username: str, *, path: str = "/", viewport: tuple[int, int] = (1280, 800)) -> Any:
    """A new browser context (own cookies) signed in as ``username``; returns the page."""
    # bypass_csp: Playwright evaluates its waiting predicates as strings, which the pages CSP forbids
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        locale="sv-SE",
        bypass_csp=True,
        timezone_id="Europe/Stockholm",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login?next={path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page
