"""Issue 17: the shipped deploy/haproxy/haproxy.cfg, run by the distribution's HAProxy in front of
two tiny HTTP servers standing in for two collectors (the collector's ``GET /health/leader`` comes
with the restructure of issue 13). Only the leader answers 200 there; the test moves leadership
from one to the other and shows requests - and a reconnecting event stream - follow through the
one address, and that the open stream to the old leader is cut so that the page reconnects."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.services import free_port, require_binary, stop_pid, wait_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


class FakeCollector:
    """Answers ``/health/leader`` (200 when leading, 503 otherwise), ``/whoami`` (its name) and
    ``/events`` (an endless text/event-stream with its name every 100 ms). Like the collector's
    standby, it answers 503 to everything but ``/health/*`` while it does not lead."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.leader = False
        self.health_checks = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: object) -> None:
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # the http.server API
                if self.path == "/health/leader":
                    outer.health_checks += 1
                    self._send(200 if outer.leader else 503, b"leader" if outer.leader else b"standby")
                elif not outer.leader:
                    self._send(503, b"standby")
                elif self.path == "/whoami":
                    self._send(200, outer.name.encode())
                elif self.path == "/events":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        while not outer.stopping.is_set():
                            self.wfile.write(f"data: {outer.name}\n\n".encode())
                            self.wfile.flush()
                            time.sleep(0.1)
                else:
                    self._send(404, b"")

        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def running_haproxy(tmp_path: Path, a: FakeCollector, b: FakeCollector) -> Iterator[int]:
    binary = require_binary("haproxy", "/usr/sbin/haproxy")
    port = free_port()
    env = {
        **os.environ,
        "LV_BIND": f"127.0.0.1:{port}",
        "LV_COLLECTOR_A": f"127.0.0.1:{a.port}",
        "LV_COLLECTOR_B": f"127.0.0.1:{b.port}",
    }
    check = subprocess.run([binary, "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(tmp_path / "haproxy.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        stop_pid(proc)
        log.close()


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _wait_served_by(port: int, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: tuple[int, str] | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            last = _get(port, "/whoami")
            if last == (200, name):
                return
        time.sleep(0.1)
    raise AssertionError(f"never served by {name}; last answer {last}")


@pytest.fixture
def collectors() -> Iterator[tuple[FakeCollector, FakeCollector]]:
    a, b = FakeCollector("collector-a"), FakeCollector("collector-b")
    yield a, b
    a.close()
    b.close()


def test_haproxy_follows_the_leader(tmp_path: Path, collectors: tuple[FakeCollector, FakeCollector]) -> None:
    a, b = collectors
    a.leader = True
    with running_haproxy(tmp_path, a, b) as port:
        _wait_served_by(port, "collector-a")
        for _ in range(20):  # all of it, never the standby
            assert _get(port, "/whoami") == (200, "collector-a")
        assert b.health_checks > 0  # the standby is checked too, so it can be chosen at once
        # an event stream open through HAProxy to the leader
        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        stream.request("GET", "/events")
        resp = stream.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
        assert resp.fp.readline() == b"data: collector-a\n"
        # the lease changes hands: a stops leading, b leads
        a.leader, b.leader = False, True
        _wait_served_by(port, "collector-b")
        # the stream to the old leader was cut when HAProxy marked it down (the page reconnects) ...
        deadline = time.monotonic() + 30
        ended = False
        with contextlib.suppress(OSError, http.client.HTTPException):
            while time.monotonic() < deadline:
                if resp.fp.readline() in (b"", None):
                    ended = True
                    break
        assert ended, "the event stream to the old leader stayed open"
        stream.close()
        # ... and the reconnect lands on the new leader
        again = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        again.request("GET", "/events")
        resp2 = again.getresponse()
        assert resp2.status == 200 and resp2.fp.readline() == b"data: collector-b\n"
        again.close()
        for _ in range(20):
            assert _get(port, "/whoami") == (200, "collector-b")


def test_dead_leader_then_the_standby_leads(tmp_path: Path, collectors: tuple[FakeCollector, FakeCollector]) -> None:
    """The leader's process is gone (its port closed) and the standby takes the lease: HAProxy
    moves over; while no one leads it answers 503 rather than sending anyone to the standby."""
    a, b = collectors
    a.leader = True
    with running_haproxy(tmp_path, a, b) as port:
        _wait_served_by(port, "collector-a")
        a.close()  # the leader dies; the standby has not taken the lease yet
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = _get(port, "/whoami")
                if status == 503:
                    break
            time.sleep(0.1)
        assert status == 503, "with no leader HAProxy must not send the chair to the standby"
        b.leader = True
        _wait_served_by(port, "collector-b")
