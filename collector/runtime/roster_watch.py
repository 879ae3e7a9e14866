"""The roster in force: loading it at start, fast per-message lookups, and watching its file.

The secretary edits the roster TOML; :class:`RosterWatch` notices a new file (mtime and size) and
loads it. A broken file is logged with the line at fault and the previous roster stays in force
(H12: a device on no roster is unknown, never a member).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from collector.config import CollectorConfig
from likavillkor.config import ConfigError
from likavillkor.policy import PolicySet, load_policy
from likavillkor.roster import BodyTable, Meeting, Roster, load_body_table, load_roster

log = logging.getLogger(__name__)

#: a device's meeting counts from this long before its start (the agent's pre-meeting self-test)
EARLY_S = 3600


@dataclass
class RosterIndex:
    """Fast per-message lookups: device -> member and meetings."""

    roster: Roster
    device_meetings: dict[str, list[Meeting]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.roster.meetings.values():
            for p in m.participants:
                self.device_meetings.setdefault(p.device_id, []).append(m)

    def known(self, device_id: str) -> bool:
        return device_id in self.roster.devices

    def member(self, device_id: str) -> str | None:
        return self.roster.devices.get(device_id)

    def body(self, device_id: str, meeting_id: str | None, now: float) -> str | None:
        if meeting_id and meeting_id in self.roster.meetings:
            return self.roster.meetings[meeting_id].body
        for m in self.device_meetings.get(device_id, ()):
            if m.start - EARLY_S <= now <= m.end:
                return m.body
        return None

    def meeting_body(self, meeting_id: str) -> str:
        """The body of a meeting, "" for one on no roster (the points' ``body`` tag)."""
        m = self.roster.meetings.get(meeting_id)
        return m.body if m is not None else ""


def load_inputs(config: CollectorConfig) -> tuple[BodyTable, Roster, PolicySet]:
    bodies = load_body_table(config.bodies or None)
    roster_path = config.roster_path
    roster = load_roster(roster_path, bodies=bodies) if roster_path.exists() else Roster()
    if not roster_path.exists():
        log.warning("no roster at %s: every device counts as unknown (H12)", roster_path)
    return bodies, roster, load_policy(config.policy or None)


def file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class RosterWatch:
    """Reloads the roster file when it changes; ``error`` is the last load's fault ("" when fine)."""

    def __init__(self, path: Path, bodies: BodyTable) -> None:
        self.path = path
        self.bodies = bodies
        self.error = ""
        self._seen = file_stamp(path)

    def load(self) -> Roster:
        return load_roster(self.path, bodies=self.bodies)

    def changed(self) -> Roster | None:
        """The new roster when the file changed and loads; None when unchanged or broken."""
        stamp = file_stamp(self.path)
        if stamp is None or stamp == self._seen:
            return None
        self._seen = stamp
        try:
            roster = self.load()
        except ConfigError as exc:
            self.error = str(exc)
            log.error("roster not reloaded, the previous one stays in force: %s", exc)
            return None
        self.error = ""
        log.info("roster reloaded: %d meetings, %d devices", len(roster.meetings), len(roster.devices))
        return roster
