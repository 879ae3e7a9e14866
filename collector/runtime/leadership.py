"""The runtime's side of leadership (issue 17, ``[ha]``): the lease on its own event loop, the
write gate, following the leader while standby, and the takeover.

- :meth:`Leadership.writing` is the gate the sink and the runtime ask before any write (store,
  InfluxDB, snapshot, purge): True only on the leader, after its takeover has caught up.
- every store transaction first checks the lease row (:meth:`Leadership.fence`, the epoch as
  fencing token): a leader that was paused or cut off past its lease (its monotonic clock already
  says so, the database's ``now()`` too) writes nothing, within one lease period.
- while standby, collector/runtime/takeover.py reads the chair's actions and the open incidents the leader
  recorded (collector/ha/follow.py) every ``FOLLOW_EVERY_S``; the takeover reads them once more,
  then writes the samples it buffered while following (insert-ignore) and its open incidents,
  and opens the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import sqlalchemy as sa

from collector.engine.types import Incident, IncidentClosed
from collector.ha.follow import OpenKey, RecentBuffer
from collector.ha.lease import Lease, LeaseConfig, LostLease, Role, default_holder
from collector.store import Store, schema
from collector.store.db import Fenced

log = logging.getLogger(__name__)

#: the standby reads the leader's actions and open incidents this often
FOLLOW_EVERY_S = 1.0
#: rows of ``actions`` read per round at most (bounded; the rest come next round)
ACTIONS_PER_READ = 10_000
#: samples and self-tests a standby keeps for the takeover: at 5,000 devices and one sample per
#: second, 20 s; at 100 members, over 16 minutes (docs/scaling.md)
RECENT_MAX = 100_000
#: incidents a standby saw close, remembered for the takeover (bounded: the oldest go first)
CLOSED_MAX = 10_000
#: longest wait for the lease's loop to start or stop
LOOP_DEADLINE_S = 10.0


class _Driver:
    """A SQLAlchemy connection as Lease.fence takes it (``execute(sql, params).fetchone()``)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: dict[str, Any]) -> Any:
        return self._conn.exec_driver_sql(sql, params)


class Leadership:
    def __init__(self, cfg: LeaseConfig, store_url: str) -> None:
        self.lease = Lease(cfg, store_url, cfg.holder or default_holder())
        self.recent = RecentBuffer(RECENT_MAX)
        self.caught_up = False  # the gate: set by the takeover, cleared when the lease is lost
        self.takeovers = 0
        self.stepdowns = 0
        self.actions_applied = 0
        self.actions_refused = 0
        self.incidents_adopted = 0
        self.follow_errors = 0
        self.fenced = 0  # store batches the lease refused
        #: incidents that closed here while following (collector/ha/follow.py closed_meanwhile)
        self.closed: dict[OpenKey, Incident] = {}
        self.action_cursor = 0  # the highest actions.id read
        self.next_follow = 0.0  # monotonic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the gate ---------------------------------------------------------------------------------
    def writing(self) -> bool:
        """Write (and serve the chair) only while leading with the takeover done (cheap: a clock read)."""
        return self.caught_up and self.lease.is_leader()

    def note_closed(self, changes: list[Any]) -> None:
        """While following: remember the incidents that close (the engine lock is held)."""
        for change in changes:
            if isinstance(change, IncidentClosed):
                inc = change.incident
                self.closed[OpenKey(inc.meeting_id, inc.member_id, inc.kind)] = inc
                if len(self.closed) > CLOSED_MAX:
                    del self.closed[next(iter(self.closed))]

    def fence(self, conn: sa.Connection) -> None:
        """The store's fence: the lease row with this epoch, share-locked until the batch commits."""
        try:
            self.lease.fence(_Driver(conn))
        except LostLease as exc:
            self.caught_up = False
            self.fenced += 1
            raise Fenced(str(exc)) from exc

    # -- the lease's loop -------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ha-lease", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.lease.start(), loop).result(LOOP_DEADLINE_S)

    def stop(self) -> None:
        """Give the lease back (a planned stop: the standby takes over at its next attempt)."""
        loop, self._loop = self._loop, None
        self.caught_up = False
        if loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.lease.stop(), loop).result(LOOP_DEADLINE_S)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(LOOP_DEADLINE_S)

    def doc(self) -> dict[str, Any]:
        """For ``/api/health``."""
        return {
            "enabled": True,
            "role": str(self.lease.role()),
            "writing": self.writing(),
            "holder": self.lease.holder,
            "epoch": self.lease.epoch,
            "takeovers": self.takeovers,
            "stepdowns": self.stepdowns,
            "actions_applied": self.actions_applied,
            "actions_refused": self.actions_refused,
            "incidents_adopted": self.incidents_adopted,
            "follow_errors": self.follow_errors,
            "fenced": self.fenced,
            "recent_buffered": len(self.recent),
            "recent_dropped": self.recent.dropped,
            "lease": dict(self.lease.counters),
        }

    @property
    def role(self) -> Role:
        return self.lease.role()


def read_leader_rows(
    store: Store, meeting_ids: list[str], cursor: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(new actions after ``cursor`` in id order, open incidents) of the engine's meetings. Blocking:
    call without the engine lock."""
    if not meeting_ids:
        return [], []
    a, i = schema.actions, schema.incidents
    with store.engine.connect() as conn:
        actions = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(a)
                .where(a.c.id > cursor, a.c.meeting_id.in_(meeting_ids))
                .order_by(a.c.id)
                .limit(ACTIONS_PER_READ)
            )
        ]
        open_ = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(i.c.id, i.c.meeting_id, i.c.member_id, i.c.kind, i.c.started_at).where(
                    i.c.ended_at.is_(None), i.c.meeting_id.in_(meeting_ids)
                )
            )
        ]
    return actions, open_
