"""Helpers for the attack tests (issue 12): raw HTTP requests an attacker would send, the collector's
memory, and a witness device whose samples must all be stored while the attack runs."""

from __future__ import annotations

import select
import socket
import sqlite3
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho

from likavillkor import topics, wire
from tests.support.waiting import wait_until
from tests.web.conftest import Collector


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Answer:
    status: int
    sent: int
    head: bytes


def chunked_post(
    base: str,
    path: str,
    total: int,
    headers: dict[str, str] | None = None,
    chunk: int = 256 * 1024,
    timeout: float = 60.0,
    source: str = "127.0.0.1",
) -> Answer:
    """POST ``total`` bytes with Transfer-Encoding: chunked, stopping as soon as the server answers
    (or closes). Returns the status, how many body bytes were sent and the answer's head."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=timeout, source_address=(source, 0))
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Transfer-Encoding: chunked",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    block = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
    sent = 0
    try:
        while sent < total:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            try:
                s.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        else:
            s.sendall(b"0\r\n\r\n")
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in data and time.monotonic() < deadline:
            try:
                got = s.recv(4096)
            except ConnectionResetError:
                break
            if not got:
                break
            data += got
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return Answer(status, sent, data[:400])


@dataclass
class Witness:
    """A real MQTT client for a member's device publishing a sample every ``period`` s (QoS 1), as an
    agent does, while an attack runs. :meth:`check` then waits until every acknowledged sample is
    stored and the member's state is ``ok``."""

    collector: Collector
    device_id: str
    meeting_id: str
    member_id: str
    period: float = 0.1
    #: it publishes at least this many samples, however short the attack
    min_samples: int = 15
    boot: str = field(default_factory=lambda: "witness-" + uuid.uuid4().hex[:8])
    acked: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Witness:
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.boot, protocol=paho.MQTTv5)
        mids: dict[int, int] = {}
        lock = threading.Lock()

        def on_publish(_c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
            with lock:
                if mid in mids:
                    self.acked.add(mids.pop(mid))

        c.on_publish = on_publish
        c.connect(self.collector.mosquitto.host, self.collector.mosquitto.port, keepalive=10)
        c.loop_start()
        self._client = c

        def run() -> None:
            seq = 0
            while not self._stop.is_set():
                seq += 1
                s = wire.Sample(
                    device_id=self.device_id,
                    boot_id=self.boot,
                    seq=seq,
                    ts=time.time(),
                    meeting_id=self.meeting_id,
                    link=wire.LinkType.WIFI,
                    rtt_ms=18.0,
                    jitter_ms=2.0,
                    loss_percent=0.0,
                    mos=4.3,
                    battery_percent=80.0,
                    battery_charging=True,
                    tx_kbps=900.0,
                    rx_kbps=1500.0,
                )
                with lock:
                    info = c.publish(topics.device_topic(self.device_id, "sample"), wire.encode(s), qos=1)
                    mids[info.mid] = seq
                time.sleep(self.period)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        wait_until(lambda: len(self.acked) >= 3, timeout=20, what="the witness's first samples acknowledged")
        return self

    def __exit__(self, *exc: object) -> None:
        wait_until(
            lambda: len(self.acked) >= self.min_samples,
            timeout=30,
            what=f"{self.min_samples} witness samples acknowledged",
        )
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        time.sleep(0.5)  # the last PUBACKs
        self._client.disconnect()
        self._client.loop_stop()

    def stored(self) -> int:
        db = self.collector.data / "likavillkor.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute(
                "SELECT count(DISTINCT msg_id) FROM samples WHERE device_id = ? AND msg_id LIKE ?",
                (self.device_id, f"{self.boot}:%"),
            ).fetchone()
        return int(row[0])

    def check(self) -> None:
        """Every acknowledged sample is in the database and the member is ``ok`` (issue 12: nothing
        valid is lost beside an attack)."""
        assert len(self.acked) >= 10, f"the witness published only {len(self.acked)} samples"
        wait_until(
            lambda: self.stored() >= len(self.acked), timeout=30, what=f"{len(self.acked)} witness samples stored"
        )
        wait_until(
            lambda: self.collector.participant(self.meeting_id, self.member_id)["state"] == "ok",
            timeout=20,
            what=f"{self.member_id} ok",
        )


def open_download(
    base: str, path: str, *, source: str = "127.0.0.1", headers: dict[str, str] | None = None, rcvbuf: int = 65536
) -> socket.socket:
    """A GET whose answer nobody reads (a slow reader): the socket, after the request was sent."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect((host, int(port)))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode())
    return s


def status_of(s: socket.socket) -> int:
    head = b""
    while b"\r\n" not in head:
        got = s.recv(1024)
        if not got:
            break
        head += got
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0


def reset(s: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a client that is killed or loses its network does."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
