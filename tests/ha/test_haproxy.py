"""Issue 17: the shipped deploy/haproxy/haproxy.cfg, run by the distribution's HAProxy in front of
two tiny HTTP servers standing in for two collectors (the collector's ``GET /health/leader`` comes
with the restructure of issue 13). Only the leader answers 200 there; the test moves leadership
from one to the other and shows requests - and a reconnecting event stream - follow through the
one address, and that the open stream to the old leader is cut so that the page reconnects."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
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
def running_haproxy(tmp_path: Path, a: FakeCollector | int, b: FakeCollector | int) -> Iterator[int]:
    port_a = a if isinstance(a, int) else a.port
    port_b = b if isinstance(b, int) else b.port
    binary = require_binary("haproxy", "/usr/sbin/haproxy")
    port = free_port()
    env = {
        **os.environ,
        "LV_BIND": f"127.0.0.1:{port}",
        "LV_COLLECTOR_A": f"127.0.0.1:{port_a}",
        "LV_COLLECTOR_B": f"127.0.0.1:{port_b}",
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


# -- the real lease and leader endpoint behind the shipped HAProxy ----------------------------------
def _spawn_server(url: str, holder: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ha.ha_server", "--url", url, "--holder", holder, "--port", str(port),
         "--lease-s", "4", "--renew-every-s", "0.5"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _answers_until(port: int, name: str, timeout: float = 60.0) -> list[tuple[int, str]]:
    """Every answer through HAProxy until ``name`` serves; connection errors as (0, error)."""
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(_get(port, "/whoami"))
        except (OSError, http.client.HTTPException) as exc:
            seen.append((0, type(exc).__name__))
        if seen[-1] == (200, name):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"never served by {name}: last answers {seen[-10:]}")


def test_real_lease_behind_haproxy_pause_resume_and_kill(tmp_path: Path, db_url: str) -> None:
    """Two servers with the real lease on the real PostgreSQL, the real ``/health/leader`` and
    standby guard, behind the shipped HAProxy. The leader is paused (SIGSTOP) past its lease: the
    other leads and HAProxy follows; resumed, the old one answers 503 everywhere (it noticed on its
    own clock) and gets nothing. Then the new leader is SIGKILLed and the resumed one takes over.
    Through the one address, only a leader ever answers 200."""
    ports = {"srv-a": free_port(), "srv-b": free_port()}
    procs = {name: _spawn_server(db_url, name, port) for name, port in ports.items()}
    try:
        for port in ports.values():
            wait_port("127.0.0.1", port, timeout=60)
        with running_haproxy(tmp_path, ports["srv-a"], ports["srv-b"]) as port:
            deadline = time.monotonic() + 60
            leader = ""
            while not leader and time.monotonic() < deadline:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    status, body = _get(port, "/whoami")
                    leader = body if status == 200 else ""
                time.sleep(0.1)
            assert leader, "no collector led"
            other = "srv-b" if leader == "srv-a" else "srv-a"
            assert _get(ports[other], "/health/leader")[0] == 503
            assert _get(ports[other], "/whoami")[0] == 503  # the standby guard
            assert all(_get(port, "/whoami") == (200, leader) for _ in range(10))

            os.kill(procs[leader].pid, signal.SIGSTOP)
            during = _answers_until(port, other)
            assert {s for s, _ in during} <= {200, 503, 504, 0}
            assert all(body == other for s, body in during if s == 200)
            os.kill(procs[leader].pid, signal.SIGCONT)
            # the resumed one knows it does not lead: 503 on the leader endpoint and everything else
            deadline = time.monotonic() + 30
            health = (0, "")
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    health = _get(ports[leader], "/health/leader")
                    if health[0] == 503:
                        break
                time.sleep(0.1)
            assert health[0] == 503, health
            assert _get(ports[leader], "/whoami")[0] == 503
            assert all(_get(port, "/whoami") == (200, other) for _ in range(20))

            os.kill(procs[other].pid, signal.SIGKILL)
            procs[other].wait(10)
            after = _answers_until(port, leader)
            assert all(body == leader for s, body in after if s == 200)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
            stop_pid(proc)
