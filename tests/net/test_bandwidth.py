"""The bounded speed test against the collector's router over loopback, and its failure modes."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from agent.probes.bandwidth import (
    IMAGE_BYTES,
    UPLOAD_BYTES,
    Outcome,
    SpeedtestConfig,
    SpeedtestTarget,
    body_is_complete,
    plan_transfers,
    run_speedtest,
)
from collector.peers import speedtest
from likavillkor.wire import LinkType
from tests.net.asyncutil import sync
from tests.support.services import free_port


def test_plan_fits_the_budget() -> None:
    for max_bytes in (1_000_000, 5_000_000, 25_000_000, 29_000_000):
        for threads in (1, 4, 8):
            plan = plan_transfers(max_bytes, threads)
            down = sum(IMAGE_BYTES[n] for n in plan.download_sizes)
            up = sum(plan.upload_sizes)
            assert down + up == plan.planned_bytes <= max_bytes
            assert plan.download_sizes and plan.upload_sizes
    assert IMAGE_BYTES == speedtest.IMAGE_BYTES  # client and server agree on file sizes


def test_speedtest_cli_short_upload_body_is_avoided() -> None:
    assert not body_is_complete(65_536)  # speedtest-cli 2.1.3 builds 65 529 octets for it
    assert 65_536 not in UPLOAD_BYTES and 1_048_576 in UPLOAD_BYTES


@sync
async def test_refuses_on_mobile_data_and_in_session() -> None:
    cfg = SpeedtestConfig()
    for link in (LinkType.WWAN, LinkType.HOTSPOT):
        r = await run_speedtest(cfg, "http://127.0.0.1:1", link=link)
        assert r.outcome is Outcome.REFUSED_MOBILE and r.bytes_used == 0 and "mobile data" in (r.error or "")
    r = await run_speedtest(cfg, "http://127.0.0.1:1", link=LinkType.WIFI, in_session=True)
    assert r.outcome is Outcome.REFUSED_SESSION and r.bytes_used == 0


@sync
async def test_speedtest_against_the_collector_router(speedtest_server: str) -> None:
    cfg = SpeedtestConfig(max_bytes=8_000_000, download_s=2, upload_s=2, deadline_s=20)
    r = await run_speedtest(cfg, speedtest_server, link=LinkType.ETHERNET)
    assert r.outcome is Outcome.OK, r.error
    assert r.server == f"{speedtest_server}/speedtest/upload.php"
    assert r.down_mbps is not None and r.up_mbps is not None and r.ping_ms is not None
    assert r.down_mbps > 20 and r.up_mbps > 20  # loopback
    assert 0 < r.ping_ms < 500
    assert 1_000_000 < r.bytes_used <= cfg.max_bytes


def test_router_bounds(speedtest_server: str) -> None:
    with httpx.Client(base_url=f"{speedtest_server}/speedtest", timeout=5) as c:
        assert c.get("/latency.txt").text == "test=test"
        img = c.get("/random350x350.jpg")
        assert img.status_code == 200 and len(img.content) == IMAGE_BYTES[350]
        assert c.get("/random351x351.jpg").status_code == 404
        assert c.get("/random350x500.jpg").status_code == 404
        assert c.post("/upload.php", content=b"content1=" + b"x" * 1000).text == "size=1009"
        big = c.post("/upload.php", content=b"x" * (speedtest_server_max() + 1))
        assert big.status_code == 413


def speedtest_server_max() -> int:
    return speedtest.DEFAULT_MAX_UPLOAD_BYTES


@pytest.fixture
def stalling_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


@pytest.fixture
def failing_server() -> Iterator[str]:
    """Answers every request with 500."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(500, "broken")

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@sync
async def test_stalling_server_gives_a_clear_result_within_the_deadline(stalling_server: str) -> None:
    cfg = SpeedtestConfig(deadline_s=2.5, timeout_s=1)
    started = time.monotonic()
    r = await run_speedtest(cfg, stalling_server, link=LinkType.WIFI)
    elapsed = time.monotonic() - started
    assert elapsed < 3.5
    assert r.outcome in (Outcome.TIMEOUT, Outcome.SERVER_ERROR, Outcome.UNREACHABLE)
    assert r.error and stalling_server in r.error
    assert r.down_mbps is None


@sync
async def test_failing_server_gives_a_clear_result(failing_server: str) -> None:
    cfg = SpeedtestConfig(deadline_s=10, timeout_s=2)
    r = await run_speedtest(cfg, failing_server, link=LinkType.WIFI)
    assert r.outcome is Outcome.SERVER_ERROR
    assert r.error and "latency.txt" in r.error
    assert r.down_mbps is None and r.bytes_used == 0


@sync
async def test_public_unreachable_falls_back_to_the_collector(
    speedtest_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # speedtest.net made unreachable whatever this machine's internet: an HTTPS proxy nobody runs
    dead = free_port()
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    cfg = SpeedtestConfig(target=SpeedtestTarget.AUTO, max_bytes=4_000_000, download_s=1, upload_s=1, deadline_s=20)
    r = await run_speedtest(cfg, speedtest_server, link=LinkType.WIFI)
    assert r.outcome is Outcome.OK, r.error
    assert r.note and "speedtest.net cannot be reached" in r.note and "collector instead" in r.note
    strict = SpeedtestConfig(target=SpeedtestTarget.PUBLIC, deadline_s=10)
    r = await run_speedtest(strict, speedtest_server, link=LinkType.WIFI)
    assert r.outcome is Outcome.UNREACHABLE and "speedtest.net" in (r.error or "")
