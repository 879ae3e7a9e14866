"""Real servers for tests: started on free loopback ports, stopped by PID.

Never a mocked broker or database. A missing binary is a failure with the reason (the README's
test command installs them), never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def require_binary(name: str, *candidates: str) -> str:
    for c in (name, *candidates):
        found = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if found:
            return found
    raise RuntimeError(
        f"{name} is not installed: run the README's test command (scripts/test.sh), "
        f"which installs it from the distribution's packages"
    )


def stop_pid(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@dataclass
class Mosquitto:
    host: str
    port: int
    workdir: Path
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        binary = require_binary("mosquitto", "/usr/sbin/mosquitto")
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=log, stderr=log, start_new_session=True)
        wait_port(self.host, self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def mosquitto_config(workdir: Path, port: int, extra: str = "") -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        "max_queued_messages 100000\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\n"
        # As root Mosquitto drops to the 'mosquitto' user, which cannot write its persistence file
        # in pytest's 0700 dirs: sessions would then not survive restart().
        + ("user root\n" if getattr(os, "geteuid", lambda: 1)() == 0 else "")
        + extra
    )
    return conf


@contextlib.contextmanager
def running_mosquitto(workdir: Path, extra: str = "") -> Iterator[Mosquitto]:
    port = free_port()
    broker = Mosquitto("127.0.0.1", port, workdir, mosquitto_config(workdir, port, extra))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def running_mosquitto_with_conf(
    workdir: Path, conf_text: str, port: int, host: str = "127.0.0.1"
) -> Iterator[Mosquitto]:
    """A real Mosquitto from a config the caller wrote (TLS, password and ACL files ...). The config
    must listen on ``host:port``; pick the port with :func:`free_port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(conf_text)
    broker = Mosquitto(host, port, workdir, conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
