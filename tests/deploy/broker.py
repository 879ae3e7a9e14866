"""Start a real Mosquitto from deploy/mosquitto/mosquitto.conf, with the paths moved into a test
directory and the listener moved to a free loopback port. Every replacement must hit, so the test
fails if the shipped config drifts from what the docs describe."""

from __future__ import annotations

import os
from pathlib import Path

from tests.deploy.pki import Pki

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SHIPPED_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"


def conf_for_test(*, port: int, pki: Pki, auth_dir: Path, data_dir: Path, text: str | None = None) -> str:
    text = SHIPPED_CONF.read_text(encoding="utf-8") if text is None else text
    data_dir.mkdir(parents=True, exist_ok=True)
    swaps = {
        "listener 8883\n": f"listener {port} 127.0.0.1\n",
        "cafile /mosquitto/tls/ca.crt\n": f"cafile {pki.ca_cert}\n",
        "certfile /mosquitto/tls/server.crt\n": f"certfile {pki.server_cert}\n",
        "keyfile /mosquitto/tls/server.key\n": f"keyfile {pki.server_key}\n",
        "include_dir /mosquitto/auth\n": f"include_dir {auth_dir}\n",
        "persistence_location /mosquitto/data/\n": f"persistence_location {data_dir}/\n",
    }
    for old, new in swaps.items():
        if old not in text:
            raise AssertionError(f"{SHIPPED_CONF} no longer has {old.strip()!r}")
        text = text.replace(old, new)
    if os.geteuid() == 0:
        # As root Mosquitto drops to the 'mosquitto' user, which cannot enter pytest's 0700 dirs.
        text += "user root\n"
    return text
