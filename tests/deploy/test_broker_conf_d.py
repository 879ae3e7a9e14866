"""Mosquitto on a Debian host (issue 16, failure 1): Debian's main mosquitto.conf includes
/etc/mosquitto/conf.d/, and Mosquitto follows ``include_dir`` only in that main file. The old
documented set-up (an ``include_dir`` of the generated auth directory inside a conf.d file) is
silently ignored, so the logins never load and every device is refused; the shipped conf.d file plus
a link to the generated auth.conf (what deploy/host/install.sh does) lets devices in and keeps
anonymous clients out. Real Mosquitto, real TLS, the generated files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from collector.auth import broker as broker_cli
from tests.deploy.mqttclient import TlsClient
from tests.deploy.pki import Pki, make_pki
from tests.support.services import free_port, running_mosquitto_with_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROSTER = '[[device]]\nid = "ks-pc-01"\n'


def _host_conf_d(tmp: Path, port: int, pki: Pki, out: Path, *, old_way: bool) -> str:
    """A Debian-shaped broker: a main file that include_dirs conf.d, holding the shipped
    likavillkor.conf (paths and port moved here) and the authentication, done one way or the other."""
    conf_d = tmp / "conf.d"
    conf_d.mkdir()
    text = (DEPLOY / "mosquitto" / "conf.d" / "likavillkor.conf").read_text(encoding="utf-8")
    swaps = {
        "listener 8883\n": f"listener {port} 127.0.0.1\n",
        "/etc/mosquitto/tls/ca.crt": str(pki.ca_cert),
        "/etc/mosquitto/tls/server.crt": str(pki.server_cert),
        "/etc/mosquitto/tls/server.key": str(pki.server_key),
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    (conf_d / "likavillkor.conf").write_text(text)
    if old_way:  # what operations.md and the tool's hint used to say
        (conf_d / "likavillkor-auth-dir.conf").write_text(f"include_dir {out / 'broker'}\n")
    else:  # deploy/host/install.sh
        (conf_d / "likavillkor-auth.conf").symlink_to(out / "broker" / "auth.conf")
    main = "persistence false\n" + f"include_dir {conf_d}\n"
    return main + ("user root\n" if os.geteuid() == 0 else "")


@pytest.mark.parametrize("old_way", [False, True], ids=["linked-auth-conf", "include_dir-in-conf.d"])
def test_host_broker_loads_the_generated_logins_only_without_a_nested_include_dir(
    tmp_path: Path, old_way: bool
) -> None:
    pki = make_pki(tmp_path / "tls")
    (tmp_path / "roster.toml").write_text(ROSTER)
    out = tmp_path / "credentials"
    assert (
        broker_cli.main(
            ["--roster", str(tmp_path / "roster.toml"), "--out", str(out), "--mqtt-url", "mqtts://localhost:8883"]
        )
        == 0
    )
    password = broker_cli.read_credentials_password((out / "devices" / "ks-pc-01.toml").read_text())
    port = free_port()
    conf = _host_conf_d(tmp_path, port, pki, out, old_way=old_way)
    with running_mosquitto_with_conf(tmp_path / "mosquitto", conf, port) as broker:
        device = TlsClient(
            broker.host, broker.port, pki.ca_cert, "ks-pc-01", password, client_id=f"ks-pc-01-{time.monotonic_ns()}"
        )
        anonymous = TlsClient(broker.host, broker.port, pki.ca_cert, client_id=f"anon-{time.monotonic_ns()}")
        try:
            device_reason = device.connect()
            anonymous_reason = anonymous.connect()
        finally:
            device.close()
            anonymous.close()
    assert anonymous_reason.is_failure
    if old_way:
        assert device_reason.is_failure, "the nested include_dir was followed after all"
    else:
        assert not device_reason.is_failure, f"the device was refused: {device_reason}"
