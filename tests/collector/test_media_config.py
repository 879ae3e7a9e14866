"""``[media] ice_servers`` (collector/config.py): typed, refused with the line when wrong, and the
configured servers reach both ends of the media path — the member's page (the browser's
RTCPeerConnection) and the collector's media peer. Before, no config section had them at all."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from collector import config
from collector.auth import load_secret, local_headers
from collector.web import selftest_links
from collector.web.app import create_app
from likavillkor.config import ConfigError
from tests.collector.conftest import RuntimeFactory

ICE = """
[media]
[[media.ice_servers]]
urls = ["stun:stun.kommun.example:3478"]
[[media.ice_servers]]
urls = ["turn:turn.kommun.example:3478?transport=udp", "turns:turn.kommun.example:5349"]
username = "likavillkor"
credential = "hemligt"
"""


def _load(tmp_path: Path, text: str) -> config.CollectorConfig:
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    return config.load(f, environ={})


def test_ice_servers_load_typed(tmp_path: Path) -> None:
    cfg = _load(tmp_path, ICE)
    stun, turn = cfg.media.ice_servers
    assert stun.urls == ["stun:stun.kommun.example:3478"] and stun.username is None
    assert turn.username == "likavillkor" and turn.credential == "hemligt" and len(turn.urls) == 2
    assert config.load(None, environ={}).media.ice_servers == []  # none by default: never a public server


def test_ice_servers_from_the_environment_keep_the_turn_secret_out_of_the_file() -> None:
    value = '[{urls = ["turns:turn.kommun.example:5349"], username = "likavillkor", credential = "hemligt"}]'
    env = {"LIKAVILLKOR_COLLECTOR__MEDIA__ICE_SERVERS": value}
    (server,) = config.load(None, environ=env).media.ice_servers
    assert server.urls == ["turns:turn.kommun.example:5349"] and server.credential == "hemligt"
    with pytest.raises(ConfigError, match="needs username and credential"):
        config.load(None, environ={"LIKAVILLKOR_COLLECTOR__MEDIA__ICE_SERVERS": '[{urls = ["turn:t:3478"]}]'})


@pytest.mark.parametrize(
    ("entry", "line", "text"),
    [
        ('urls = ["stun:a:3478"]\nusernme = "x"', 4, "media.ice_servers.0.usernme"),  # unknown key: its line
        ('urls = ["turn:a:3478"]\nusername = "x"', 2, "needs username and credential"),
        ('urls = ["https://a"]', 2, "must start with stun:"),
        ("urls = []", 3, "media.ice_servers[0].urls"),
    ],
)
def test_a_wrong_ice_server_is_refused_with_the_line(tmp_path: Path, entry: str, line: int, text: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, f"[media]\n[[media.ice_servers]]\n{entry}\n")
    assert err.value.line == line and text in str(err.value), str(err.value)


def test_configured_ice_servers_reach_the_members_page_and_the_media_peer(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(extra=ICE)
    client = TestClient(create_app(rt), headers=local_headers(rt.config.data_path))
    peer = client.app.state.media_peer  # type: ignore[attr-defined]
    assert [(s.urls, s.username, s.credential) for s in peer.config.ice_servers] == [
        (["stun:stun.kommun.example:3478"], None, None),
        (["turn:turn.kommun.example:3478?transport=udp", "turns:turn.kommun.example:5349"], "likavillkor", "hemligt"),
    ]
    secret = load_secret(rt.config.data_path / "web-secret.key")
    token = selftest_links.make_token(secret, "ks-test", "member-0", time.time() + 3600)
    page = client.get(f"/selftest/{token}")
    assert page.status_code == 200, page.text
    boot = json.loads(re.search(r'<script type="application/json" id="boot">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    # the browser's RTCIceServer: no "username": null for a STUN server
    assert boot["ice_servers"] == [
        {"urls": ["stun:stun.kommun.example:3478"]},
        {
            "urls": ["turn:turn.kommun.example:3478?transport=udp", "turns:turn.kommun.example:5349"],
            "username": "likavillkor",
            "credential": "hemligt",
        },
    ]
