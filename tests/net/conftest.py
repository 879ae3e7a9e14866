from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import free_port, stop_pid, wait_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def speedtest_server(tmp_path: Path) -> Iterator[str]:
    """The collector's speed-test router served by uvicorn in its own process; yields the base URL."""
    port = free_port()
    log = open(tmp_path / "speedtest.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector.peers.speedtest", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_pid(proc)
        log.close()
