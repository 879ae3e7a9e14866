"""The documented host install, run for real (issue 16): every ``sh`` block of docs/operations.md's
"With systemd on a Debian host" section, in order, on this machine in a throw-away root.

- deploy/host/install.sh installs the collector into a fresh virtual environment (pip), writes
  /etc/likavillkor, the broker credentials, Mosquitto's conf.d files, the PostgreSQL role and
  database, InfluxDB 1.x's config, database, retention and users, and the systemd unit;
- services start by the ``ExecStart=`` lines of their units (tests/deploy/unitrun.py as
  ``systemctl``): Debian's mosquitto.service (a real TLS Mosquitto that drops to the ``mosquitto``
  user, reading the generated files through the ``likavillkor`` group), Debian's influxdb.service
  (as ``influxdb``), and our likavillkor-collector.service (as ``likavillkor``); PostgreSQL is the
  test session's cluster (PGHOST/PGPORT);
- two real agents run with the device files that enrolment wrote, unchanged;
- the chair's Grafana queries (dashboards/ordforandepanel.json, as Grafana expands them) return
  both members' data from InfluxDB, read with Grafana's read-only login.

Paths: /etc, /var, /run and /opt/likavillkor move under the root; /root/likavillkor (the admin's
files) and /opt/likavillkor-src (the source tree) are this test's; likavillkor.kommun.se becomes
localhost (the test certificate's name) and the ports free ones. Nothing else in the commands changes.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboards import influxql as iq
from tests.deploy import unitrun
from tests.deploy.pki import make_pki
from tests.support.databases import Postgres
from tests.support.roster import write_roster
from tests.support.services import free_port, stop_pid

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
SECTION = "### With systemd on a Debian host"
SERVICE_USER = "likavillkor"
DEVICES = ("ks-ipad-01", "ks-ipad-02")
MEETING = "ks-host-install"
UNITS = ("likavillkor-collector", "influxdb", "mosquitto")


def doc_blocks(text: str | None = None) -> list[str]:
    """The ``sh`` blocks of the host-install section, in order."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    start = text.index(SECTION)
    end = text.find("\n### ", start + len(SECTION))
    section = text[start : end if end > 0 else len(text)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def rewrite(command: str, *, root: Path, admin: Path, ports: dict[str, int]) -> str:
    """The doc's command for this machine (see the module's docstring: nothing else changes)."""
    command = command.replace("/opt/likavillkor-src", str(ROOT)).replace("/root/likavillkor", str(admin))
    for name, port in ports.items():
        command = command.replace(f"likavillkor.kommun.se:{name}", f"localhost:{port}")
    command = command.replace("likavillkor.kommun.se", "localhost")
    command = re.sub(r"(?<![\w./-])/opt/likavillkor(?=[/\s]|$)", f"{root}/opt/likavillkor", command)
    return unitrun.move(command, str(root))


def test_rewrite_moves_only_host_paths() -> None:
    ports = {"8883": 1, "8860": 2, "8862": 3}
    got = rewrite(
        "cat /etc/likavillkor/x /root/likavillkor/t /opt/likavillkor/bin/l /opt/likavillkor-src/d "
        "https://likavillkor.kommun.se:8860/api mqtts://likavillkor.kommun.se:8883 /tmp/p/etc/a",
        root=Path("/tmp/p"),
        admin=Path("/tmp/a"),
        ports=ports,
    )
    assert got == (
        f"cat /tmp/p/etc/likavillkor/x /tmp/a/t /tmp/p/opt/likavillkor/bin/l {ROOT}/d "
        "https://localhost:2/api mqtts://localhost:1 /tmp/p/etc/a"
    )
    assert len(doc_blocks()) >= 4


@contextlib.contextmanager
def _throwaway_service_user() -> Iterator[None]:
    """install.sh creates the service user and puts mosquitto in its group; undo that afterwards
    when this test was the one that made them."""
    existed = _exists(pwd.getpwnam, SERVICE_USER)
    try:
        yield
    finally:
        if not existed:
            subprocess.run(["gpasswd", "-d", "mosquitto", SERVICE_USER], capture_output=True, timeout=30, check=False)
            subprocess.run(["userdel", SERVICE_USER], capture_output=True, timeout=30, check=False)
            if _exists(grp.getgrnam, SERVICE_USER):
                subprocess.run(["groupdel", SERVICE_USER], capture_output=True, timeout=30, check=False)


def _exists(lookup: Any, name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True


class Install:
    def __init__(self, root: Path, admin: Path, ports: dict[str, int], env: dict[str, str]) -> None:
        self.root, self.admin, self.ports, self.env = root, admin, ports, env

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "likavillkor"

    def log(self, unit: str) -> str:
        path = self.root / "run" / "unitrun" / f"{unit}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def env_file(self, name: str) -> dict[str, str]:
        text = (self.etc / "credentials" / name).read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def installed(postgres_server: Postgres) -> Iterator[Install]:
    assert os.geteuid() == 0, "the host install runs as root (CI does)"
    # under /tmp, world-traversable: mosquitto, influxdb and likavillkor must reach their files
    root = Path(tempfile.mkdtemp(prefix="lv-host-", dir="/tmp"))
    root.chmod(0o755)
    admin = root / "admin"
    pki = make_pki(admin / "pki")
    tls = admin / "tls"
    tls.mkdir()
    for src, name in ((pki.server_cert, "server.crt"), (pki.server_key, "server.key"), (pki.ca_cert, "ca.crt")):
        shutil.copy(src, tls / name)
    write_roster(admin / "roster.toml", list(DEVICES), meeting_id=MEETING, start=time.time() - 120)
    shim = root / "shim"
    shim.mkdir()
    (shim / "systemctl").write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT / "tests/deploy/unitrun.py"} "$@"\n')
    (shim / "systemctl").chmod(0o755)
    ports = {
        "8883": free_port(),
        "8860": free_port(),
        "8862": free_port(kind=socket.SOCK_DGRAM),
        "8086": free_port(),
        "8088": free_port(),
    }
    env = {
        **os.environ,
        "PATH": f"{shim}:{os.environ['PATH']}",
        "LIKAVILLKOR_PREFIX": str(root),
        "LIKAVILLKOR_MQTT_PORT": str(ports["8883"]),
        "LIKAVILLKOR_HTTP_PORT": str(ports["8860"]),
        "LIKAVILLKOR_REFLECTOR_PORT": str(ports["8862"]),
        "LIKAVILLKOR_INFLUX_PORT": str(ports["8086"]),
        "LIKAVILLKOR_INFLUX_RPC_PORT": str(ports["8088"]),
        "PGHOST": postgres_server.host,
        "PGPORT": str(postgres_server.port),
        "LIKAVILLKOR_SHIM_EXTERNAL": "postgresql",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    inst = Install(root, admin, ports, env)
    with _throwaway_service_user():
        try:
            script = "\n".join(rewrite(b, root=root, admin=admin, ports=ports) for b in doc_blocks())
            (admin / "doc-commands.sh").write_text(script)
            done = subprocess.run(
                ["bash", "-euxo", "pipefail", str(admin / "doc-commands.sh")],
                cwd=admin,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
                umask=0o077,  # an admin's strict umask: services must still read their files
            )
            (admin / "doc-commands.log").write_text(done.stdout + done.stderr)
            assert done.returncode == 0, (
                f"the documented commands failed (exit {done.returncode}):\n"
                f"{done.stderr[-6000:]}\n--- collector:\n"
                f"{inst.log('likavillkor-collector')[-3000:]}\n--- mosquitto:\n"
                f"{inst.log('mosquitto')[-2000:]}\n--- influxdb:\n"
                f"{inst.log('influxdb')[-3000:]}"
            )
            inst.doc_output = done.stdout  # type: ignore[attr-defined]
            yield inst
        finally:
            for unit in UNITS:  # by the PIDs the shim recorded
                _stop_unit(root, unit)
            shutil.rmtree(root, ignore_errors=True)


def _stop_unit(root: Path, unit: str) -> None:
    old = os.environ.get("LIKAVILLKOR_PREFIX")
    os.environ["LIKAVILLKOR_PREFIX"] = str(root)
    try:
        unitrun.stop(unit, timeout=20)
    finally:
        if old is None:
            os.environ.pop("LIKAVILLKOR_PREFIX", None)
        else:
            os.environ["LIKAVILLKOR_PREFIX"] = old


def _service_uid(inst: Install, unit: str) -> int:
    pid = int((inst.root / "run" / "unitrun" / f"{unit}.pid").read_text())
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"{unit}: no Uid line")


@contextlib.contextmanager
def _agents(inst: Install, workdir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The two devices: each runs `likavillkor-agent run` with its enrolment file as its whole config
    (plus where its outbox lives and which checks a headless CI machine can run), and the CA file
    installed where that config says (deploy/systemd/likavillkor-agent.service)."""
    shutil.copy(inst.admin / "tls" / "ca.crt", inst.etc / "ca.crt")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for device in DEVICES:
            env = {
                **os.environ,
                "LIKAVILLKOR_AGENT__DATA_DIR": str(workdir / device),
                "LIKAVILLKOR_AGENT__SELFTEST__SKIP": '["bandwidth", "camera", "microphone", "mediapath"]',
            }
            env.pop("SSL_CERT_FILE", None)
            log = open(workdir / f"{device}.log", "wb")  # noqa: SIM115 - the child's
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "agent",
                        "run",
                        "-v",
                        "--config",
                        str(inst.etc / "credentials" / "devices" / f"{device}.toml"),
                    ],
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                    cwd=workdir,
                )
            )
            log.close()
        yield procs
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            stop_pid(p)


def _grafana_query(inst: Install, query: str, window: iq.Window) -> list[dict[str, Any]]:
    """One panel query as Grafana sends it: expanded, over /query, with Grafana's read-only login."""
    creds = inst.env_file("grafana-influx.env")
    variables = {"body": "kommunstyrelsen", "meeting": iq.regex_escape(MEETING), "member": ".*"}
    r = httpx.get(
        f"http://127.0.0.1:{inst.ports['8086']}/query",
        timeout=10,
        auth=(creds["GRAFANA_INFLUX_USER"], creds["GRAFANA_INFLUX_PASSWORD"]),
        params={"db": "likavillkor", "q": iq.interpolate(query, variables, window), "epoch": "ms"},
    )
    r.raise_for_status()
    rows: list[dict[str, Any]] = []
    for result in r.json().get("results", []):
        assert "error" not in result, result
        for series in result.get("series", []):
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                row.update(series.get("tags", {}))
                rows.append(row)
    return rows


def _panel(title: str) -> str:
    found = [q.query for q in iq.panel_queries("ordforandepanel.json") if q.panel == title]
    assert len(found) == 1, title
    return found[0]


def test_services_run_as_their_users_and_read_the_generated_files(installed: Install) -> None:
    inst = installed
    assert _service_uid(inst, "likavillkor-collector") == pwd.getpwnam(SERVICE_USER).pw_uid
    assert _service_uid(inst, "mosquitto") == pwd.getpwnam("mosquitto").pw_uid  # dropped from root
    assert _service_uid(inst, "influxdb") == pwd.getpwnam("influxdb").pw_uid
    passwords = inst.etc / "credentials" / "broker" / "passwords"
    st = passwords.stat()
    assert (st.st_mode & 0o777, grp.getgrgid(st.st_gid).gr_name) == (0o640, SERVICE_USER)
    users = inst.root / "var" / "lib" / "likavillkor" / "users.toml"
    assert (users.stat().st_uid, users.stat().st_mode & 0o777) == (pwd.getpwnam(SERVICE_USER).pw_uid, 0o600)
    # the documented `users list` printed both, and the IT user signs in to the running collector
    assert "user  it-admin\tit" in inst.doc_output and "token prometheus\tit" in inst.doc_output  # type: ignore[attr-defined]
    password = (inst.admin / "it-admin.password").read_text().strip()
    ca = ssl.create_default_context(cafile=str(inst.admin / "tls" / "ca.crt"))
    with httpx.Client(verify=ca, timeout=30) as web:
        r = web.post(
            f"https://localhost:{inst.ports['8860']}/login",
            data={"username": "it-admin", "password": password, "method": "password"},
        )
        assert r.status_code == 303, r.text[:500]
        token = (inst.admin / "prometheus.token").read_text().strip()
        r = web.get(f"https://localhost:{inst.ports['8860']}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "likavillkor_mqtt_connected 1" in r.text, r.text[:500]
    log = inst.log("likavillkor-collector")
    assert "signed in: 'it-admin' (it) from 127.0.0.1" in log
    backups = list((inst.root / "var" / "backups" / "likavillkor").glob("*.bak"))
    assert len(backups) == 1 and backups[0].stat().st_mode & 0o777 == 0o600
    # InfluxDB answers only with a login, and only on loopback
    assert (
        httpx.get(
            f"http://127.0.0.1:{inst.ports['8086']}/query", params={"q": "SHOW DATABASES"}, timeout=10
        ).status_code
        == 401
    )
    # the unit as installed (its paths in this root), with its real ExecStart program: systemd's own check
    unit = inst.root / "etc" / "systemd" / "system" / "likavillkor-collector.service"
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False
    )
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    conf = (inst.root / "etc" / "influxdb" / "influxdb.conf").read_text()
    assert f'bind-address = "127.0.0.1:{inst.ports["8086"]}"' in conf and "auth-enabled = true" in conf


def test_two_enrolled_agents_fill_the_chairs_panels(installed: Install, tmp_path: Path) -> None:
    inst = installed
    tmp_path.chmod(0o755)
    for device in DEVICES:  # enrolment wrote complete configs: collector with its port, reflector, CA
        text = (inst.etc / "credentials" / "devices" / f"{device}.toml").read_text()
        assert f'url = "https://localhost:{inst.ports["8860"]}"' in text
        assert f"port = {inst.ports['8862']}" in text and str(inst.etc / "ca.crt") in text
    start = time.time()
    with _agents(inst, tmp_path) as procs:
        deadline = time.monotonic() + 240
        while True:
            for p in procs:
                assert p.poll() is None, "an agent stopped:\n" + "\n".join(
                    (tmp_path / f"{d}.log").read_text()[-2000:] for d in DEVICES
                )
            window = iq.Window(start - 60, time.time() + 5, "10s")
            network = _grafana_query(inst, _panel("Nätverk och batteri nu"), window)
            states = _grafana_query(inst, _panel("Deltagarnas läge"), window)
            verdict = _grafana_query(inst, _panel("Lika villkor"), window)
            rtt = _grafana_query(inst, _panel("Svarstid"), window)
            have_rtt = {r["member_id"] for r in network if r.get("rtt_ms") is not None}
            rtt_members = {r["member_id"] for r in rtt if r.get("mean") is not None}
            state_members = {r["member_id"] for r in states if r.get("last") is not None}
            if (
                have_rtt == {"member-0", "member-1"}
                and rtt_members == have_rtt
                and state_members == have_rtt
                and verdict
                and verdict[-1]["last"] is not None
            ):
                break
            assert time.monotonic() < deadline, (
                f"the chair's panels stayed empty: network {network}, states {states}, verdict {verdict}\n"
                + "\n".join((tmp_path / f"{d}.log").read_text()[-1500:] for d in DEVICES)
                + "\n--- collector:\n"
                + inst.log("likavillkor-collector")[-3000:]
            )
            time.sleep(2)
    agent_logs = "\n".join((tmp_path / f"{d}.log").read_text() for d in DEVICES)
    assert "CANNOT MEASURE" not in agent_logs and " 401" not in agent_logs
    collector_log = inst.log("likavillkor-collector")
    assert "HTTP Request:" not in collector_log  # no line per InfluxDB write
    assert "device sign-in refused" not in collector_log


def test_running_the_install_again_keeps_every_password_and_the_service_comes_back(installed: Install) -> None:
    """The doc says: run install.sh again after an upgrade; it keeps passwords, config and data."""
    inst = installed
    creds = inst.etc / "credentials"
    watched = [
        creds / "store.env",
        creds / "influx.env",
        creds / "grafana-influx.env",
        creds / "collector.env",
        creds / "broker" / "passwords",
        inst.etc / "collector.toml",
        *sorted((creds / "devices").glob("*.toml")),
    ]
    before = {p: p.read_text() for p in watched}
    block = next(b for b in doc_blocks() if "deploy/host/install.sh" in b)
    script = rewrite(block, root=inst.root, admin=inst.admin, ports=inst.ports)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=inst.admin,
        env=inst.env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    changed = [str(p) for p in watched if p.read_text() != before[p]]
    assert changed == []
    token = (inst.admin / "prometheus.token").read_text().strip()
    ca = ssl.create_default_context(cafile=str(inst.admin / "tls" / "ca.crt"))
    deadline = time.monotonic() + 120
    while True:
        try:
            r = httpx.get(
                f"https://localhost:{inst.ports['8860']}/metrics",
                verify=ca,
                timeout=10,
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code == 200 and "likavillkor_mqtt_connected 1" in r.text:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, inst.log("likavillkor-collector")[-3000:]
        time.sleep(1)
