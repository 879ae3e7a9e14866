"""Battery through ``psutil.sensors_battery()`` (Linux, Windows, macOS, FreeBSD).

No battery (a desktop, this CI machine) is a normal answer: ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.platform._run import note_problem
from agent.platform._types import BatteryInfo

BatterySource = Callable[[], "BatteryInfo | None"]


def from_psutil(raw: Any) -> BatteryInfo | None:
    """Convert psutil's ``sbattery(percent, secsleft, power_plugged)``; negative secsleft means
    unknown (-1) or unlimited on mains (-2)."""
    if raw is None:
        return None
    secs = raw.secsleft
    seconds_left = float(secs) if isinstance(secs, int | float) and secs >= 0 else None
    percent = max(0.0, min(100.0, float(raw.percent)))
    plugged = raw.power_plugged
    return BatteryInfo(percent=percent, charging=None if plugged is None else bool(plugged), seconds_left=seconds_left)


def psutil_battery() -> BatteryInfo | None:
    try:
        import psutil

        return from_psutil(psutil.sensors_battery())
    except Exception as exc:  # psutil raises odd errors on odd firmware; a missing battery is not fatal
        note_problem("battery.psutil", repr(exc))
        return None
