"""The broker as a municipality runs it: a real Mosquitto started from deploy/mosquitto/mosquitto.conf
with TLS (a CA and server certificate made here by openssl) and the password and ACL files that
``collector.auth.broker`` generates from a roster. Each member's device may speak only for itself,
and nobody gets in without a password."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from collector.auth import broker as broker_cli
from likavillkor import wire
from likavillkor.topics import DEVICE_WILDCARD, device_topic
from tests.deploy.broker import conf_for_test
from tests.deploy.mqttclient import DEADLINE_S, TlsClient
from tests.deploy.pki import Pki, make_pki
from tests.support.collector import CollectorProcess
from tests.support.roster import fixed_roster
from tests.support.services import Mosquitto, free_port, running_mosquitto_with_conf, stop_pid
from tests.support.waiting import wait_until

NOT_AUTHORIZED = 0x87
BAD_LOGIN = {0x86, 0x87}  # "bad user name or password" / "not authorized"

ANNA, BO = ("Anna Andersson", "anna-ipad"), ("Bo Berg", "bo-ipad")
ROSTER = fixed_roster("ks-2026-12-01", (ANNA, BO))
# a device whose id has anna's as a prefix: the ACL must not confuse them
EXTRA_DEVICE = '\n[[device]]\nid = "anna-ipad2"\nmember_id = "anna.andersson"\n'


@dataclass
class Deployment:
    broker: Mosquitto
    pki: Pki
    out: Path
    roster: Path

    def password(self, user: str) -> str:
        path = (
            (self.out / "collector-mqtt.toml")
            if user == broker_cli.COLLECTOR_USER
            else (self.out / "devices" / f"{user}.toml")
        )
        pw = broker_cli.read_credentials_password(path.read_text())
        assert pw
        return pw

    def client(
        self,
        user: str | None,
        password: str | None = None,
        *,
        trust_test_ca: bool = True,
        will: tuple[str, bytes] | None = None,
    ) -> TlsClient:
        ca_file = self.pki.ca_cert if trust_test_ca else None
        pw = password if password is not None or user is None else self.password(user)
        return TlsClient(
            self.broker.host,
            self.broker.port,
            ca_file,
            user,
            pw,
            client_id=f"{user or 'anon'}-{time.monotonic_ns()}",
            will=will,
        )

    def connected(self, user: str, will: tuple[str, bytes] | None = None) -> TlsClient:
        c = self.client(user, will=will)
        reason = c.connect()
        assert not reason.is_failure, f"{user} refused: {reason}"
        return c


def _deploy(tmp: Path, roster_text: str) -> tuple[Pki, Path, Path]:
    pki = make_pki(tmp / "tls")
    roster = tmp / "roster.toml"
    roster.write_text(roster_text)
    out = tmp / "credentials"
    assert broker_cli.main(["--roster", str(roster), "--out", str(out), "--mqtt-url", "mqtts://localhost:8883"]) == 0
    return pki, out, roster


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("deploy")
    pki, out, roster = _deploy(tmp, ROSTER + EXTRA_DEVICE)
    port = free_port()
    conf = conf_for_test(port=port, pki=pki, auth_dir=out / "broker", data_dir=tmp / "data")
    with running_mosquitto_with_conf(tmp / "mosquitto", conf, port) as broker:
        yield Deployment(broker, pki, out, roster)


def _round_trip(client: TlsClient, own_device: str) -> None:
    """A barrier: once the broker has acknowledged this client's own publish, anything it had routed
    to this client earlier has already been read (one TCP stream, in order)."""
    assert client.publish(device_topic(own_device, "status"), b"barrier").value == 0


def test_collector_receives_what_devices_publish_on_their_own_topics(deployment: Deployment) -> None:
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    anna, bo = deployment.connected("anna-ipad"), deployment.connected("bo-ipad")
    try:
        assert [r.value for r in collector.subscribe(DEVICE_WILDCARD)] == [1]
        assert anna.publish(device_topic("anna-ipad", "sample"), b"anna-1").value == 0
        assert bo.publish(device_topic("bo-ipad", "selftest"), b"bo-1").value == 0
        got = {(m.topic, m.payload) for m in (collector.next_message(), collector.next_message())}
        assert got == {(device_topic("anna-ipad", "sample"), b"anna-1"), (device_topic("bo-ipad", "selftest"), b"bo-1")}
    finally:
        for c in (collector, anna, bo):
            c.close()


def test_device_cannot_publish_on_another_devices_topics(deployment: Deployment) -> None:
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    anna = deployment.connected("anna-ipad")
    try:
        collector.subscribe("likavillkor/v1/#")
        forged = [
            device_topic("bo-ipad", "sample"),
            device_topic("anna-ipad2", "sample"),
            "likavillkor/v1/devices/bo-ipad",
            "likavillkor/v1/other",
            "elsewhere",
        ]
        for topic in forged:
            assert anna.publish(topic, b"forged").value == NOT_AUTHORIZED, topic
        # then one allowed message: if any forged one had been routed, it would arrive before this
        assert anna.publish(device_topic("anna-ipad", "sample"), b"genuine").value == 0
        first = collector.next_message()
        assert (first.topic, first.payload) == (device_topic("anna-ipad", "sample"), b"genuine")
        assert collector.drain() == []
    finally:
        collector.close()
        anna.close()


def test_device_cannot_read_other_devices_messages(deployment: Deployment) -> None:
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    anna, bo = deployment.connected("anna-ipad"), deployment.connected("bo-ipad")
    try:
        collector.subscribe(DEVICE_WILDCARD)
        anna.subscribe("likavillkor/v1/#")
        assert bo.publish(device_topic("bo-ipad", "sample"), b"private").value == 0
        assert collector.next_message().payload == b"private"
        _round_trip(anna, "anna-ipad")
        assert anna.drain() == []
    finally:
        for c in (collector, anna, bo):
            c.close()


def test_device_will_and_retained_status_reach_the_collector_only_on_its_own_topic(deployment: Deployment) -> None:
    """The agent keeps a retained status and a will on its own status topic (agent/mqtt.py)."""
    status = device_topic("anna-ipad", "status")
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    try:
        collector.subscribe(DEVICE_WILDCARD)
        anna = deployment.connected("anna-ipad", will=(status, b"offline"))
        assert anna.publish(status, b"online").value == 0
        assert (collector.next_message().payload) == b"online"
        anna.drop_with_will()
        will = collector.next_message()
        assert (will.topic, will.payload) == (status, b"offline")
    finally:
        collector.close()
    late = deployment.connected(broker_cli.COLLECTOR_USER)  # retained: a restarted collector sees it
    try:
        late.subscribe(status)
        assert late.next_message().payload == b"offline"
    finally:
        late.close()
        cleaner = deployment.connected("anna-ipad")  # clear the retained status for the other tests
        assert not cleaner.publish(status, b"", retain=True).is_failure
        cleaner.close()
    # a will on another device's topic: Mosquitto 2.0 may accept the login, but never delivers it
    watcher = deployment.connected(broker_cli.COLLECTOR_USER)
    try:
        watcher.subscribe(device_topic("bo-ipad", "status"))  # no retained status there yet
        watcher.subscribe(device_topic("anna-ipad", "sample"))
        forged = deployment.client("anna-ipad", will=(device_topic("bo-ipad", "status"), b"forged"))
        if not forged.connect().is_failure:
            forged.drop_with_will()
        forged.close()
        # the DISCONNECT above was sent before this new login and publish even began
        anna = deployment.connected("anna-ipad")
        assert anna.publish(device_topic("anna-ipad", "sample"), b"after").value == 0
        anna.close()
        first = watcher.next_message()
        assert (first.topic, first.payload) == (device_topic("anna-ipad", "sample"), b"after")
    finally:
        watcher.close()


def test_collector_publishes_nothing(deployment: Deployment) -> None:
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    try:
        assert collector.publish(device_topic("anna-ipad", "sample"), b"x").value == NOT_AUTHORIZED
        assert collector.publish("likavillkor/v1/anything", b"x").value == NOT_AUTHORIZED
    finally:
        collector.close()


@pytest.mark.parametrize(
    ("user", "password"), [(None, None), ("anna-ipad", "wrong-password"), ("nobody", "x"), ("anna-ipad", "")]
)
def test_bad_logins_are_refused(deployment: Deployment, user: str | None, password: str | None) -> None:
    client = deployment.client(user, password)
    try:
        reason = client.connect()
        assert reason.is_failure and reason.value in BAD_LOGIN, str(reason)
    finally:
        client.close()


def test_plain_mqtt_without_tls_gets_no_answer(deployment: Deployment) -> None:
    # an MQTT 3.1.1 CONNECT for client id "p" in clear text: the TLS listener must not answer it
    connect = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 1]) + b"p"
    with socket.create_connection((deployment.broker.host, deployment.broker.port), timeout=DEADLINE_S) as s:
        s.sendall(connect)
        try:
            answer = s.recv(16)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20"), "the broker sent a CONNACK over plain TCP"


def test_client_that_does_not_trust_the_ca_refuses_the_broker(deployment: Deployment) -> None:
    client = deployment.client("anna-ipad", trust_test_ca=False)  # system trust store: the test CA is not in it
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect()
    client.close()


def _refused_within(dep: Deployment, user: str, password: str) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        client = dep.client(user, password)
        try:
            if client.connect().is_failure:
                return True
        finally:
            client.close()
        time.sleep(0.05)  # Mosquitto applies SIGHUP in its main loop: poll, bounded
    return False


def test_rerun_keeps_passwords_rotation_and_revocation_take_effect_on_reload(tmp_path: Path) -> None:
    pki, out, roster = _deploy(tmp_path, ROSTER)
    port = free_port()
    conf = conf_for_test(port=port, pki=pki, auth_dir=out / "broker", data_dir=tmp_path / "data")
    with running_mosquitto_with_conf(tmp_path / "mosquitto", conf, port) as broker:
        dep = Deployment(broker, pki, out, roster)
        anna_before, bo_before = dep.password("anna-ipad"), dep.password("bo-ipad")
        # bo leaves the roster; anna's tablet is lost and gets a new password
        roster.write_text(fixed_roster("ks-2026-12-01", (ANNA,)))
        assert (
            broker_cli.main(
                [
                    "--roster",
                    str(roster),
                    "--out",
                    str(out),
                    "--mqtt-url",
                    "mqtts://localhost:8883",
                    "--rotate-device",
                    "anna-ipad",
                ]
            )
            == 0
        )
        assert not (out / "devices" / "bo-ipad.toml").exists()
        assert dep.password("anna-ipad") != anna_before
        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGHUP)  # docs/operations.md: reload after re-running
        assert _refused_within(dep, "bo-ipad", bo_before), "a revoked device still logs in"
        assert _refused_within(dep, "anna-ipad", anna_before), "a rotated password still works"
        anna = dep.connected("anna-ipad")
        anna.close()
        collector = dep.connected(broker_cli.COLLECTOR_USER)  # kept across the re-run
        collector.close()


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_real_collector_logs_in_over_tls_and_serves_https(deployment: Deployment, tmp_path: Path) -> None:
    """The collector itself, configured as docs/tls.md says: MQTT over TLS with its generated login
    and the CA file, HTTPS with the server certificate ([http] tls_cert / tls_key)."""
    http_port, udp_port = free_port(), free_port(kind=socket.SOCK_DGRAM)
    creds = (deployment.out / "collector-mqtt.toml").read_text()
    config = tmp_path / "collector.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nroster = "{deployment.roster}"\n\n'
        + creds.replace(
            'url = "mqtts://localhost:8883"', f'url = "mqtts://localhost:{deployment.broker.port}"'
        ).replace('ca_file = ""', f'ca_file = "{deployment.pki.ca_cert}"')
        + f'\n[http]\nhost = "127.0.0.1"\nport = {http_port}\n'
        f'tls_cert = "{deployment.pki.server_cert}"\ntls_key = "{deployment.pki.server_key}"\n'
        f"\n[reflector]\nport = {udp_port}\n"
    )
    col = CollectorProcess(tmp_path, config, http_port, tls_ca=deployment.pki.ca_cert)
    col.spawn()
    try:
        metrics = col.metrics
        wait_until(
            lambda: _metric(metrics(), "likavillkor_mqtt_connected") == 1.0,
            timeout=60,
            what="collector connected to the broker",
            log=col.log,
        )
        before = _metric(metrics(), "likavillkor_ingest_received_total") or 0.0
        anna = deployment.connected("anna-ipad")
        try:
            assert anna.publish(device_topic("bo-ipad", "sample"), b"forged").value == NOT_AUTHORIZED
            assert anna.publish(device_topic("anna-ipad", "sample"), b"genuine").value == 0
        finally:
            anna.close()
        wait_until(
            lambda: (_metric(metrics(), "likavillkor_ingest_received_total") or 0.0) >= before + 1,
            timeout=60,
            what="the device's message received",
            log=col.log,
        )
        assert _metric(metrics(), "likavillkor_ingest_received_total") == before + 1  # the forged one never came
        with pytest.raises(httpx.ConnectError):  # the system's trust store does not know the test CA
            httpx.get(f"https://localhost:{http_port}/metrics", timeout=DEADLINE_S)
    finally:
        col.stop()


def test_real_agent_with_its_credentials_file_reports_over_tls(deployment: Deployment, tmp_path: Path) -> None:
    """The device's file from broker-credentials, used as the agent's config (plus the test CA and
    a state directory): the real agent connects over TLS and its status and samples arrive."""
    device_file = (deployment.out / "devices" / "bo-ipad.toml").read_text()
    config = tmp_path / "agent.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "state"}"\n'
        + device_file.replace(
            'url = "mqtts://localhost:8883"', f'url = "mqtts://localhost:{deployment.broker.port}"'
        ).replace('ca_file = ""', f'ca_file = "{deployment.pki.ca_cert}"')
        + "\n[monitor]\nsample_period_s = 0.2\npath_probe = false\n"
    )
    collector = deployment.connected(broker_cli.COLLECTOR_USER)
    collector.subscribe("likavillkor/v1/devices/bo-ipad/+")
    with open(tmp_path / "agent.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "monitor", "--config", str(config)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        got: list[wire.Message] = []
        deadline = time.monotonic() + 20
        while not any(isinstance(m, wire.Sample) for m in got):
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "agent.log").read_text()[-3000:]
            try:
                received = collector.next_message()
            except TimeoutError:
                continue
            if received.payload:
                got.append(wire.decode(received.payload))
        status = next(m for m in got if isinstance(m, wire.Status))
        assert status.device_id == "bo-ipad" and status.state is wire.DeviceState.ONLINE
        assert all(m.device_id == "bo-ipad" for m in got)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop_pid(proc)
        collector.close()
        cleaner = deployment.connected("bo-ipad")  # clear the agent's retained status for the other tests
        assert not cleaner.publish(device_topic("bo-ipad", "status"), b"", retain=True).is_failure
        cleaner.close()
