"""Device checks (H9): network in use, battery, CPU and memory. Pure decisions, real values."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.checks.base import CheckContext
from agent.checks.device import (
    battery_finding,
    check_battery,
    check_host,
    check_network,
    cpu_finding,
    link_finding,
    memory_finding,
)
from agent.config import AgentConfig
from likavillkor.wire import CheckStatus, LinkType


@pytest.mark.parametrize(
    ("link", "status"),
    [
        (LinkType.WIFI, CheckStatus.PASS),
        (LinkType.ETHERNET, CheckStatus.PASS),
        (LinkType.WWAN, CheckStatus.FAIL),
        (LinkType.HOTSPOT, CheckStatus.FAIL),
        (LinkType.NONE, CheckStatus.FAIL),
        (LinkType.UNKNOWN, CheckStatus.WARN),
    ],
)
def test_link_status(link: LinkType, status: CheckStatus) -> None:
    f = link_finding(link, signal_dbm=-55.0)
    assert f.status is status and f.rule == "H9"
    if status is CheckStatus.FAIL:
        assert f.advice["sv"] and f.advice["en"]


def test_mobile_data_says_the_handbook_words() -> None:
    f = link_finding(LinkType.WWAN)
    assert "Surfplattans mobildata räcker inte" in f.text["sv"]
    assert "mobile data is not sufficient" in f.text["en"]


def test_hotspot_is_explained_as_mobile_data_with_the_evidence() -> None:
    f = link_finding(LinkType.HOTSPOT, hotspot_reason="ios_gateway")
    assert "hotspot" in f.text["sv"] and "iPhone" in f.text["sv"]
    assert "surfplattans mobildata räcker inte" in f.text["sv"]
    assert "wifi" in f.advice["sv"]


def test_weak_wifi_warns() -> None:
    assert link_finding(LinkType.WIFI, signal_dbm=-80).status is CheckStatus.WARN
    assert link_finding(LinkType.WIFI, signal_percent=30).status is CheckStatus.WARN
    assert link_finding(LinkType.WIFI, signal_dbm=-60).status is CheckStatus.PASS


def test_battery_that_will_not_last_and_is_not_plugged_in_fails() -> None:
    f = battery_finding(40.0, False, 50.0, False, 120.0)
    assert f.status is CheckStatus.FAIL
    assert "Anslut laddaren" in f.advice["sv"] and "50 minuter" in f.text["sv"] and "120 minuter" in f.text["sv"]


def test_battery_plugged_in_or_lasting_passes_and_no_battery_is_skipped() -> None:
    assert battery_finding(10.0, True, None, True, 120.0).status is CheckStatus.PASS
    assert battery_finding(80.0, False, 400.0, True, 120.0).status is CheckStatus.PASS
    assert battery_finding(None, None, None, None, None).status is CheckStatus.SKIPPED
    low = battery_finding(20.0, False, None, None, None)
    assert low.status is CheckStatus.WARN and "Anslut laddaren" in low.advice["sv"]


def test_battery_uses_the_forecast_probe() -> None:
    from agent.checks.device import _forecast

    now = 1_800_000_000.0
    minutes, lasts = _forecast(30.0, False, 1800.0, now, now + 2 * 3600)  # OS: 30 min left, 2 h meeting
    assert minutes == pytest.approx(30.0) and lasts is False


def test_cpu_and_memory_thresholds() -> None:
    assert cpu_finding(50).status is CheckStatus.PASS
    assert cpu_finding(90).status is CheckStatus.WARN
    assert cpu_finding(99).status is CheckStatus.FAIL
    assert memory_finding(50).status is CheckStatus.PASS
    assert memory_finding(10).status is CheckStatus.WARN
    assert memory_finding(2).status is CheckStatus.FAIL and memory_finding(2).advice["sv"]


def test_checks_read_this_machine() -> None:
    """The real platform facade and psutil on this machine: results are well-formed, never raise."""
    ctx = CheckContext(config=AgentConfig(), deadline=time.monotonic() + 10, meeting_end=time.time() + 3600)

    async def all_checks() -> list[object]:
        return [*await check_network(ctx), *await check_battery(ctx), *await check_host(ctx)]

    findings = asyncio.run(all_checks())
    ids = [f.id for f in findings]  # type: ignore[attr-defined]
    assert ids == ["network.link", "battery.level", "host.cpu", "host.memory"]
    cpu = findings[2]
    assert isinstance(cpu.value, float) and 0 <= cpu.value <= 100  # type: ignore[attr-defined]
    for f in findings:
        assert f.text["sv"] and f.text["en"]  # type: ignore[attr-defined]
