"""What a standby collector takes over from the leader (issue 17): pure decisions, time passed in.

A standby follows hot: it ingests the same MQTT messages as the leader, so its engine reaches the
same states and verdicts (H15, H16) without writing anything. Two things it cannot learn from MQTT:

- the chair's and secretary's actions (adjourn, vote, jäv, substitute: H5, H16, H18), recorded on
  the leader over HTTP: the standby reads new rows of ``actions`` (:func:`new_actions`) while it
  follows and once more at takeover, and applies them to its engine;
- the ids of the incidents the leader opened: an incident's id carries its start to the
  millisecond, which differs between two collectors by the time one message took to reach each;
  the standby adopts the leader's id for the same open condition (:func:`adoptions`), so the new
  leader updates the stored incident instead of opening a duplicate.

Samples the standby saw while following are kept in a bounded buffer (:class:`RecentBuffer`) and
written at takeover with insert-ignore: a sample the old leader did not store before it died is
stored once by the new one, a sample it did store is skipped by the unique (device_id, msg_id).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from collector.engine.types import Action, ActionKind, Incident


def action_of(row: Mapping[str, Any]) -> Action:
    """A row of ``actions`` as the engine's Action."""
    return Action(
        meeting_id=row["meeting_id"],
        kind=ActionKind(row["kind"]),
        at=float(row["at"]),
        by=row["by"],
        member_id=row.get("member_id"),
        item=row.get("item"),
        note=row.get("note"),
        substitute_id=row.get("substitute_id"),
    )


def new_actions(rows: Iterable[Mapping[str, Any]], known: Mapping[str, Sequence[Action]]) -> list[Action]:
    """The actions of ``rows`` (in id order) not yet among the engine's (``known``: meeting -> its
    actions); rows of meetings the engine does not know are left out."""
    out: list[Action] = []
    for row in rows:
        have = known.get(row["meeting_id"])
        if have is None:
            continue
        action = action_of(row)
        if action not in have and action not in out:
            out.append(action)
    return out


class OpenKey(NamedTuple):
    meeting_id: str
    member_id: str
    kind: str


class Adoption(NamedTuple):
    key: OpenKey
    incident_id: str
    started_at: float


def adoptions(stored_open: Iterable[Mapping[str, Any]], engine_open: Mapping[OpenKey, str]) -> list[Adoption]:
    """For each condition open both in the database (the leader's rows with ``ended_at`` NULL) and in
    the engine (``engine_open``: key -> the engine's incident id), the leader's id and start when
    they differ from the engine's."""
    out: list[Adoption] = []
    for row in stored_open:
        key = OpenKey(row["meeting_id"], row["member_id"], row["kind"])
        mine = engine_open.get(key)
        if mine is not None and mine != row["id"]:
            out.append(Adoption(key, row["id"], float(row["started_at"])))
    return out


def closed_meanwhile(
    stored_open: Iterable[Mapping[str, Any]], engine_open_ids: set[str], closed: Mapping[OpenKey, Incident]
) -> list[Incident]:
    """At takeover: incidents the database still has open (the old leader's rows) that this engine
    closed while it followed (``closed``: key -> the incident as it closed here), with the stored
    id and start, so the new leader stores them closed instead of leaving them open for ever."""
    out: list[Incident] = []
    for row in stored_open:
        if row["id"] in engine_open_ids:
            continue
        inc = closed.get(OpenKey(row["meeting_id"], row["member_id"], row["kind"]))
        if inc is not None and inc.ended_at is not None and inc.ended_at >= float(row["started_at"]):
            out.append(msgspec.structs.replace(inc, id=row["id"], started_at=float(row["started_at"])))
    return out


class RecentBuffer:
    """The rows (samples, self-tests) and their InfluxDB points a standby received, the newest
    ``limit`` of them, for the takeover's insert-ignore. Older ones are dropped and counted: at
    takeover only the last seconds matter (the old leader stored the rest)."""

    def __init__(self, limit: int) -> None:
        self._items: deque[tuple[str, Any, str | None]] = deque(maxlen=limit)
        self.dropped = 0

    def add(self, op: str, row: Any, point: str | None) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append((op, row, point))

    def take(self) -> list[tuple[str, Any, str | None]]:
        items = list(self._items)
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)
