"""macOS: ``route -n get default``, ``networksetup -listallhardwareports``, Wi-Fi from ``airport -I``
(up to macOS 14.3), ``wdutil info`` (only as root) or ``system_profiler SPAirPortDataType``
(slow: cached), battery from psutil with ``pmset -g batt`` as a fallback.

macOS has no command-line metered flag, so hotspots are found by gateway (iPhone: 172.20.10.1)
and by port name (``iPhone USB``, ``Bluetooth PAN``). Every command has a timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from agent.platform._run import Runner, TtlCache, run_command, safely
from agent.platform._types import NO_LINK, UNKNOWN_LINK, BatteryInfo, LinkInfo, NetCounters, WifiReading, dbm_to_percent
from agent.platform.battery_psutil import BatterySource, psutil_battery
from agent.platform.counters_psutil import psutil_counters
from agent.platform.hotspot import classify_hotspot
from likavillkor.wire import LinkType

AIRPORT: Final = "/System/Library/PrivateFrameworks/Apple80211.framework/Versions/Current/Resources/airport"
_WWAN_WORDS: Final = ("modem", "wwan", "mobile", "lte", "4g", "5g", "cellular")
_TETHER_WORDS: Final = ("iphone", "ipad", "bluetooth pan")


@dataclass(frozen=True, slots=True)
class MacRoute:
    iface: str
    gateway: str | None


# ---------------------------------------------------------------- pure parsers


def _colon_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(":")
        if found and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def parse_route_get(text: str) -> MacRoute | None:
    """``route -n get default``; None for ``not in table``."""
    fields = _colon_fields(text)
    iface = fields.get("interface")
    if not iface:
        return None
    gateway = fields.get("gateway") or None
    return MacRoute(iface=iface, gateway=gateway)


def parse_hardware_ports(text: str) -> dict[str, str]:
    """``networksetup -listallhardwareports`` -> {device: port name}."""
    ports: dict[str, str] = {}
    port: str | None = None
    for line in text.splitlines():
        if line.startswith("Hardware Port:"):
            port = line.split(":", 1)[1].strip()
        elif line.startswith("Device:") and port is not None:
            ports[line.split(":", 1)[1].strip()] = port
            port = None
    return ports


def _num(text: str | None) -> float | None:
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", text or "")
    return float(m.group(1)) if m else None


def parse_airport(text: str) -> WifiReading | None:
    """``airport -I``: agrCtlRSSI (dBm) and lastTxRate (Mbps); None when off or deprecated."""
    fields = _colon_fields(text)
    rssi = _num(fields.get("agrCtlRSSI"))
    if rssi is None or rssi == 0 or fields.get("state", "running") != "running":
        return None
    return WifiReading(
        signal_dbm=rssi, signal_percent=dbm_to_percent(rssi), link_rate_mbps=_num(fields.get("lastTxRate"))
    )


def parse_wdutil(text: str) -> WifiReading | None:
    """``sudo wdutil info``: the WIFI section's ``RSSI : -58 dBm`` and ``Tx Rate : 866.0 Mbps``."""
    section = text.split("\nWIFI", 1)[1] if "\nWIFI" in text else ""
    rssi = re.search(r"^\s*RSSI\s*:\s*(-\d+(?:\.\d+)?)\s*dBm", section, re.M)
    if not rssi:
        return None
    rate = re.search(r"^\s*Tx Rate\s*:\s*(\d+(?:\.\d+)?)\s*Mbps", section, re.M)
    dbm = float(rssi.group(1))
    return WifiReading(
        signal_dbm=dbm, signal_percent=dbm_to_percent(dbm), link_rate_mbps=float(rate.group(1)) if rate else None
    )


def parse_system_profiler(text: str, iface: str) -> WifiReading | None:
    """``system_profiler SPAirPortDataType``: the interface's Current Network Information."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"{iface}:"), None)
    if start is None:
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    current = False
    dbm = rate = None
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) <= indent:
            break  # the next interface or section
        if stripped == "Current Network Information:":
            current = True
        elif stripped.startswith("Other Local Wi-Fi Networks"):
            break
        elif current and stripped.startswith("Signal / Noise:") and dbm is None:
            dbm = _num(stripped.split(":", 1)[1])
        elif current and stripped.startswith("Transmit Rate:") and rate is None:
            rate = _num(stripped.split(":", 1)[1])
    if dbm is None:
        return None
    return WifiReading(signal_dbm=dbm, signal_percent=dbm_to_percent(dbm), link_rate_mbps=rate)


_PMSET_LINE = re.compile(r"(\d{1,3})%;\s*([^;]+);\s*(?:(\d+):(\d\d) remaining|\(no estimate\))?")


def parse_pmset(text: str) -> BatteryInfo | None:
    """``pmset -g batt``; None on a Mac without a battery."""
    m = _PMSET_LINE.search(text)
    if not m:
        return None
    state = m.group(2).strip().lower()
    on_ac = "'AC Power'" in text
    charging = True if on_ac or state in ("charging", "charged", "finishing charge") else state != "discharging"
    seconds_left = None
    if state == "discharging" and m.group(3) is not None:
        seconds_left = float(int(m.group(3)) * 3600 + int(m.group(4)) * 60)
        if seconds_left == 0:
            seconds_left = None  # "0:00 remaining" while calculating
    return BatteryInfo(percent=float(min(100, int(m.group(1)))), charging=charging, seconds_left=seconds_left)


def classify_macos(iface: str, port: str | None) -> tuple[LinkType, str | None]:
    """Link type from the hardware port name, with the mobile-data reason (H9)."""
    if port is None:
        return LinkType.UNKNOWN, None  # utun (VPN), ppp, ipsec: the carrier is hidden
    low = port.lower()
    if low in ("wi-fi", "airport"):
        return LinkType.WIFI, None
    if any(word in low for word in _TETHER_WORDS):
        return LinkType.HOTSPOT, "tethering"
    if any(word in low for word in _WWAN_WORDS):
        return LinkType.WWAN, "wwan"
    if iface.startswith(("en", "bridge")):
        return LinkType.ETHERNET, None  # "Ethernet", "USB 10/100/1000 LAN", "Thunderbolt Bridge", ...
    return LinkType.UNKNOWN, None


# ---------------------------------------------------------------- I/O


class MacPlatform:
    def __init__(
        self,
        run: Runner = run_command,
        battery_source: BatterySource = psutil_battery,
        counters: Callable[[str], NetCounters | None] = psutil_counters,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 3.0,
        profiler_timeout_s: float = 10.0,
    ) -> None:
        self.run = run
        self.battery_source = battery_source
        self.counters = counters
        self.timeout_s = timeout_s
        self.profiler_timeout_s = profiler_timeout_s
        self._ports: TtlCache[dict[str, str]] = TtlCache(ttl_s=60.0, clock=clock)
        self._profiler: TtlCache[WifiReading | None] = TtlCache(ttl_s=15.0, clock=clock)
        # airport is gone for good once it prints its deprecation notice (macOS 14.4+); wdutil
        # fails for good when the agent is not root. Stop asking them after that.
        self._airport_gone = False
        self._wdutil_gone = False

    def default_route(self) -> MacRoute | None:
        for argv in (["route", "-n", "get", "default"], ["route", "-n", "get", "-inet6", "default"]):
            out = self.run(argv, self.timeout_s)
            route = parse_route_get(out) if out else None
            if route is not None:
                return route
        return None

    def ports(self) -> dict[str, str]:
        def ask() -> dict[str, str]:
            out = self.run(["networksetup", "-listallhardwareports"], self.timeout_s)
            return parse_hardware_ports(out) if out else {}

        return self._ports.get("ports", ask)

    def wifi(self, iface: str) -> WifiReading | None:
        reading = None
        if not self._airport_gone:
            out = self.run([AIRPORT, "-I"], self.timeout_s)
            self._airport_gone = out is None or "deprecated" in out
            reading = parse_airport(out) if out else None
        if reading is None and not self._wdutil_gone:
            out = self.run(["wdutil", "info"], self.timeout_s)
            self._wdutil_gone = out is None
            reading = parse_wdutil(out) if out else None
        if reading is None:

            def ask() -> WifiReading | None:
                text = self.run(["system_profiler", "SPAirPortDataType"], self.profiler_timeout_s)
                return parse_system_profiler(text, iface) if text else None

            reading = self._profiler.get(iface, ask)
        return reading

    def link_info(self) -> LinkInfo:
        route = self.default_route()
        if route is None:
            return NO_LINK
        link, reason = classify_macos(route.iface, self.ports().get(route.iface))
        wifi = self.wifi(route.iface) if link is LinkType.WIFI else None
        if link in (LinkType.WIFI, LinkType.ETHERNET):
            hotspot = classify_hotspot(route.gateway, None, None)
            if hotspot is not None:
                link, reason = LinkType.HOTSPOT, hotspot
        return LinkInfo(
            iface=route.iface,
            link=link,
            gateway=route.gateway,
            metered=None,
            hotspot_reason=reason,
            wifi_signal_dbm=wifi.signal_dbm if wifi else None,
            wifi_signal_percent=wifi.signal_percent if wifi else None,
            link_rate_mbps=wifi.link_rate_mbps if wifi else None,
        )

    def net_counters(self, iface: str | None = None) -> NetCounters | None:
        if iface is None:
            route = self.default_route()
            if route is None:
                return None
            iface = route.iface
        return self.counters(iface)

    def battery(self) -> BatteryInfo | None:
        got = self.battery_source()
        if got is not None:
            return got
        out = self.run(["pmset", "-g", "batt"], self.timeout_s)
        return parse_pmset(out) if out else None


_default = MacPlatform()


def link_info() -> LinkInfo:
    return safely(_default.link_info, UNKNOWN_LINK, "macos.link_info")


def battery() -> BatteryInfo | None:
    return safely(_default.battery, None, "macos.battery")


def net_counters(iface: str | None = None) -> NetCounters | None:
    return safely(lambda: _default.net_counters(iface), None, "macos.net_counters")
