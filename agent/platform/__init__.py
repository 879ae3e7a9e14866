"""The agent's platform facade: one implementation module chosen once per OS, as psutil does.

``_linux.py``, ``_windows.py`` and ``_macos.py`` each provide ``link_info``, ``battery`` and
``net_counters``; the public functions below delegate in one line. ``audio_facts`` (sound devices:
the microphone's presence and mute switch, headphones H19) lives in ``audio.py`` with one section
per OS. Missing hardware (no
battery, no Wi-Fi, no default route) is a normal answer -- ``None`` or ``LinkType.NONE`` --
and these functions never raise: unexpected errors are counted in :func:`problem_counts`.

H9: the member's device must be on Wi-Fi (or wired), not on mobile data nor a phone's hotspot,
and its battery must last the meeting or be plugged in.
"""

from __future__ import annotations

import sys
from typing import Protocol

from agent.platform._run import PROBLEMS
from agent.platform._types import BatteryInfo, LinkInfo, NetCounters
from agent.platform.audio import AudioFacts, audio_facts
from agent.platform.hotspot import classify_hotspot


class _Impl(Protocol):
    """What each of ``_linux``, ``_windows``, ``_macos`` (and ``_unsupported``) provides."""

    def link_info(self) -> LinkInfo: ...

    def battery(self) -> BatteryInfo | None: ...

    def net_counters(self, iface: str | None = None) -> NetCounters | None: ...


def _choose() -> _Impl:
    if sys.platform.startswith("linux"):
        from agent.platform import _linux

        return _linux
    if sys.platform == "win32":
        from agent.platform import _windows

        return _windows
    if sys.platform == "darwin":
        from agent.platform import _macos

        return _macos
    from agent.platform import _unsupported

    return _unsupported


_impl: _Impl = _choose()

#: Which implementation runs here: "linux", "windows", "macos" or "unsupported".
PLATFORM: str = getattr(_impl, "__name__", "").rsplit("._", 1)[-1]


def link_info() -> LinkInfo:
    """What carries the default route now (interface, type, gateway, hotspot evidence, Wi-Fi)."""
    return _impl.link_info()


def battery() -> BatteryInfo | None:
    """The battery, or ``None`` when the device has none."""
    return _impl.battery()


def net_counters(iface: str | None = None) -> NetCounters | None:
    """Byte counters of ``iface`` (``None``: the default route's interface), or ``None``."""
    return _impl.net_counters(iface)


def problem_counts() -> dict[str, int]:
    """How often each kind of unreadable input or failed command was seen since start."""
    return dict(PROBLEMS)


__all__ = [
    "PLATFORM",
    "AudioFacts",
    "BatteryInfo",
    "LinkInfo",
    "NetCounters",
    "audio_facts",
    "battery",
    "classify_hotspot",
    "link_info",
    "net_counters",
    "problem_counts",
]
