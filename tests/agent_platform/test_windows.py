"""Windows facade against recorded ``route print``, ``netsh`` and PowerShell outputs, English and
Swedish (H9: Wi-Fi, not mobile data nor a phone hotspot)."""

from __future__ import annotations

import pytest

from agent.platform._run import PROBLEMS
from agent.platform._types import NetCounters
from agent.platform._windows import (
    PS_ARGV,
    PsDetails,
    WindowsPlatform,
    classify_windows,
    metered_from_cost,
    parse_netsh_mbn,
    parse_netsh_wlan,
    parse_ps_details,
    parse_route_print,
)
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


def platform_for(case: str, clock: list[float] | None = None) -> tuple[WindowsPlatform, RecordedRunner]:
    root = DATA / "windows" / case
    runner = RecordedRunner(load_commands(root))
    host = load_toml(root / "host.toml")
    addrs: dict[str, list[str]] = host.get("if_addrs", {})
    counters = {k: NetCounters(rx_bytes=v[0], tx_bytes=v[1]) for k, v in host.get("counters", {}).items()}
    now = clock if clock is not None else [0.0]
    return WindowsPlatform(
        run=runner, if_addrs=lambda: addrs, battery_source=lambda: None, counters=counters.get, clock=lambda: now[0]
    ), runner


@pytest.mark.parametrize("case", cases("windows"))
def test_recorded_case(case: str) -> None:
    plat, runner = platform_for(case)
    expected = load_expected(DATA / "windows" / case)
    info = plat.link_info()
    assert {n: getattr(info, n) for n in LINK_FIELDS} == {n: expected.get(n) for n in LINK_FIELDS}
    assert all(timeout > 0 for _, timeout in runner.calls)
    counters = plat.net_counters()
    if "rx_bytes" in expected:
        assert counters == NetCounters(rx_bytes=expected["rx_bytes"], tx_bytes=expected["tx_bytes"])
    if info.link is LinkType.NONE:
        assert counters is None


def test_cases_cover_every_link_type_but_unknown() -> None:
    links = {load_expected(DATA / "windows" / c)["link"] for c in cases("windows")}
    assert links == {"wifi", "ethernet", "wwan", "hotspot", "none"}


def test_powershell_is_cached_and_route_print_is_not() -> None:
    clock = [0.0]
    plat, runner = platform_for("wifi_en", clock)
    for _ in range(5):
        plat.link_info()
    keys = [k for k, _ in runner.calls]
    assert sum(k.startswith("powershell") for k in keys) == 1
    assert keys.count("route print -4") == 5
    clock[0] = 31.0
    plat.link_info()
    assert sum(k.startswith("powershell") for k, _ in runner.calls) == 2


def test_swedish_netsh_wlan() -> None:
    text = load_commands(DATA / "windows" / "wifi_sv")["netsh wlan show interfaces"]
    [wlan] = parse_netsh_wlan(text)
    assert (wlan.name, wlan.connected, wlan.signal_percent, wlan.receive_mbps, wlan.transmit_mbps) == (
        "Wi-Fi",
        True,
        85.0,
        400.0,
        360.0,
    )


def test_two_wlan_interfaces_and_disconnected() -> None:
    text = (
        "There are 2 interfaces on the system:\n\n"
        "    Name                   : Wi-Fi\n    State                  : disconnected\n\n"
        "    Name                   : Wi-Fi 2\n    State                  : connected\n"
        "    Receive rate (Mbps)    : 72,2\n    Transmit rate (Mbps)   : 65\n    Signal                 : 41%\n"
    )
    first, second = parse_netsh_wlan(text)
    assert (first.name, first.connected, first.signal_percent) == ("Wi-Fi", False, None)
    assert (second.name, second.connected, second.receive_mbps, second.signal_percent) == ("Wi-Fi 2", True, 72.2, 41.0)


def test_wlansvc_not_running_means_no_wlan() -> None:
    assert parse_netsh_wlan("\nThe Wireless AutoConfig Service (wlansvc) is not running.\n") == []
    assert parse_netsh_mbn("\nThere is no Mobile Broadband interface\n") == set()


def test_route_print_on_link_and_metric_order() -> None:
    text = (
        "Active Routes:\n"
        "          0.0.0.0          0.0.0.0      192.168.1.1     192.168.1.23     60\n"
        "          0.0.0.0          0.0.0.0          On-link        10.8.0.2     5\n"
        "Persistent Routes:\n          0.0.0.0          0.0.0.0      192.168.9.1  Default\n"
    )
    routes = parse_route_print(text)
    assert [(r.gateway, r.iface_ip) for r in routes] == [(None, "10.8.0.2"), ("192.168.1.1", "192.168.1.23")]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "WARNING: something\n", "{broken: }"])
def test_bad_powershell_output_is_counted_and_none(text: str) -> None:
    before = PROBLEMS["parse.windows_ps"]
    assert parse_ps_details(text) is None
    assert PROBLEMS["parse.windows_ps"] == before + 1


def test_empty_powershell_output_is_none_without_a_problem() -> None:
    before = PROBLEMS["parse.windows_ps"]
    assert parse_ps_details("") is None
    assert PROBLEMS["parse.windows_ps"] == before


def test_powershell_json_after_bom_and_warning() -> None:
    text = '\ufeffWARNING: slow\r\n{"InterfaceAlias":"Wi-Fi","NetworkCostType":"Variable"}\r\n'
    details = parse_ps_details(text)
    assert details is not None and (details.alias, details.cost) == ("Wi-Fi", "Variable")


def test_ps_details_ipv6_unspecified_next_hop() -> None:
    details = parse_ps_details('{"InterfaceAlias":"Ethernet","NextHop":"::","PhysicalMediaType":"802.3"}')
    assert details is not None and details.next_hop is None and details.cost is None


@pytest.mark.parametrize(
    ("cost", "want"), [("Fixed", True), ("Variable", True), ("Unrestricted", False), ("Unknown", None), (None, None)]
)
def test_metered_from_cost(cost: str | None, want: bool | None) -> None:
    assert metered_from_cost(cost) is want


def test_bluetooth_pan_is_tethering() -> None:
    assert classify_windows("Bluetooth Network Connection", PsDetails(physical_media="BlueTooth"), set(), set()) == (
        LinkType.HOTSPOT,
        "tethering",
    )


def test_nothing_known_is_unknown() -> None:
    assert classify_windows("vEthernet (WSL)", None, set(), set()) == (LinkType.UNKNOWN, None)


def test_powershell_argv_uses_windows_powershell() -> None:
    assert PS_ARGV[0] == "powershell.exe" and "GetConnectionCost" in PS_ARGV[-1]
