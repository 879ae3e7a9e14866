"""Issue 12, item 6, for agents: the agent's own speed-test probe (speedtest-cli against the
collector) sends the device's broker login, so it gets one of the slots anonymous clients cannot
take. A real collector with the broker's password file, slow readers from three addresses filling
the anonymous share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.probes.bandwidth import Outcome, SpeedtestConfig, run_speedtest
from collector.auth import broker as broker_cli
from tests.support.services import running_mosquitto
from tests.web.conftest import Collector, make_collector
from tests.web.security_support import open_download, reset, status_of

BIG = "/speedtest/random4000x4000.jpg"


@dataclass
class Setup:
    collector: Collector
    creds: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("speedtest-device")
    creds = workdir / "creds"
    with running_mosquitto(workdir / "mosquitto") as broker:
        broker_cli.generate(("dev-a", "dev-b", "dev-z"), broker_cli.Options(out=creds, mqtt_url=broker.url))
        c = make_collector(workdir, broker, http_extra=f'device_passwords = "{creds / "broker" / "passwords"}"')
        c.start()
        try:
            yield Setup(c, creds)
        finally:
            c.stop()


def test_the_agents_speed_test_with_its_login_is_not_starved_by_anonymous_clients(setup: Setup) -> None:
    base = setup.collector.base
    password = broker_cli.read_credentials_password((setup.creds / "devices" / "dev-a.toml").read_text())
    assert password
    cfg = SpeedtestConfig(max_bytes=3_000_000, download_s=3.0, upload_s=3.0, deadline_s=40.0, threads=2)
    readers = []
    try:
        for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            for _ in range(8):
                readers.append(open_download(base, BIG, source=source))
        assert [status_of(s) for s in readers] == [200] * 24
        stranger = open_download(base, BIG, source="127.0.0.4")
        try:
            assert status_of(stranger) == 503  # the anonymous share is full
        finally:
            reset(stranger)
        anonymous = asyncio.run(run_speedtest(cfg, base))
        assert anonymous.outcome is not Outcome.OK or not anonymous.down_mbps, anonymous
        signed_in = asyncio.run(run_speedtest(cfg, base, credentials=("dev-a", password)))
        assert signed_in.outcome is Outcome.OK and signed_in.down_mbps and signed_in.up_mbps, signed_in
    finally:
        for s in readers:
            reset(s)
