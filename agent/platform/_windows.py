"""Windows: ``route print``, ``netsh wlan``/``netsh mbn`` and one cached PowerShell call.

Console tools answer in the user's language and OEM code page (Swedish Windows writes
``Signal : 85 %`` and ``Tillstånd : ansluten``), so the parsers never rely on non-ASCII words:
they use positions, units (``(Mbps)``/``(Mbit/s)``) and value shapes. PowerShell answers in JSON,
which does not depend on the language. PowerShell takes ~0.5 s to start, so its answer (adapter
media type, connection cost) is cached per interface; ``route print`` and ``netsh`` are fast and
run on every call. Every command has a timeout.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from agent.platform.counters_psutil import psutil_counters
from agent.platform.hotspot import METERED_COSTS, classify_hotspot
from likavillkor.wire import LinkType

#: Windows PowerShell 5.1 (not pwsh 7: only 5.1 loads WinRT types like NetworkInformation).
PS_SCRIPT: Final = r"""
$ErrorActionPreference = 'SilentlyContinue'
$r = Get-NetRoute -DestinationPrefix '0.0.0.0/0','::/0' |
     Sort-Object { $_.RouteMetric + $_.InterfaceMetric } | Select-Object -First 1
$a = $null; if ($r) { $a = Get-NetAdapter -InterfaceIndex $r.ifIndex }
[void][Windows.Networking.Connectivity.NetworkInformation,Windows.Networking.Connectivity,ContentType=WindowsRuntime]
$p = [Windows.Networking.Connectivity.NetworkInformation]::GetInternetConnectionProfile()
$c = $null; if ($p) { $c = $p.GetConnectionCost() }
[pscustomobject]@{
  InterfaceAlias = $r.InterfaceAlias; NextHop = $r.NextHop; ifIndex = $r.ifIndex
  PhysicalMediaType = $a.PhysicalMediaType; InterfaceDescription = $a.InterfaceDescription
  NetworkCostType = $(if ($c) { "$($c.NetworkCostType)" } else { $null })
  IsWwanConnectionProfile = $p.IsWwanConnectionProfile; IsWlanConnectionProfile = $p.IsWlanConnectionProfile
} | ConvertTo-Json -Compress
""".strip()
PS_ARGV: Final = ("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", PS_SCRIPT)

_TETHER_DESCRIPTIONS: Final = ("remote ndis", "apple mobile device ethernet", "iphone")


@dataclass(frozen=True, slots=True)
class WinRoute:
    gateway: str | None  # None for "On-link"
    iface_ip: str
    metric: int


@dataclass(frozen=True, slots=True)
class PsDetails:
    """The PowerShell answer: the default route's adapter and the Internet profile's cost."""

    alias: str | None = None
    next_hop: str | None = None
    physical_media: str | None = None  # "Native 802.11", "802.3", "Wireless WAN", "BlueTooth", ...
    description: str | None = None
    cost: str | None = None  # "Unrestricted", "Fixed", "Variable", "Unknown"
    is_wwan: bool | None = None
    is_wlan: bool | None = None


@dataclass(frozen=True, slots=True)
class WlanIface:
    name: str
    connected: bool
    signal_percent: float | None
    rssi_dbm: float | None
    receive_mbps: float | None
    transmit_mbps: float | None


# ---------------------------------------------------------------- pure parsers

_DEFAULT_ROW = re.compile(r"^\s*0\.0\.0\.0\s+0\.0\.0\.0\s+(\S+)\s+(\d{1,3}(?:\.\d{1,3}){3})\s+(\d+)\s*$")


def parse_route_print(text: str) -> list[WinRoute]:
    """IPv4 default routes from ``route print -4`` (any language), best metric first."""
    routes = []
    for line in text.splitlines():
        m = _DEFAULT_ROW.match(line)
        if not m:
            continue
        gw = m.group(1)
        gateway = gw if _is_ip(gw) else None  # "On-link" / "På länk"
        routes.append(WinRoute(gateway=gateway, iface_ip=m.group(2), metric=int(m.group(3))))
    return sorted(routes, key=lambda r: r.metric)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_ps_details(text: str) -> PsDetails | None:
    """The JSON object :data:`PS_SCRIPT` prints (a BOM or warning lines around it are ignored);
    ``None`` when there is none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        if text.strip():
            note_problem("parse.windows_ps", text[:200])
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        note_problem("parse.windows_ps", text[:200])
        return None
    if not isinstance(data, dict):
        note_problem("parse.windows_ps", "not an object")
        return None
    next_hop = _opt_str(data.get("NextHop"))
    if next_hop in ("0.0.0.0", "::"):
        next_hop = None
    return PsDetails(
        alias=_opt_str(data.get("InterfaceAlias")),
        next_hop=next_hop,
        physical_media=_opt_str(data.get("PhysicalMediaType")),
        description=_opt_str(data.get("InterfaceDescription")),
        cost=_opt_str(data.get("NetworkCostType")),
        is_wwan=_opt_bool(data.get("IsWwanConnectionProfile")),
        is_wlan=_opt_bool(data.get("IsWlanConnectionProfile")),
    )


def _blocks(text: str) -> list[list[tuple[str, str]]]:
    """``key : value`` lines grouped into one block per interface (a block starts at the first key
    seen again, i.e. ``Name``/``Namn``)."""
    blocks: list[list[tuple[str, str]]] = []
    first_key: str | None = None
    for line in text.splitlines():
        key, found, value = line.partition(" : ")
        if not found or not line.startswith(" "):
            continue
        key, value = key.strip(), value.strip()
        if first_key is None:
            first_key = key
        if key == first_key:
            blocks.append([])
        if blocks:
            blocks[-1].append((key, value))
    return blocks


_NUMBER = re.compile(r"^(-?\d+(?:[.,]\d+)?)")
_CONNECTED_WORDS: Final = frozenset(
    {"connected", "ansluten", "verbunden", "connecté", "conectado", "tilkoblet", "forbundet", "yhdistetty"}
)


def _number(text: str) -> float | None:
    m = _NUMBER.match(text.strip())
    return float(m.group(1).replace(",", ".")) if m else None


def _wlan_block(block: list[tuple[str, str]]) -> WlanIface:
    name = block[0][1]
    connected = False
    percent = rssi = None
    rates: list[float | None] = []
    for key, value in block:
        low = key.lower()
        if low in ("state", "tillstånd", "status", "zustand") or low.startswith("tillst"):
            connected = value.strip().lower() in _CONNECTED_WORDS
        elif "(mbps)" in low or "(mbit/s)" in low:
            rates.append(_number(value))  # receive first, then transmit (every language)
        elif low == "rssi":
            rssi = _number(value)
        elif re.fullmatch(r"\d{1,3}\s*%", value) and percent is None:
            percent = _number(value)
    return WlanIface(
        name=name,
        connected=connected,
        signal_percent=percent,
        rssi_dbm=rssi,
        receive_mbps=rates[0] if rates else None,
        transmit_mbps=rates[1] if len(rates) > 1 else None,
    )


def parse_netsh_wlan(text: str) -> list[WlanIface]:
    """``netsh wlan show interfaces`` in any language (English and Swedish recorded)."""
    return [_wlan_block(b) for b in _blocks(text) if b]


def parse_netsh_mbn(text: str) -> set[str]:
    """Names of the mobile-broadband interfaces in ``netsh mbn show interfaces``."""
    return {b[0][1] for b in _blocks(text) if b}


def classify_windows(
    alias: str | None, details: PsDetails | None, wlan_names: set[str], mbn_names: set[str]
) -> tuple[LinkType, str | None]:
    """Link type of the default route's adapter, with the mobile-data reason (H9)."""
    media = (details.physical_media or "").lower() if details else ""
    desc = (details.description or "").lower() if details else ""
    if media in ("native 802.11", "wireless lan") or (alias is not None and alias in wlan_names):
        return LinkType.WIFI, None
    if media == "wireless wan" or (alias is not None and alias in mbn_names):
        return LinkType.WWAN, "wwan"
    if details is not None and details.is_wwan:
        return LinkType.WWAN, "wwan"
    if media == "bluetooth" or any(word in desc for word in _TETHER_DESCRIPTIONS):
        return LinkType.HOTSPOT, "tethering"
    if media == "802.3":
        return LinkType.ETHERNET, None
    if details is not None and details.is_wlan:
        return LinkType.WIFI, None
    return LinkType.UNKNOWN, None


def metered_from_cost(cost: str | None) -> bool | None:
    if cost is None:
        return None
    low = cost.strip().lower()
    if low in METERED_COSTS:
        return True
    return False if low == "unrestricted" else None


def wifi_from_wlan(w: WlanIface) -> WifiReading:
    percent = w.signal_percent
    dbm = w.rssi_dbm if w.rssi_dbm is not None else (percent_to_dbm(percent) if percent is not None else None)
    if percent is None and dbm is not None:
        percent = dbm_to_percent(dbm)
    return WifiReading(signal_dbm=dbm, signal_percent=percent, link_rate_mbps=w.transmit_mbps)


# ---------------------------------------------------------------- I/O


def _psutil_if_addrs() -> dict[str, list[str]]:
    import psutil

    return {name: [a.address for a in addrs] for name, addrs in psutil.net_if_addrs().items()}


class WindowsPlatform:
    def __init__(
        self,
        run: Runner = run_command,
        if_addrs: Callable[[], dict[str, list[str]]] = _psutil_if_addrs,
        battery_source: BatterySource = psutil_battery,
        counters: Callable[[str], NetCounters | None] = psutil_counters,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 3.0,
        ps_timeout_s: float = 8.0,
    ) -> None:
        self.run = run
        self.if_addrs = if_addrs
        self.battery_source = battery_source
        self.counters = counters
        self.timeout_s = timeout_s
        self.ps_timeout_s = ps_timeout_s
        self._ps_cache: TtlCache[PsDetails | None] = TtlCache(ttl_s=30.0, clock=clock)
        self._mbn_cache: TtlCache[set[str]] = TtlCache(ttl_s=60.0, clock=clock)

    def ps_details(self, key: str) -> PsDetails | None:
        def ask() -> PsDetails | None:
            out = self.run(PS_ARGV, self.ps_timeout_s)
            return parse_ps_details(out) if out else None

        return self._ps_cache.get(key, ask)

    def alias_of(self, ip: str) -> str | None:
        for name, addrs in self.if_addrs().items():
            if ip in addrs:
                return name
        return None

    def default_route(self) -> tuple[str | None, str | None, PsDetails | None] | None:
        """(alias, gateway, PowerShell details) of the default route, or None when there is none."""
        out = self.run(["route", "print", "-4"], self.timeout_s)
        routes = parse_route_print(out) if out else []
        if routes:
            best = routes[0]
            alias = self.alias_of(best.iface_ip)
            details = self.ps_details(alias or best.iface_ip)
            if alias is None and details is not None:
                alias = details.alias
            return alias, best.gateway, details
        details = self.ps_details("")  # IPv6-only, or route.exe missing
        if details is None or details.alias is None:
            return None
        return details.alias, details.next_hop, details

    def wlan(self) -> list[WlanIface]:
        out = self.run(["netsh", "wlan", "show", "interfaces"], self.timeout_s)
        return parse_netsh_wlan(out) if out else []

    def mbn_names(self) -> set[str]:
        def ask() -> set[str]:
            out = self.run(["netsh", "mbn", "show", "interfaces"], self.timeout_s)
            return parse_netsh_mbn(out) if out else set()

        return self._mbn_cache.get("mbn", ask)

    def link_info(self) -> LinkInfo:
        route = self.default_route()
        if route is None:
            return NO_LINK
        alias, gateway, details = route
        wlans = {w.name: w for w in self.wlan() if w.connected}
        link, reason = classify_windows(alias, details, set(wlans), self.mbn_names())
        cost = details.cost if details else None
        if link in (LinkType.WIFI, LinkType.ETHERNET):
            hotspot = classify_hotspot(gateway, None, cost)
            if hotspot is not None:
                link, reason = LinkType.HOTSPOT, hotspot
        wlan = wlans.get(alias or "")
        if wlan is None and len(wlans) == 1 and link is not LinkType.ETHERNET and details and details.is_wlan:
            wlan = next(iter(wlans.values()))
        wifi = wifi_from_wlan(wlan) if wlan else None
        return LinkInfo(
            iface=alias,
            link=link,
            gateway=gateway,
            metered=metered_from_cost(cost),
            hotspot_reason=reason,
            wifi_signal_dbm=wifi.signal_dbm if wifi else None,
            wifi_signal_percent=wifi.signal_percent if wifi else None,
            link_rate_mbps=wifi.link_rate_mbps if wifi else None,
        )

    def net_counters(self, iface: str | None = None) -> NetCounters | None:
        if iface is None:
            route = self.default_route()
            if route is None or route[0] is None:
                return None
            iface = route[0]
        return self.counters(iface)

    def battery(self) -> BatteryInfo | None:
        return self.battery_source()


_default = WindowsPlatform()


def link_info() -> LinkInfo:
    return safely(_default.link_info, UNKNOWN_LINK, "windows.link_info")


def battery() -> BatteryInfo | None:
    return safely(_default.battery, None, "windows.battery")


def net_counters(iface: str | None = None) -> NetCounters | None:
    return safely(lambda: _default.net_counters(iface), None, "windows.net_counters")
