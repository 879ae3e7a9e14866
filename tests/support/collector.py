"""The one collector-process harness: ``python -m collector run`` on a free port, stopped by PID.

Every suite that needs the real collector process (tests/e2e, tests/faults, tests/web, tests/media,
tests/deploy) builds its config its own way and drives it through :class:`CollectorProcess`, which
starts it, waits for states (never for a wall-clock budget, see :mod:`tests.support.waiting`), asks
its HTTP API with the host's local token or an API token, and stops it.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import stop_pid
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def write_config(
    path: Path,
    *,
    data_dir: Path,
    roster: Path,
    mqtt_url: str = "",
    http_port: int = 0,
    store_url: str = "",
    influx: str = "",
    extra: str = "",
    silence_lost_s: float | None = None,
) -> Path:
    """A collector config for tests: short snapshot/retry intervals, no reflector. ``mqtt_url`` empty:
    the collector's private Mosquitto. ``silence_lost_s``: a ``policy.toml`` beside it with that limit."""
    text = [f'data_dir = "{data_dir}"', f'roster = "{roster}"']
    if silence_lost_s is not None:
        policy = path.parent / "policy.toml"
        policy.write_text(f"[defaults]\nsilence_lost_s = {silence_lost_s}\n")
        text.append(f'policy = "{policy}"')
    text += [
        "[mqtt]",
        f'url = "{mqtt_url}"',
        "[http]",
        f"port = {http_port}",
        "[store]",
        f'url = "{store_url}"',
        "snapshot_interval_s = 0.5",
        "retry_max_s = 0.5",
        "[reflector]",
        "enabled = false",
    ]
    if influx:
        text += ["[influx]", influx]
    text.append(extra)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def device_test_policy(silence_s: float = 2.0) -> str:
    """The shipped policy with a short silence limit (H15) and the media and host limits opened: test
    devices run no meeting program (no media bytes: rx/tx_kbps would fail them, correctly) on a busy
    shared machine (cpu_percent, mem_available_percent turned devices *degraded* under load). Tests
    with it judge contact and the record, not media quality."""
    return f"""[defaults]
silence_lost_s = {silence_s}

[defaults.limits.rx_kbps]
direction = "below"
warn = 0.0
fail = 0.0
source = "tests: no meeting program runs on the test devices"

[defaults.limits.tx_kbps]
direction = "below"
warn = 0.0
fail = 0.0
source = "tests: no meeting program runs on the test devices"

[defaults.limits.cpu_percent]
direction = "above"
warn = 100.0
source = "tests: the test machine is shared and busy"

[defaults.limits.mem_available_percent]
direction = "below"
warn = 0.0
source = "tests: the test machine is shared and busy"
"""


class CollectorProcess:
    """A collector process from ``config`` listening on ``127.0.0.1:port`` (the config's ``[http] port``).

    ``token``: an API token for :attr:`headers`; without one the host's local token in ``data_dir``.
    ``tls_ca``: the collector serves HTTPS (``[http] tls_cert``); reach it as ``localhost``, trusting
    that CA only."""

    def __init__(
        self,
        workdir: Path,
        config: Path,
        port: int,
        *,
        data_dir: Path | None = None,
        token: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.port = port
        #: the address the tests reach it on (a test namespace's root-side address, say)
        self.host = "localhost" if tls_ca is not None else "127.0.0.1"
        self.scheme = "https" if tls_ca is not None else "http"
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else True
        self.data = data_dir if data_dir is not None else workdir / "data"
        self.token = token
        self.log = workdir / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        from collector.auth import local_headers

        return local_headers(self.data)

    # -- the process ----------------------------------------------------------------------------------
    def spawn(self, **popen: Any) -> subprocess.Popen[bytes]:
        """Start the process without waiting for anything (see :meth:`start`)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector", "run", "--config", str(self.config)],
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
                **popen,
            )
        return self.proc

    def start(self, *, wait_connected: bool = True, timeout: float = 60.0) -> None:
        """Start and wait until it answers ``/api/health`` (and, by default, has reached its broker)."""
        self.spawn()
        self.wait_up(wait_connected=wait_connected, timeout=timeout)

    def wait_up(self, *, wait_connected: bool = True, timeout: float = 60.0) -> None:
        wait_until(
            lambda: self._alive() and self.get("/api/health") is not None,
            timeout=timeout,
            what="collector answers /api/health",
            log=self.log,
        )
        if wait_connected:
            wait_until(
                lambda: self.health()["broker"]["connected"],
                timeout=timeout,
                what="collector connected to its broker",
                log=self.log,
            )

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"the collector exited with {self.proc.returncode}\n" + self.log.read_text(errors="replace")[-3000:]
            )
        return True

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None:
            stop_pid(self.proc, timeout=timeout)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    # -- its HTTP API ---------------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        """The JSON at ``path``, or None while the collector does not answer 200."""
        try:
            r = httpx.get(self.base + path, timeout=5, headers=self.headers, verify=self.verify)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def api(self, path: str) -> Any:
        """The JSON at ``path``; any other status than 2xx is an error."""
        r = httpx.get(self.base + path, headers=self.headers, timeout=10, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def health(self) -> dict[str, Any]:
        h = self.get("/api/health")
        assert h is not None, "no /api/health"
        return dict(h)

    def metrics(self) -> str:
        return httpx.get(self.base + "/metrics", timeout=5, headers=self.headers, verify=self.verify).text

    def meeting(self, meeting_id: str) -> dict[str, Any]:
        v = self.get(f"/api/meetings/{meeting_id}")
        assert v is not None, f"no view of meeting {meeting_id}"
        return dict(v)

    def participant_of(
        self, meeting_id: str, *, device_id: str | None = None, member_id: str | None = None
    ) -> dict[str, Any]:
        key, want = ("device_id", device_id) if device_id is not None else ("member_id", member_id)
        return dict(next(p for p in self.meeting(meeting_id)["participants"] if p[key] == want))
