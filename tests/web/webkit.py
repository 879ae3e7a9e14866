"""WebKit, the iPad's browser engine, for the web tests: Debian's WebKitGTK MiniBrowser driven by
WebKitWebDriver through selenium, under a private Xvfb (docs: shared environment notes).

Both are started by PID and stopped by PID. A missing binary fails the test with the reason
(scripts/install-deps.sh installs ``webkit2gtk-driver`` and ``xvfb``). WebKitGTK has no
``RTCPeerConnection``: the companion page uses its WebSocket path there, and the WebRTC parts of
the self-test stay tested in Chromium.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from typing import Any

from tests.support.services import require_binary, stop_pid

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
#: iPad Air 11" in portrait, and the half of it Split View gives a page
IPAD = (820, 1180)
IPAD_SPLIT = (507, 1180)


@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """A private X display (``-displayfd``: Xvfb picks a free number and tells us)."""
    binary = require_binary("Xvfb", "/usr/bin/Xvfb")
    read, write = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write), "-screen", "0", "1400x1400x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        if not number:
            raise AssertionError("Xvfb did not report a display")
        yield f":{number}"
    finally:
        stop_pid(proc)


@contextlib.contextmanager
def webkit(size: tuple[int, int] = IPAD) -> Iterator[Any]:
    """A selenium ``WebKitGTK`` driver on MiniBrowser with WebKit's mock camera and microphone."""
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    driver_bin = require_binary("WebKitWebDriver", "/usr/bin/WebKitWebDriver")
    browser_bin = require_binary("MiniBrowser", MINIBROWSER)
    with xvfb() as display:
        options = Options()
        options.binary_location = browser_bin
        for arg in ("--automation", "--enable-mock-capture-devices=true", "--enable-media-stream=true"):
            options.add_argument(arg)
        service = Service(executable_path=driver_bin, env={**os.environ, "DISPLAY": display})
        driver = webdriver.WebKitGTK(options=options, service=service)
        try:
            driver.set_window_size(*size)
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()
