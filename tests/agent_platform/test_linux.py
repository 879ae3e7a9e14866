"""Linux facade against recorded sysfs/procfs trees and command outputs (H9), and this machine."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from agent.platform import _linux
from agent.platform._linux import (
    IfaceFacts,
    LinuxPlatform,
    classify_iface,
    parse_ipv6_route,
    parse_iw_link,
    parse_nmcli_metered,
    parse_nmcli_wifi,
    parse_proc_route,
    parse_proc_wireless,
)
from agent.platform._types import BatteryInfo, LinkInfo
from likavillkor.wire import LinkType
from tests.agent_platform.recorded import DATA, RecordedRunner, cases, load_commands, load_expected

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


def platform_for(case: str) -> tuple[LinuxPlatform, RecordedRunner]:
    root = DATA / "linux" / case
    runner = RecordedRunner(load_commands(root))
    return LinuxPlatform(
        sys_root=root / "sys", proc_root=root / "proc", run=runner, battery_source=lambda: None
    ), runner


@pytest.mark.parametrize("case", cases("linux"))
def test_recorded_case(case: str) -> None:
    plat, runner = platform_for(case)
    expected = load_expected(DATA / "linux" / case)
    info = plat.link_info()
    got = {name: getattr(info, name) for name in LINK_FIELDS}
    want = {name: expected.get(name) for name in LINK_FIELDS}
    assert got == want
    assert all(timeout > 0 for _, timeout in runner.calls), "every command needs a deadline"
    counters = plat.net_counters()
    if "rx_bytes" in expected:
        assert counters is not None
        assert (counters.rx_bytes, counters.tx_bytes) == (expected["rx_bytes"], expected["tx_bytes"])
    if info.link is LinkType.NONE:
        assert counters is None


def test_case_list_covers_the_brief() -> None:
    links = {load_expected(DATA / "linux" / c)["link"] for c in cases("linux")}
    assert links == {"wifi", "ethernet", "wwan", "hotspot", "none", "unknown"}


def test_mobile_data_always_has_a_reason() -> None:
    for case in cases("linux"):
        info = platform_for(case)[0].link_info()
        assert (info.link in (LinkType.WWAN, LinkType.HOTSPOT)) == (info.hotspot_reason is not None), case


def test_metered_flag_is_cached_per_interface() -> None:
    now = [0.0]
    root = DATA / "linux" / "hotspot_nm_metered"
    runner = RecordedRunner(load_commands(root))
    plat = LinuxPlatform(sys_root=root / "sys", proc_root=root / "proc", run=runner, clock=lambda: now[0])
    for _ in range(3):
        plat.link_info()
    metered_calls = [c for c, _ in runner.calls if "GENERAL.METERED" in c]
    assert len(metered_calls) == 1
    now[0] = 31.0
    plat.link_info()
    assert len([c for c, _ in runner.calls if "GENERAL.METERED" in c]) == 2


def test_missing_roots_give_no_link_not_an_error(tmp_path: Path) -> None:
    plat = LinuxPlatform(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc", run=RecordedRunner({}))
    assert plat.link_info().link is LinkType.NONE
    assert plat.net_counters() is None
    assert plat.net_counters("eth0") is None


def test_route_without_sysfs_entry_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "ghost0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    plat = LinuxPlatform(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc", run=RecordedRunner({}))
    info = plat.link_info()
    assert (info.iface, info.link, info.gateway) == ("ghost0", LinkType.UNKNOWN, "192.168.1.1")


# ---------------------------------------------------------------- parsers


def test_proc_route_picks_lowest_metric_and_skips_reject() -> None:
    text = (
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        "eth0\t00000000\t0100010A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "bad0\t00000000\t00000000\t0201\t0\t0\t1\t00000000\t0\t0\t0\n"
        "eth0\t0000010A\t00000000\t0001\t0\t0\t100\t0000FFFF\t0\t0\t0\n"
        "garbage line\n"
    )
    routes = parse_proc_route(text)
    assert [(r.iface, r.gateway) for r in routes] == [("eth0", "10.1.0.1"), ("wlan0", "192.168.1.1")]


def test_ipv6_route_formats_gateway() -> None:
    text = (
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "20010db8000000000000000000000001 00000400 00000002 00000000 00000003     eth1\n"
    )
    assert parse_ipv6_route(text)[0].gateway == "2001:db8::1"


def test_proc_wireless_unsigned_level() -> None:
    text = "h1\nh2\n wlan0: 0000   54.  200.  -256  0 0 0 0 0 0\n"
    assert parse_proc_wireless(text) == {"wlan0": -56.0}


def test_iw_not_connected() -> None:
    assert parse_iw_link("Not connected.\n") is None


def test_iw_connected_without_bitrate() -> None:
    reading = parse_iw_link("Connected to 00:11:22:33:44:55 (on wlan0)\n\tsignal: -71 dBm\n")
    assert reading is not None
    assert (reading.signal_dbm, reading.signal_percent, reading.link_rate_mbps) == (-71.0, 58.0, None)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("GENERAL.METERED:yes\n", True),
        ("GENERAL.METERED:yes (guessed)\n", True),
        ("GENERAL.METERED:no (guessed)\n", False),
        ("GENERAL.METERED:unknown\n", None),
        ("", None),
        ("Error: Device 'x' not found.\n", None),
    ],
)
def test_nmcli_metered(text: str, want: bool | None) -> None:
    assert parse_nmcli_metered(text) is want


def test_nmcli_wifi_takes_the_line_in_use() -> None:
    reading = parse_nmcli_wifi(" :30:54 Mbit/s\n*:77:866,7 Mbit/s\n")
    assert reading is not None and reading.signal_percent == 77.0 and reading.link_rate_mbps == 866.0
    assert parse_nmcli_wifi(" :30:54 Mbit/s\n") is None


@pytest.mark.parametrize(
    ("facts", "want"),
    [
        (IfaceFacts(name="wlan0", wireless=True), (LinkType.WIFI, None)),
        (IfaceFacts(name="wwp0s20u4i6", arphrd=1), (LinkType.WWAN, "wwan")),
        (IfaceFacts(name="usb0", arphrd=1, driver="cdc_mbim"), (LinkType.WWAN, "wwan")),
        (IfaceFacts(name="rmnet_data0", arphrd=519), (LinkType.WWAN, "wwan")),
        (IfaceFacts(name="eth1", arphrd=1, driver="ipheth", usb_vendor=0x05AC), (LinkType.HOTSPOT, "tethering")),
        (IfaceFacts(name="usb0", arphrd=1, driver="cdc_ncm", usb_vendor=0x18D1), (LinkType.HOTSPOT, "tethering")),
        (IfaceFacts(name="enx1", arphrd=1, driver="cdc_ether", usb_vendor=0x0BDA), (LinkType.ETHERNET, None)),
        (IfaceFacts(name="ppp0", arphrd=512), (LinkType.UNKNOWN, None)),
    ],
)
def test_classify_iface(facts: IfaceFacts, want: tuple[LinkType, str | None]) -> None:
    assert classify_iface(facts) == want


# ---------------------------------------------------------------- this machine


def _real_default_iface() -> tuple[str | None, str | None]:
    """Read /proc/net/route here independently of the parser under test."""
    best: tuple[int, str, str | None] | None = None
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        c = line.split()
        if c[1] == "00000000" and c[7] == "00000000" and int(c[3], 16) & 1:
            gw = int(c[2], 16)
            gateway = str(ipaddress.IPv4Address(gw.to_bytes(4, "little"))) if gw else None
            if best is None or int(c[6]) < best[0]:
                best = (int(c[6]), c[0], gateway)
    return (best[1], best[2]) if best else (None, None)


def test_this_machine_matches_proc_net_route() -> None:
    iface, gateway = _real_default_iface()
    info = _linux.link_info()
    assert isinstance(info, LinkInfo)
    if iface is None:
        assert info.link in (LinkType.NONE, LinkType.ETHERNET, LinkType.UNKNOWN)  # IPv6-only is possible
        return
    assert (info.iface, info.gateway) == (iface, gateway)
    assert info.link is not LinkType.NONE
    wireless = Path(f"/sys/class/net/{iface}/wireless").exists() or Path(f"/sys/class/net/{iface}/phy80211").exists()
    if not wireless:
        assert info.wifi_signal_dbm is None and info.wifi_signal_percent is None
    counters = _linux.net_counters()
    assert counters is not None and counters.rx_bytes >= 0 and counters.tx_bytes >= 0
    lo = _linux.net_counters("lo")
    assert lo is not None
    assert _linux.net_counters("no-such-iface0") is None


def test_this_machine_battery_is_none_or_sane() -> None:
    got = _linux.battery()
    assert got is None or (isinstance(got, BatteryInfo) and 0 <= got.percent <= 100)


def test_networkmanager_wifi_is_asked_at_most_every_5_s() -> None:
    now = [0.0]
    root = DATA / "linux" / "wifi_nmcli"
    runner = RecordedRunner(load_commands(root))
    plat = LinuxPlatform(sys_root=root / "sys", proc_root=root / "proc", run=runner, clock=lambda: now[0])
    for i in range(10):
        now[0] = i * 1.0
        assert plat.link_info().wifi_signal_percent == 61.0
    assert sum("dev wifi list" in k for k, _ in runner.calls) == 2


def test_unexpected_iw_output_is_counted() -> None:
    from agent.platform._run import PROBLEMS

    root = DATA / "linux" / "wifi_iw"
    runner = RecordedRunner({"iw dev wlp2s0 link": "command failed: No such device (-19)\n"})
    plat = LinuxPlatform(sys_root=root / "sys", proc_root=root / "proc", run=runner)
    before = PROBLEMS["parse.iw_link"]
    info = plat.link_info()
    assert info.link is LinkType.WIFI and info.wifi_signal_dbm == -58.0  # /proc/net/wireless still answers
    assert PROBLEMS["parse.iw_link"] == before + 1
