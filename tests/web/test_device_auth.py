"""Devices sign in over HTTP with their broker credentials (HTTP Basic ``device_id:password``, checked
against the Mosquitto password file of ``broker-credentials``): a real collector process, real
credentials files, the agent's own scheduler and media path offer code."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.config import collector_credentials, load_agent_config
from agent.scheduler import Scheduler
from collector.auth import broker as broker_cli
from tests.support.services import running_mosquitto
from tests.web.conftest import Collector, make_collector

DEVICES = ("dev-a", "dev-b", "dev-z")


@dataclass
class Setup:
    collector: Collector
    creds: Path  # broker-credentials output directory

    def credentials(self, device_id: str) -> tuple[str, str]:
        got = collector_credentials(load_agent_config(self.creds / "devices" / f"{device_id}.toml"))
        assert got is not None and got[0] == device_id
        return got


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("device-auth")
    creds = workdir / "creds"
    with running_mosquitto(workdir / "mosquitto") as broker:
        broker_cli.generate(DEVICES, broker_cli.Options(out=creds, mqtt_url=broker.url))
        c = make_collector(workdir, broker, http_extra=f'device_passwords = "{creds / "broker" / "passwords"}"')
        c.start()
        try:
            yield Setup(c, creds)
        finally:
            c.stop()


def get(setup: Setup, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(setup.collector.base + path, headers=headers or {}, timeout=5)


def test_a_device_reads_its_own_meetings_and_no_one_elses(setup: Setup) -> None:
    a = basic(*setup.credentials("dev-a"))
    own = get(setup, "/api/devices/dev-a/meetings", a)
    assert own.status_code == 200, own.text
    assert {m["id"] for m in own.json()} == {"ks-test", "ks-later", "ks-earlier"}
    assert get(setup, "/api/devices/dev-b/meetings", a).status_code == 403
    # IT (an API token) may read any device's meetings
    assert get(setup, "/api/devices/dev-b/meetings", setup.collector.headers).status_code == 200
    # a device's credentials open nothing else: no meeting view, no health, no incidents
    for path in ("/api/meetings/ks-test", "/api/health", "/api/incidents", "/api/meetings"):
        assert get(setup, path, a).status_code == 401, path


def test_missing_wrong_and_malformed_credentials_are_401(setup: Setup) -> None:
    user, password = setup.credentials("dev-a")
    none = get(setup, "/api/devices/dev-a/meetings")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Basic")
    assert "Anna" not in none.text
    for headers in (
        basic(user, password + "x"),
        basic("dev-nobody", password),
        basic(user, ""),
        {"Authorization": "Basic !!!not-base64"},
        basic("dev-b", password),
    ):
        assert get(setup, "/api/devices/dev-a/meetings", headers).status_code == 401, headers
    # counted (the malformed header is refused by FastAPI's HTTPBasic parser before the check)
    assert setup.collector.api("/api/web/counters")["auth"]["device_rejected"] >= 4


def test_the_agents_scheduler_gets_its_meetings_with_real_credentials(setup: Setup) -> None:
    async def fetch(credentials: tuple[str, str] | None) -> Scheduler:
        async def runner(_meeting: object, _in_session: bool) -> None:
            return None

        s = Scheduler(
            run_before_s=900,
            runner=runner,
            collector_url=setup.collector.base,
            device_id="dev-a",
            timeout_s=5,
            credentials=credentials,
        )
        await s.refresh()
        return s

    good = asyncio.run(fetch(setup.credentials("dev-a")))
    assert {m.id for m in good.fetched} == {"ks-test", "ks-later", "ks-earlier"} and good.fetch_errors == 0
    wrong = asyncio.run(fetch(("dev-a", "not-the-password")))
    assert wrong.fetched == [] and wrong.auth_errors == 1
    anonymous = asyncio.run(fetch(None))
    assert anonymous.fetched == [] and anonymous.auth_errors == 1


def test_media_path_offer_only_for_the_devices_own_id(setup: Setup) -> None:
    a = basic(*setup.credentials("dev-a"))
    url = setup.collector.base + "/api/mediapath/offer"
    offer = {"meeting_id": "ks-test", "sdp": "v=0", "type": "offer"}
    foreign = httpx.post(url, headers=a, json={**offer, "device_id": "dev-b"}, timeout=5)
    assert foreign.status_code == 403
    assert httpx.post(url, json={**offer, "device_id": "dev-a"}, timeout=5).status_code == 401
    own = httpx.post(url, headers=a, json={**offer, "device_id": "dev-a"}, timeout=10)
    assert own.status_code not in (401, 403), own.text  # past sign-in: the peer judges the SDP itself


def test_a_rotated_password_takes_effect_without_a_restart(setup: Setup) -> None:
    old = setup.credentials("dev-z")
    assert get(setup, "/api/devices/dev-z/meetings", basic(*old)).status_code == 200  # now cached
    broker_cli.generate(
        DEVICES, broker_cli.Options(out=setup.creds, mqtt_url="mqtt://127.0.0.1:1883", rotate=frozenset({"dev-z"}))
    )
    new = setup.credentials("dev-z")
    assert new != old
    assert get(setup, "/api/devices/dev-z/meetings", basic(*old)).status_code == 401
    assert get(setup, "/api/devices/dev-z/meetings", basic(*new)).status_code == 200
