"""Any other OS: link type unknown, battery and counters through psutil where it works."""

from __future__ import annotations

from agent.platform._types import UNKNOWN_LINK, BatteryInfo, LinkInfo, NetCounters
from agent.platform.battery_psutil import psutil_battery
from agent.platform.counters_psutil import psutil_counters


def link_info() -> LinkInfo:
    return UNKNOWN_LINK


def battery() -> BatteryInfo | None:
    return psutil_battery()


def net_counters(iface: str | None = None) -> NetCounters | None:
    return psutil_counters(iface) if iface is not None else None
