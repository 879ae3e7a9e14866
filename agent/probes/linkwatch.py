"""Changes of what carries the default route during a meeting (H9, H2).

Wi-Fi -> mobile data mid-meeting is an event: the member is no longer on the connection the
checklist asks for (H9), and the switch itself usually drops the call for a few seconds (H15).
Pure: the caller passes the time and each new :class:`~agent.platform.LinkInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from agent.platform import LinkInfo
from likavillkor.wire import LinkType

MOBILE: Final = frozenset({LinkType.WWAN.value, LinkType.HOTSPOT.value})


class ChangeKind(StrEnum):
    IFACE = "iface"  # the default route moved to another interface
    LINK = "link"  # the link type changed (wifi -> hotspot, ethernet -> none, ...)
    GATEWAY = "gateway"  # same interface, another gateway: another network (roamed or re-joined)


@dataclass(frozen=True, slots=True)
class LinkChange:
    at: float
    kind: ChangeKind
    old: str | None
    new: str | None

    @property
    def to_mobile_data(self) -> bool:
        """The link became mobile data (WWAN or a phone hotspot): not allowed by H9."""
        return self.kind is ChangeKind.LINK and self.new in MOBILE and self.old not in MOBILE

    @property
    def lost(self) -> bool:
        """The default route disappeared (H15: lost contact)."""
        return self.kind is ChangeKind.LINK and self.new == LinkType.NONE.value


class LinkWatcher:
    """Remembers the last link and reports what changed. The first update only sets the baseline."""

    def __init__(self) -> None:
        self.current: LinkInfo | None = None
        self.since: float | None = None  # when the current link type started

    def update(self, now: float, info: LinkInfo) -> list[LinkChange]:
        old, self.current = self.current, info
        if old is None:
            self.since = now
            return []
        changes: list[LinkChange] = []
        if info.iface != old.iface:
            changes.append(LinkChange(now, ChangeKind.IFACE, old.iface, info.iface))
        elif info.gateway != old.gateway:
            changes.append(LinkChange(now, ChangeKind.GATEWAY, old.gateway, info.gateway))
        if info.link != old.link:
            changes.append(LinkChange(now, ChangeKind.LINK, old.link.value, info.link.value))
            self.since = now
        return changes
