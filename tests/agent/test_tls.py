"""The agent over TLS with user name and password, using the very credentials file that
``collector.auth.broker`` writes for a device, against the shipped Mosquitto config (ACL per device)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from collector.auth import broker as broker_cli
from likavillkor import wire
from likavillkor.topics import DEVICE_WILDCARD
from tests.agent.conftest import agent_env, spawn_agent
from tests.deploy.broker import conf_for_test
from tests.deploy.mqttclient import TlsClient
from tests.deploy.pki import make_pki
from tests.support.roster import fixed_roster
from tests.support.services import free_port, running_mosquitto_with_conf, stop_pid

ROSTER = fixed_roster("ks-2026-12-01")


def test_agent_publishes_over_tls_with_password(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "tls")
    (tmp_path / "roster.toml").write_text(ROSTER)
    out = tmp_path / "credentials"
    port = free_port()
    assert (
        broker_cli.main(
            [
                "--roster",
                str(tmp_path / "roster.toml"),
                "--out",
                str(out),
                "--mqtt-url",
                f"mqtts://localhost:{port}",
                "--ca-file",
                str(pki.ca_cert),
            ]
        )
        == 0
    )
    device_file = out / "devices" / "anna-ipad.toml"
    collector_pw = broker_cli.read_credentials_password((out / "collector-mqtt.toml").read_text())
    conf = conf_for_test(port=port, pki=pki, auth_dir=out / "broker", data_dir=tmp_path / "data")
    with running_mosquitto_with_conf(tmp_path / "mosquitto", conf, port) as broker:
        collector = TlsClient(
            broker.host, broker.port, pki.ca_cert, broker_cli.COLLECTOR_USER, collector_pw, client_id="collector-test"
        )
        assert not collector.connect().is_failure
        collector.subscribe(DEVICE_WILDCARD)
        env = agent_env(
            LIKAVILLKOR_AGENT__DATA_DIR=json.dumps(str(tmp_path / "state")),
            LIKAVILLKOR_AGENT__MONITOR__SAMPLE_PERIOD_S="0.2",
        )
        proc = spawn_agent("monitor", "--config", str(device_file), env=env)
        try:
            kinds: dict[str, wire.Message] = {}
            deadline = time.monotonic() + 20
            while not {"status", "sample"} <= kinds.keys() and time.monotonic() < deadline:
                got = collector.next_message()
                msg = wire.decode(got.payload)
                kinds[got.topic.rsplit("/", 1)[-1]] = msg
        finally:
            stop_pid(proc)  # type: ignore[arg-type]
            collector.close()
    assert {"status", "sample"} <= kinds.keys(), proc.stderr.read() if proc.stderr else ""
    assert kinds["sample"].device_id == "anna-ipad"
    status = kinds["status"]
    assert isinstance(status, wire.Status) and status.state is wire.DeviceState.ONLINE
