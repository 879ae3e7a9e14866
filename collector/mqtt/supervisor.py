"""A private Mosquitto for a collector configured without a broker URL.

Spawned on a free loopback port with a generated config (persistence under ``data_dir``),
restarted on the same port if it dies, stopped by its PID on exit. Only loopback: devices on
other machines need the municipality's broker (``[mqtt] url``) with credentials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto")


def find_mosquitto() -> str:
    for name in MOSQUITTO_CANDIDATES:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    raise RuntimeError(
        "mosquitto is not installed: run scripts/install-deps.sh run (or set [mqtt] url to an existing broker)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def render_conf(workdir: Path, port: int, host: str = "127.0.0.1") -> str:
    return (
        f"listener {port} {host}\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        "autosave_interval 30\n"
        "max_queued_messages 100000\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\n"
    )


def _give_to_mosquitto_user(workdir: Path) -> None:
    """Started as root, Mosquitto drops to the ``mosquitto`` user: it must own its persistence dir,
    and reach it through ``data_dir``, which is private (0700, issue 12): the mosquitto group gets
    search (x) on it, nobody else anything."""
    if os.geteuid() != 0:
        return
    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    os.chown(workdir, pw.pw_uid, pw.pw_gid)
    parent = workdir.parent
    st = parent.stat()
    if not st.st_mode & 0o001 and not (st.st_gid == pw.pw_gid and st.st_mode & 0o010):
        os.chown(parent, -1, pw.pw_gid)
        os.chmod(parent, (st.st_mode & 0o7777) | 0o010)
    for child in workdir.iterdir():
        if child.name.startswith("mosquitto.db"):
            os.chown(child, pw.pw_uid, pw.pw_gid)


class PrivateBroker:
    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.workdir = (data_dir / "mosquitto").resolve()
        self.host = host
        port_file = self.workdir / "port"
        if port is None and port_file.exists():
            # the same port as last time, so the persistent session's client id keeps working
            with contextlib.suppress(ValueError):
                port = int(port_file.read_text().strip())
        self.port = port or free_port(host)
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        _give_to_mosquitto_user(self.workdir)
        if not self._spawn(timeout):
            # the remembered port may be taken now: take a fresh one
            self.port = free_port(self.host)
            if not self._spawn(timeout):
                raise RuntimeError(f"private mosquitto did not start: see {self.workdir / 'mosquitto.log'}")
        (self.workdir / "port").write_text(str(self.port))
        self._thread = threading.Thread(target=self._supervise, name="broker-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self, timeout: float) -> bool:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(render_conf(self.workdir, self.port, self.host))
        logfile = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdout=logfile,
            stderr=logfile,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logfile.close()
        if wait_port(self.host, self.port, timeout) and self._proc.poll() is None:
            log.info("private mosquitto pid %d on %s", self._proc.pid, self.url)
            return True
        self._terminate()
        return False

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            proc = self._proc
            if proc is not None and proc.poll() is not None:
                log.warning("private mosquitto exited (code %s); restarting", proc.returncode)
                try:
                    if self._spawn(10.0):
                        self.restarts += 1
                except OSError as exc:
                    log.error("cannot restart mosquitto: %s", exc)

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._terminate()
        self._proc = None
