"""An enrolled agent measures what the chair needs, or says loudly that it cannot (issue 16): the
collector's CA from ``[collector] ca_file`` (no SSL_CERT_FILE needed), ``run`` refusing to start
without a collector, ``monitor`` logging what stays unmeasured."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agent.config import AgentConfig, Gap, measurement_gaps, trust_bundle
from likavillkor.config import loads
from tests.agent.conftest import ROOT, agent_env, run_agent, write_config
from tests.deploy.pki import Pki, make_pki
from tests.support.services import Mosquitto, stop_pid


def _cfg(text: str) -> AgentConfig:
    return loads(text, AgentConfig, source="test")


def test_gaps_name_what_stays_unmeasured() -> None:
    assert measurement_gaps(_cfg("")) == [Gap.NO_BROKER, Gap.NO_COLLECTOR, Gap.NO_PATH_PROBES]
    complete = '[mqtt]\nurl = "mqtts://b:8883"\n[collector]\nurl = "https://c:8860"\n'
    assert measurement_gaps(_cfg(complete)) == []
    assert measurement_gaps(_cfg(complete + "[monitor]\npath_probe = false\n")) == [Gap.NO_PATH_PROBES]
    only_reflector = '[mqtt]\nurl = "mqtts://b:8883"\n[path]\nhost = "r"\n'
    assert measurement_gaps(_cfg(only_reflector)) == [Gap.NO_COLLECTOR]


def test_trust_bundle_adds_the_ca_to_the_system_store(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    system = tmp_path / "system.pem"
    system.write_text("-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n")
    out = trust_bundle(pki.ca_cert, tmp_path / "state" / "ca-bundle.pem", system_bundle=str(system))
    text = out.read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----\nSYSTEM") and pki.ca_cert.read_text() in text
    not_pem = tmp_path / "x.crt"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match="no PEM certificate"):
        trust_bundle(not_pem, tmp_path / "b.pem")
    with pytest.raises(OSError):
        trust_bundle(tmp_path / "missing.crt", tmp_path / "b.pem")


def test_run_without_a_collector_refuses_to_start(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = write_config(
        tmp_path / "a.toml", f'device_id = "d1"\ndata_dir = "{tmp_path}"\n[mqtt]\nurl = "{mosquitto.url}"\n'
    )
    done = run_agent("run", "--config", str(cfg), timeout=60)
    assert done.returncode == 3, done.stderr
    assert "[collector] url" in done.stderr and "H8" in done.stderr


def test_monitor_without_a_collector_says_what_it_cannot_measure(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = write_config(
        tmp_path / "a.toml", f'device_id = "d1"\ndata_dir = "{tmp_path}"\n[mqtt]\nurl = "{mosquitto.url}"\n'
    )
    log = tmp_path / "agent.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "monitor", "--config", str(cfg)],
            cwd=ROOT,
            env=agent_env(),
            stdout=f,
            stderr=f,
        )
    try:
        deadline = time.monotonic() + 60
        while "CANNOT MEASURE (no_path_probes)" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        text = log.read_text()
        assert "ERROR" in text and "CANNOT MEASURE (no_collector)" in text and "network figures" in text
    finally:
        stop_pid(proc)  # type: ignore[arg-type]


class _Meetings(http.server.BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def https_collector(tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    """The collector's meetings route over HTTPS with a certificate from a CA nobody trusts."""
    pki = make_pki(tmp_path / "pki")
    _Meetings.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Meetings)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}", pki
    finally:
        server.shutdown()
        server.server_close()


def _fetches(tmp_path: Path, mosquitto: Mosquitto, url: str, ca_line: str) -> tuple[bool, str]:
    """Run the agent until it fetched the meetings or logged why it could not."""
    tmp_path.mkdir(parents=True)
    cfg = write_config(
        tmp_path / "a.toml",
        f'device_id = "d1"\ndata_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\n[collector]\nurl = "{url}"\ntimeout_s = 2.0\n{ca_line}'
        "[monitor]\npath_probe = false\n",
    )
    env = agent_env()
    env.pop("SSL_CERT_FILE", None)
    log = tmp_path / "agent.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=ROOT, env=env, stdout=f, stderr=f
        )
    try:
        deadline = time.monotonic() + 60
        while not _Meetings.paths and "cannot fetch meetings" not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        return bool(_Meetings.paths), log.read_text()
    finally:
        stop_pid(proc)  # type: ignore[arg-type]


def test_collector_ca_file_lets_the_agent_reach_a_collector_with_an_internal_ca(
    tmp_path: Path, mosquitto: Mosquitto, https_collector: tuple[str, Pki]
) -> None:
    url, pki = https_collector
    fetched, log = _fetches(tmp_path / "without", mosquitto, url, "")
    assert not fetched and "CERTIFICATE_VERIFY_FAILED" in log  # the system store does not know the CA
    fetched, log = _fetches(tmp_path / "with", mosquitto, url, f'ca_file = "{pki.ca_cert}"\n')
    assert fetched, log
    assert _Meetings.paths == ["/api/devices/d1/meetings"]
    bundle = tmp_path / "with" / "state" / "ca-bundle.pem"
    assert pki.ca_cert.read_text() in bundle.read_text()
