"""macOS facade against recorded ``route``, ``networksetup``, ``airport``, ``wdutil``,
``system_profiler`` and ``pmset`` outputs (H9)."""

from __future__ import annotations

import pytest

from agent.platform._macos import (
    MacPlatform,
    classify_macos,
    parse_airport,
    parse_hardware_ports,
    parse_pmset,
    parse_route_get,
    parse_system_profiler,
)
from agent.platform._types import BatteryInfo, NetCounters
from likavillkor.wire import LinkType
from tests.agent_platform.recorded import DATA, RecordedRunner, cases, load_commands, load_expected, load_toml

LINK_FIELDS = (
    "iface",
    "link",
    "gateway",
    "metered",
    "hotspot_reason",
    "wifi_signal_dbm",
    "wifi_signal_percent",
    "link_rate_mbps",
)


def platform_for(case: str, clock: list[float] | None = None) -> tuple[MacPlatform, RecordedRunner]:
    root = DATA / "macos" / case
    runner = RecordedRunner(load_commands(root))
    host = load_toml(root / "host.toml")
    counters = {k: NetCounters(rx_bytes=v[0], tx_bytes=v[1]) for k, v in host.get("counters", {}).items()}
    now = clock if clock is not None else [0.0]
    return MacPlatform(run=runner, battery_source=lambda: None, counters=counters.get, clock=lambda: now[0]), runner


@pytest.mark.parametrize("case", cases("macos"))
def test_recorded_case(case: str) -> None:
    plat, runner = platform_for(case)
    expected = load_expected(DATA / "macos" / case)
    info = plat.link_info()
    assert {n: getattr(info, n) for n in LINK_FIELDS} == {n: expected.get(n) for n in LINK_FIELDS}
    assert all(timeout > 0 for _, timeout in runner.calls)
    counters = plat.net_counters()
    if "rx_bytes" in expected:
        assert counters == NetCounters(rx_bytes=expected["rx_bytes"], tx_bytes=expected["tx_bytes"])
    if info.link is LinkType.NONE:
        assert counters is None


def test_system_profiler_is_cached() -> None:
    clock = [0.0]
    plat, runner = platform_for("wifi_system_profiler", clock)
    for _ in range(4):
        assert plat.link_info().wifi_signal_dbm == -67.0
    assert sum(k.startswith("system_profiler") for k, _ in runner.calls) == 1
    clock[0] = 16.0
    plat.link_info()
    assert sum(k.startswith("system_profiler") for k, _ in runner.calls) == 2


def test_deprecated_airport_gives_nothing() -> None:
    text = load_commands(DATA / "macos" / "wifi_system_profiler")[
        "/System/Library/PrivateFrameworks/Apple80211.framework/Versions/Current/Resources/airport -I"
    ]
    assert parse_airport(text) is None
    assert parse_airport("AirPort: Off\n") is None


def test_system_profiler_other_interface_or_no_network() -> None:
    text = load_commands(DATA / "macos" / "wifi_system_profiler")["system_profiler SPAirPortDataType"]
    assert parse_system_profiler(text, "awdl0") is None
    assert parse_system_profiler(text, "en9") is None


def test_route_not_in_table() -> None:
    assert parse_route_get("route: writing to routing socket: not in table\n") is None


def test_hardware_ports() -> None:
    text = load_commands(DATA / "macos" / "wired")["networksetup -listallhardwareports"]
    assert parse_hardware_ports(text)["en7"] == "iPhone USB"


@pytest.mark.parametrize(
    ("iface", "port", "want"),
    [
        ("en6", "Bluetooth PAN", (LinkType.HOTSPOT, "tethering")),
        ("en8", "HUAWEI Mobile", (LinkType.WWAN, "wwan")),
        ("en9", "USB 10/100/1000 LAN", (LinkType.ETHERNET, None)),
        ("utun3", None, (LinkType.UNKNOWN, None)),
    ],
)
def test_classify_macos(iface: str, port: str | None, want: tuple[LinkType, str | None]) -> None:
    assert classify_macos(iface, port) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=4653155)\t82%; discharging; 4:12 remaining "
            "present: true\n",
            BatteryInfo(percent=82.0, charging=False, seconds_left=4 * 3600 + 12 * 60),
        ),
        (
            "Now drawing from 'AC Power'\n -InternalBattery-0 (id=4653155)\t45%; charging; 1:30 "
            "remaining present: true\n",
            BatteryInfo(percent=45.0, charging=True, seconds_left=None),
        ),
        (
            "Now drawing from 'AC Power'\n -InternalBattery-0 (id=4653155)\t100%; charged; 0:00 "
            "remaining present: true\n",
            BatteryInfo(percent=100.0, charging=True, seconds_left=None),
        ),
        (
            "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=4653155)\t64%; discharging; (no estimate) "
            "present: true\n",
            BatteryInfo(percent=64.0, charging=False, seconds_left=None),
        ),
        ("Now drawing from 'AC Power'\n", None),
    ],
)
def test_pmset(text: str, want: BatteryInfo | None) -> None:
    assert parse_pmset(text) == want


def test_battery_falls_back_to_pmset() -> None:
    runner = RecordedRunner(
        {
            "pmset -g batt": "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1)\t"
            "30%; discharging; 0:50 remaining present: true\n"
        }
    )
    plat = MacPlatform(run=runner, battery_source=lambda: None)
    assert plat.battery() == BatteryInfo(percent=30.0, charging=False, seconds_left=3000.0)
    psutil_says = BatteryInfo(percent=31.0, charging=False, seconds_left=None)
    assert MacPlatform(run=runner, battery_source=lambda: psutil_says).battery() == psutil_says


def test_deprecated_airport_and_non_root_wdutil_are_asked_once() -> None:
    plat, runner = platform_for("wifi_system_profiler")
    for _ in range(3):
        plat.link_info()
    keys = [k for k, _ in runner.calls]
    assert sum(k.endswith("airport -I") for k in keys) == 1
    assert keys.count("wdutil info") == 1
