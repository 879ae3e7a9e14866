"""Issue 12, item 3: no device can knock the collector (or another member's agent) off the broker by
logging in with its client id. A real Mosquitto from deploy/mosquitto/mosquitto.conf with TLS and the
files ``broker-credentials`` writes, a real collector process with its generated login, real MQTT
clients for the devices."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from collector.auth import broker as broker_cli
from likavillkor import wire
from likavillkor.topics import device_topic
from tests.deploy.broker import conf_for_test
from tests.deploy.mqttclient import TlsClient
from tests.deploy.pki import make_pki
from tests.support.collector import CollectorProcess
from tests.support.services import free_port, running_mosquitto_with_conf, stop_pid
from tests.support.waiting import wait_until


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def _roster(now: float) -> str:
    return (
        f'[[meeting]]\nid = "ks-now"\nbody = "kommunstyrelsen"\nstart = {_iso(now - 60)}\n'
        f'end = {_iso(now + 7200)}\nroom = "Sessionssalen"\n'
        '[[meeting.participant]]\nname = "Anna Andersson"\nmember_id = "anna"\ndevice_id = "anna-ipad"\n'
        '[[meeting.participant]]\nname = "Bo Berg"\nmember_id = "bo"\ndevice_id = "bo-ipad"\n'
    )


def _sample(device: str, boot: str, seq: int) -> bytes:
    return wire.encode(
        wire.Sample(
            device_id=device,
            boot_id=boot,
            seq=seq,
            ts=time.time(),
            meeting_id="ks-now",
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
    )


def test_a_device_with_the_collectors_or_another_devices_client_id_takes_over_no_session(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "tls")
    roster = tmp_path / "roster.toml"
    roster.write_text(_roster(time.time()))
    out = tmp_path / "credentials"
    assert broker_cli.main(["--roster", str(roster), "--out", str(out), "--mqtt-url", "mqtts://localhost:8883"]) == 0
    port, http_port = free_port(), free_port()
    conf = conf_for_test(port=port, pki=pki, auth_dir=out / "broker", data_dir=tmp_path / "mqdata")

    def password(user: str) -> str:
        path = out / ("collector-mqtt.toml" if user == broker_cli.COLLECTOR_USER else f"devices/{user}.toml")
        pw = broker_cli.read_credentials_password(path.read_text())
        assert pw
        return pw

    with running_mosquitto_with_conf(tmp_path / "mosquitto", conf, port) as broker:
        creds = (out / "collector-mqtt.toml").read_text()
        assert f'client_id = "{broker_cli.COLLECTOR_USER}"' in creds
        config = tmp_path / "collector.toml"
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\nroster = "{roster}"\n\n'
            + creds.replace('url = "mqtts://localhost:8883"', f'url = "mqtts://localhost:{port}"').replace(
                'ca_file = ""', f'ca_file = "{pki.ca_cert}"'
            )
            + f'\n[http]\nhost = "127.0.0.1"\nport = {http_port}\n[reflector]\nenabled = false\n'
            "[store]\nflush_interval_s = 0.05\n"
        )
        col = CollectorProcess(tmp_path, config, http_port)
        col.spawn()
        disconnects: list[Any] = []
        clients: list[TlsClient] = []
        try:
            col.wait_up()
            health = col.health
            # bo's agent, connected with the agent's own client id, publishing samples throughout
            bo = TlsClient(
                broker.host, broker.port, pki.ca_cert, "bo-ipad", password("bo-ipad"), client_id="lv-agent-bo-ipad"
            )
            bo.client.on_disconnect = lambda *a: disconnects.append(("bo", a[3]))
            clients.append(bo)
            assert not bo.connect().is_failure
            boot = f"bo-{time.monotonic_ns()}"
            sent = 0
            for seq in range(1, 6):
                assert bo.publish(device_topic("bo-ipad", "sample"), _sample("bo-ipad", boot, seq)).value == 0
                sent += 1
            # the attack: anna's own login, with the collector's client id, then with bo's agent's
            for stolen in (broker_cli.COLLECTOR_USER, "likavillkor-collector", "lv-agent-bo-ipad"):
                evil = TlsClient(
                    broker.host, broker.port, pki.ca_cert, "anna-ipad", password("anna-ipad"), client_id=stolen
                )
                clients.append(evil)
                assert not evil.connect().is_failure  # the login is hers: it is her id she gets
                for _ in range(5):
                    sent += 1
                    assert bo.publish(device_topic("bo-ipad", "sample"), _sample("bo-ipad", boot, sent)).value == 0
                    time.sleep(0.1)
                    h = health()
                    assert h["broker"]["connected"] and h["broker"]["monitoring"] == "active"
                    assert all(m["monitoring"] for m in h["meetings"])
            assert disconnects == [], "bo's agent was disconnected by another device's login"
            assert health()["broker"]["connects"] == 1, "the collector's session was taken over"
            wait_until(
                lambda: int(health()["ingest"]["received"]) >= sent,
                timeout=60,
                what=f"all {sent} received",
                detail=lambda: health()["ingest"],
                log=col.log,
            )
            assert "connection to" not in (tmp_path / "collector.log").read_text()  # no 'connection lost'
        finally:
            for c in clients:
                c.close()
            col.stop()


QUICK = '[selftest]\nskip = ["path", "bandwidth", "camera", "microphone", "mediapath"]\n'


def test_a_one_shot_selftest_beside_the_running_agent_does_not_take_its_connection(tmp_path: Path) -> None:
    """With client ids bound to user names, a second connection of the same device would take the
    running agent's over (its will: offline). The one-shot ``selftest`` hands its result to the
    running agent through their shared outbox instead: the result arrives, the agent stays online."""
    pki = make_pki(tmp_path / "tls")
    roster = tmp_path / "roster.toml"
    roster.write_text(_roster(time.time()))
    out = tmp_path / "credentials"
    assert broker_cli.main(["--roster", str(roster), "--out", str(out), "--mqtt-url", "mqtts://localhost:8883"]) == 0
    port = free_port()
    conf = conf_for_test(port=port, pki=pki, auth_dir=out / "broker", data_dir=tmp_path / "mqdata")
    collector_pw = broker_cli.read_credentials_password((out / "collector-mqtt.toml").read_text())
    config = tmp_path / "agent.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "state"}"\n'
        + (out / "devices" / "bo-ipad.toml")
        .read_text()
        .replace('url = "mqtts://localhost:8883"', f'url = "mqtts://localhost:{port}"')
        .replace('ca_file = ""', f'ca_file = "{pki.ca_cert}"')
        + "\n[monitor]\nsample_period_s = 0.2\npath_probe = false\n"
        + QUICK
    )
    with running_mosquitto_with_conf(tmp_path / "mosquitto", conf, port) as broker:
        watcher = TlsClient(
            broker.host,
            broker.port,
            pki.ca_cert,
            broker_cli.COLLECTOR_USER,
            collector_pw,
            client_id=broker_cli.COLLECTOR_USER,
        )
        assert not watcher.connect().is_failure
        watcher.subscribe("likavillkor/v1/devices/bo-ipad/+")
        with open(tmp_path / "agent.log", "wb") as log:
            monitor = subprocess.Popen(
                [sys.executable, "-m", "agent", "monitor", "--config", str(config)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            got: list[wire.Message] = []

            def collect(until_: float) -> None:
                while time.monotonic() < until_:
                    try:
                        received = watcher.next_message()
                    except TimeoutError:
                        continue
                    if received.payload:
                        got.append(wire.decode(received.payload))
                    if any(isinstance(m, wire.SelftestResult) for m in got):
                        return

            deadline = time.monotonic() + 20
            while not any(isinstance(m, wire.Sample) for m in got):
                assert time.monotonic() < deadline and monitor.poll() is None, (tmp_path / "agent.log").read_text()[
                    -3000:
                ]
                collect(time.monotonic() + 1)
            one_shot = subprocess.run(
                [sys.executable, "-m", "agent", "selftest", "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert one_shot.returncode in (0, 1, 2), one_shot.stderr[-2000:]
            collect(time.monotonic() + 15)
            assert any(isinstance(m, wire.SelftestResult) for m in got), "the one-shot's result never arrived"
            time.sleep(1.0)
            got += [wire.decode(r.payload) for r in watcher.drain() if r.payload]
            offline = [m for m in got if isinstance(m, wire.Status) and m.state is not wire.DeviceState.ONLINE]
            assert offline == [], f"the running agent went offline: {offline}"
            assert "lost the broker" not in (tmp_path / "agent.log").read_text()
            assert monitor.poll() is None
        finally:
            stop_pid(monitor)
            watcher.close()
