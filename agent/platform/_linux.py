"""Linux: the default route from /proc, the link type from sysfs, Wi-Fi from iw or NetworkManager.

Roots and the command runner are injectable (:class:`LinuxPlatform`), so tests point them at
recorded trees under ``tests/data/platform/linux/<case>/``. Parsers are pure functions.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agent.platform._run import Runner, TtlCache, note_problem, run_command, safely
from agent.platform._types import (
    NO_LINK,
    UNKNOWN_LINK,
    BatteryInfo,
    LinkInfo,
    NetCounters,
    WifiReading,
    dbm_to_percent,
    percent_to_dbm,
)
from agent.platform.battery_psutil import BatterySource, psutil_battery
from agent.platform.hotspot import classify_hotspot
from likavillkor.wire import LinkType

RTF_UP: Final = 0x0001
RTF_REJECT: Final = 0x0200
ARPHRD_ETHER: Final = 1
ARPHRD_RAWIP: Final = 519  # qmi_wwan / mhi_net in raw-IP mode

#: Network drivers that only exist for cellular modems.
WWAN_DRIVERS: Final = frozenset(
    {
        "qmi_wwan",
        "cdc_mbim",
        "sierra_net",
        "huawei_cdc_ncm",
        "mhi_net",
        "ipa",
        "rmnet",
        "t7xx",
        "iosm",
        "hso",
        "gobinet",
        "qmi_wwan_q",
    }
)
#: Drivers phones use for USB tethering (iPhone: ipheth; Android: rndis_host, newer ones cdc_ncm).
TETHER_DRIVERS: Final = frozenset({"ipheth", "rndis_host"})
#: Generic USB networking classes used by both modems and wired adapters: decided by USB vendor.
CDC_DRIVERS: Final = frozenset({"cdc_ether", "cdc_ncm", "rndis_host"})
MODEM_VENDORS: Final = frozenset(
    {
        0x12D1,  # Huawei (HiLink sticks E3372 ...)
        0x19D2,  # ZTE
        0x1199,  # Sierra Wireless
        0x2C7C,  # Quectel
        0x1BC7,  # Telit
        0x2CB7,  # Fibocom
        0x1E2D,  # Gemalto / Cinterion
        0x1BBB,  # TCL / Alcatel
        0x05C6,  # Qualcomm
    }
)
PHONE_VENDORS: Final = frozenset(
    {
        0x05AC,  # Apple
        0x18D1,  # Google
        0x04E8,  # Samsung
        0x22B8,  # Motorola
        0x2717,  # Xiaomi
        0x0FCE,  # Sony
        0x2A70,  # OnePlus
    }
)


@dataclass(frozen=True, slots=True)
class Route:
    iface: str
    gateway: str | None
    metric: int


@dataclass(frozen=True, slots=True)
class IfaceFacts:
    """What sysfs tells about one interface."""

    name: str
    arphrd: int | None = None
    devtype: str | None = None  # uevent DEVTYPE: wlan, wwan, bridge, vlan, ...
    wireless: bool = False  # wireless/ or phy80211/ present
    driver: str | None = None  # device/uevent DRIVER
    usb_vendor: int | None = None  # device/uevent PRODUCT=vid/pid/bcd (hex)
    speed_mbps: float | None = None  # /sys/class/net/X/speed (wired), -1 means unknown


# ---------------------------------------------------------------- pure parsers


def parse_proc_route(text: str) -> list[Route]:
    """IPv4 default routes from /proc/net/route, best (lowest metric) first."""
    routes: list[Route] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest, gw, flags, metric, mask = (
                int(cols[1], 16),
                int(cols[2], 16),
                int(cols[3], 16),
                int(cols[6]),
                int(cols[7], 16),
            )
        except ValueError:
            continue
        if dest != 0 or mask != 0 or not flags & RTF_UP or flags & RTF_REJECT:
            continue
        gateway = str(ipaddress.IPv4Address(gw.to_bytes(4, "little"))) if gw else None
        routes.append(Route(iface=cols[0], gateway=gateway, metric=metric))
    return sorted(routes, key=lambda r: r.metric)


def parse_ipv6_route(text: str) -> list[Route]:
    """IPv6 default routes (::/0) from /proc/net/ipv6_route, best first; loopback rejects left out."""
    routes: list[Route] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 10:
            continue
        dest, plen, nexthop, metric_hex, flags_hex, iface = cols[0], cols[1], cols[4], cols[5], cols[8], cols[9]
        try:
            flags, metric = int(flags_hex, 16), int(metric_hex, 16)
            is_default = int(dest, 16) == 0 and int(plen, 16) == 0
            gw_int = int(nexthop, 16)
        except ValueError:
            continue
        if not is_default or iface == "lo" or not flags & RTF_UP or flags & RTF_REJECT:
            continue
        gateway = str(ipaddress.IPv6Address(bytes.fromhex(nexthop))) if gw_int else None
        routes.append(Route(iface=iface, gateway=gateway, metric=metric))
    return sorted(routes, key=lambda r: r.metric)


def parse_keyvals(text: str, sep: str = "=") -> dict[str, str]:
    """``KEY=value`` lines (uevent files)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found:
            out[key.strip()] = value.strip()
    return out


def parse_usb_vendor(product: str | None) -> int | None:
    """``PRODUCT=12d1/14db/102`` (hex, no leading zeros) -> 0x12d1."""
    if not product:
        return None
    try:
        return int(product.split("/", 1)[0], 16)
    except ValueError:
        return None


def parse_proc_wireless(text: str) -> dict[str, float]:
    """Signal level in dBm per interface from /proc/net/wireless."""
    out: dict[str, float] = {}
    for line in text.splitlines()[2:]:
        name, found, rest = line.partition(":")
        cols = rest.split()
        if not found or len(cols) < 3:
            continue
        try:
            level = float(cols[2].rstrip("."))
        except ValueError:
            continue
        if level > 0:  # old drivers report an unsigned byte
            level -= 256
        if -150 <= level < 0:
            out[name.strip()] = level
    return out


_IW_SIGNAL = re.compile(r"^\s*signal:\s*(-?\d+(?:\.\d+)?)\s*dBm", re.M)
_IW_TX = re.compile(r"^\s*tx bitrate:\s*(\d+(?:\.\d+)?)\s*MBit/s", re.M)


def parse_iw_link(text: str) -> WifiReading | None:
    """``iw dev X link``: signal (dBm) and tx bitrate; None when not connected."""
    if not text.lstrip().startswith("Connected to"):
        return None
    sig = _IW_SIGNAL.search(text)
    tx = _IW_TX.search(text)
    dbm = float(sig.group(1)) if sig else None
    return WifiReading(
        signal_dbm=dbm,
        signal_percent=dbm_to_percent(dbm) if dbm is not None else None,
        link_rate_mbps=float(tx.group(1)) if tx else None,
    )


def parse_nmcli_metered(text: str) -> bool | None:
    """``nmcli -t -f GENERAL.METERED dev show X`` -> ``GENERAL.METERED:yes (guessed)``."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "GENERAL.METERED":
            word = value.strip().split(" ", 1)[0].lower()
            return {"yes": True, "no": False}.get(word)
    return None


def _split_terse(line: str) -> list[str]:
    """Split one ``nmcli -t`` line on ``:`` honouring ``\\:`` escapes."""
    return [part.replace("\\:", ":") for part in re.split(r"(?<!\\):", line)]


def parse_nmcli_wifi(text: str) -> WifiReading | None:
    """``nmcli -t -f IN-USE,SIGNAL,RATE dev wifi list ifname X --rescan no``: the line marked ``*``."""
    for line in text.splitlines():
        cols = _split_terse(line)
        if len(cols) < 3 or cols[0].strip() != "*":
            continue
        try:
            percent = float(cols[1])
        except ValueError:
            percent = None
        rate = re.match(r"\s*(\d+(?:\.\d+)?)", cols[2])
        return WifiReading(
            signal_dbm=None, signal_percent=percent, link_rate_mbps=float(rate.group(1)) if rate else None
        )
    return None


def parse_proc_net_dev(text: str) -> dict[str, NetCounters]:
    out: dict[str, NetCounters] = {}
    for line in text.splitlines()[2:]:
        name, found, rest = line.partition(":")
        cols = rest.split()
        if not found or len(cols) < 9:
            continue
        try:
            out[name.strip()] = NetCounters(rx_bytes=int(cols[0]), tx_bytes=int(cols[8]))
        except ValueError:
            continue
    return out


def classify_iface(facts: IfaceFacts) -> tuple[LinkType, str | None]:
    """Link type of one interface from its sysfs facts, with the mobile-data reason (H9)."""
    if facts.wireless or facts.devtype == "wlan":
        return LinkType.WIFI, None
    name = facts.name
    if facts.devtype == "wwan" or name.startswith("ww") or facts.driver in WWAN_DRIVERS or facts.arphrd == ARPHRD_RAWIP:
        return LinkType.WWAN, "wwan"
    if facts.driver in CDC_DRIVERS and facts.usb_vendor in MODEM_VENDORS:
        return LinkType.WWAN, "wwan"
    if facts.driver in TETHER_DRIVERS or (facts.driver in CDC_DRIVERS and facts.usb_vendor in PHONE_VENDORS):
        return LinkType.HOTSPOT, "tethering"
    if facts.arphrd == ARPHRD_ETHER:
        return LinkType.ETHERNET, None
    return LinkType.UNKNOWN, None  # tun/wireguard (65534), PPP (512: DSL or a modem), ...


def merge_wifi(primary: WifiReading | None, dbm: float | None, nm: WifiReading | None) -> WifiReading:
    """Combine iw, /proc/net/wireless and NetworkManager; derive percent<->dBm when one is missing."""
    sig_dbm = primary.signal_dbm if primary and primary.signal_dbm is not None else dbm
    percent = nm.signal_percent if nm and nm.signal_percent is not None else None
    if percent is None and sig_dbm is not None:
        percent = dbm_to_percent(sig_dbm)
    if sig_dbm is None and percent is not None:
        sig_dbm = percent_to_dbm(percent)
    rate = primary.link_rate_mbps if primary and primary.link_rate_mbps is not None else None
    if rate is None and nm is not None:
        rate = nm.link_rate_mbps
    return WifiReading(signal_dbm=sig_dbm, signal_percent=percent, link_rate_mbps=rate)


# ---------------------------------------------------------------- I/O


class LinuxPlatform:
    """Reads /sys and /proc (roots injectable) and runs ``iw``/``nmcli`` through ``run``."""

    def __init__(
        self,
        sys_root: Path = Path("/sys"),
        proc_root: Path = Path("/proc"),
        run: Runner = run_command,
        battery_source: BatterySource = psutil_battery,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 2.0,
    ) -> None:
        self.sys_root = sys_root
        self.proc_root = proc_root
        self.run = run
        self.battery_source = battery_source
        self.timeout_s = timeout_s
        self._metered_cache: TtlCache[bool | None] = TtlCache(ttl_s=30.0, clock=clock)
        # NetworkManager refreshes its signal figure every few seconds at best: ask it at most every 5 s.
        self._nm_wifi_cache: TtlCache[WifiReading | None] = TtlCache(ttl_s=5.0, clock=clock)

    def _read(self, path: Path) -> str | None:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return None

    def default_route(self) -> Route | None:
        v4 = parse_proc_route(self._read(self.proc_root / "net/route") or "")
        if v4:
            return v4[0]
        v6 = parse_ipv6_route(self._read(self.proc_root / "net/ipv6_route") or "")
        return v6[0] if v6 else None

    def iface_facts(self, name: str) -> IfaceFacts | None:
        base = self.sys_root / "class/net" / name
        if not base.is_dir():
            return None
        arphrd_text = (self._read(base / "type") or "").strip()
        uevent = parse_keyvals(self._read(base / "uevent") or "")
        device = parse_keyvals(self._read(base / "device/uevent") or "")
        speed_text = (self._read(base / "speed") or "").strip()
        speed = float(speed_text) if speed_text.lstrip("-").isdigit() and int(speed_text) > 0 else None
        return IfaceFacts(
            name=name,
            arphrd=int(arphrd_text) if arphrd_text.isdigit() else None,
            devtype=uevent.get("DEVTYPE"),
            wireless=(base / "wireless").exists() or (base / "phy80211").exists(),
            driver=device.get("DRIVER"),
            usb_vendor=parse_usb_vendor(device.get("PRODUCT")),
            speed_mbps=speed,
        )

    def nm_metered(self, iface: str) -> bool | None:
        def ask() -> bool | None:
            out = self.run(["nmcli", "-t", "-f", "GENERAL.METERED", "dev", "show", iface], self.timeout_s)
            return parse_nmcli_metered(out) if out else None

        return self._metered_cache.get(iface, ask)

    def wifi(self, iface: str) -> WifiReading:
        iw_out = self.run(["iw", "dev", iface, "link"], self.timeout_s)
        primary = parse_iw_link(iw_out) if iw_out else None
        if iw_out and primary is None and not iw_out.startswith("Not connected"):
            note_problem("parse.iw_link", iw_out[:200])
        dbm = parse_proc_wireless(self._read(self.proc_root / "net/wireless") or "").get(iface)
        nm = None
        if primary is None or primary.link_rate_mbps is None:
            nm = self._nm_wifi_cache.get(iface, lambda: self.nm_wifi(iface))
        return merge_wifi(primary, dbm, nm)

    def nm_wifi(self, iface: str) -> WifiReading | None:
        out = self.run(
            ["nmcli", "-t", "-f", "IN-USE,SIGNAL,RATE", "dev", "wifi", "list", "ifname", iface, "--rescan", "no"],
            self.timeout_s,
        )
        return parse_nmcli_wifi(out) if out else None

    def link_info(self) -> LinkInfo:
        route = self.default_route()
        if route is None:
            return NO_LINK
        facts = self.iface_facts(route.iface)
        if facts is None:
            note_problem("linux.no_sysfs", f"no sysfs entry for {route.iface}")
            facts = IfaceFacts(name=route.iface)
        link, reason = classify_iface(facts)
        metered = self.nm_metered(route.iface)
        if link in (LinkType.WIFI, LinkType.ETHERNET):
            hotspot = classify_hotspot(route.gateway, metered, None)
            if hotspot is not None:
                link, reason = LinkType.HOTSPOT, hotspot
        wifi = self.wifi(route.iface) if facts.wireless or facts.devtype == "wlan" else None
        rate = wifi.link_rate_mbps if wifi else facts.speed_mbps
        return LinkInfo(
            iface=route.iface,
            link=link,
            gateway=route.gateway,
            metered=metered,
            hotspot_reason=reason,
            wifi_signal_dbm=wifi.signal_dbm if wifi else None,
            wifi_signal_percent=wifi.signal_percent if wifi else None,
            link_rate_mbps=rate,
        )

    def net_counters(self, iface: str | None = None) -> NetCounters | None:
        if iface is None:
            route = self.default_route()
            if route is None:
                return None
            iface = route.iface
        return parse_proc_net_dev(self._read(self.proc_root / "net/dev") or "").get(iface)

    def battery(self) -> BatteryInfo | None:
        return self.battery_source()


_default = LinuxPlatform()


def link_info() -> LinkInfo:
    return safely(_default.link_info, UNKNOWN_LINK, "linux.link_info")


def battery() -> BatteryInfo | None:
    return safely(_default.battery, None, "linux.battery")


def net_counters(iface: str | None = None) -> NetCounters | None:
    return safely(lambda: _default.net_counters(iface), None, "linux.net_counters")
