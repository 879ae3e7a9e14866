"""The values the platform facade returns (see ``agent.platform``).

A field the device cannot measure is ``None``, never 0: no battery is not an empty one (wire.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from likavillkor.wire import LinkType


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What carries the default route (H9: Wi-Fi or wired; not mobile data, not a phone hotspot)."""

    iface: str | None  # interface of the default route
    link: LinkType  # wifi / ethernet / wwan / hotspot / none / unknown
    gateway: str | None
    metered: bool | None
    # stable code: "nm_metered", "windows_cost", "ios_gateway", "android_gateway", "wwan", "tethering"
    hotspot_reason: str | None
    wifi_signal_dbm: float | None
    wifi_signal_percent: float | None
    link_rate_mbps: float | None


#: The answer when there is no default route at all.
NO_LINK = LinkInfo(
    iface=None,
    link=LinkType.NONE,
    gateway=None,
    metered=None,
    hotspot_reason=None,
    wifi_signal_dbm=None,
    wifi_signal_percent=None,
    link_rate_mbps=None,
)


@dataclass(frozen=True, slots=True)
class BatteryInfo:
    percent: float
    charging: bool | None  # True when on mains power (plugged in), None when the OS does not say
    seconds_left: float | None  # the OS's own estimate while discharging


@dataclass(frozen=True, slots=True)
class NetCounters:
    rx_bytes: int
    tx_bytes: int


@dataclass(frozen=True, slots=True)
class WifiReading:
    """Signal and rate of the Wi-Fi interface, as far as the platform tells them."""

    signal_dbm: float | None = None
    signal_percent: float | None = None
    link_rate_mbps: float | None = None


def dbm_to_percent(dbm: float) -> float:
    """Windows' linear signal-quality mapping: 100 % at -50 dBm and above, 0 % at -100 dBm."""
    return max(0.0, min(100.0, 2.0 * (dbm + 100.0)))


def percent_to_dbm(percent: float) -> float:
    """The inverse of :func:`dbm_to_percent` (an estimate: saturated above -50 dBm)."""
    return max(-100.0, min(-50.0, percent / 2.0 - 100.0))


#: The answer when reading the link failed unexpectedly (counted in ``PROBLEMS``).
UNKNOWN_LINK = LinkInfo(
    iface=None,
    link=LinkType.UNKNOWN,
    gateway=None,
    metered=None,
    hotspot_reason=None,
    wifi_signal_dbm=None,
    wifi_signal_percent=None,
    link_rate_mbps=None,
)
