"""The runtime's HA glue (issue 17, ``[ha]``): the loop that asks the lease each round, following
the leader while standby (its chair's actions applied, its incident ids adopted) and the takeover.

Functions of the :class:`~collector.runtime.core.Runtime` they act on (it delegates to them); the
pure decisions are in collector/ha/follow.py, the lease and the write gate in
collector/runtime/leadership.py.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from collector.engine.types import IncidentClosed, IncidentUpdated
from collector.ha import follow
from collector.runtime.leadership import FOLLOW_EVERY_S, read_leader_rows

if TYPE_CHECKING:
    from collector.runtime.core import Runtime

log = logging.getLogger(__name__)


def ha_loop(rt: Runtime) -> None:
    """The ``ha`` thread: one :func:`ha_step` per tick interval; a failing database read is retried
    next round and logged once per outage."""
    failing = False
    while not rt._stop.wait(rt.config.ingest.tick_interval_s):
        try:
            ha_step(rt)
            failing = False
        except Exception as exc:  # a database read failed: try again next round, one line per outage
            assert rt.ha is not None
            rt.ha.follow_errors += 1
            if not failing:
                log.warning("ha: cannot read the leader's actions and incidents: %s", exc)
            failing = True


def ha_step(rt: Runtime, mono: float | None = None) -> None:
    """One round: take over when the lease says so, step down when it ran out, else follow."""
    ha = rt.ha
    if ha is None:
        return
    mono = time.monotonic() if mono is None else mono
    leader = ha.lease.is_leader()
    if leader and not ha.caught_up:
        take_over(rt)
    elif not leader and ha.caught_up:
        ha.caught_up = False
        ha.stepdowns += 1
        log.warning("ha: this collector no longer leads: it writes nothing and follows the leader")
    elif not leader and mono >= ha.next_follow:
        ha.next_follow = mono + FOLLOW_EVERY_S
        follow_leader(rt)


def follow_leader(rt: Runtime) -> list[dict[str, Any]]:
    """Apply the leader's new actions and adopt its incident ids (reads without the lock).
    Returns the incidents the database has open."""
    ha = rt.ha
    assert ha is not None
    actions, open_ = read_leader_rows(rt.store, rt.meeting_ids(), ha.action_cursor)
    with rt.lock:
        known = {mid: rt.engine.actions(mid) for mid in rt.engine.meeting_ids()}
        for action in follow.new_actions(actions, known):
            try:
                rt._record_changes(list(rt.engine.act(action)))
                ha.actions_applied += 1
            except ValueError as exc:  # refused here (the state moved on): the leader's stays recorded
                ha.actions_refused += 1
                log.warning(
                    "ha: the leader's action %s of %s not applied here: %s", action.kind, action.meeting_id, exc
                )
        if actions:
            ha.action_cursor = max(ha.action_cursor, max(int(r["id"]) for r in actions))
        mine = {follow.OpenKey(*k): v for k, v in rt.engine.open_incident_ids().items()}
        for adoption in follow.adoptions(open_, mine):
            if rt.engine.adopt_incident(*adoption.key, adoption.incident_id, adoption.started_at):
                ha.incidents_adopted += 1
    return open_


def take_over(rt: Runtime) -> None:
    """The lease is ours: catch up with the old leader's records, write what we saw while
    following (insert-ignore), then open the gate (all under the engine lock: a clean cut)."""
    ha = rt.ha
    assert ha is not None
    stored_open = follow_leader(rt)
    with rt.lock:
        if not ha.lease.is_leader():
            return
        ha.caught_up = True
        ha.takeovers += 1
        buffered = ha.recent.take()
        for op, row, point in buffered:
            rt.store.put(op, row)
            if point is not None and rt.influx is not None:
                rt.influx.put(point)
        # the open incidents as this engine has them (the old leader's ids adopted): updated, not doubled
        rt._record_changes([IncidentUpdated(incident=inc) for inc in rt.engine.open_incidents()])
        # ... and those the old leader left open that closed here while no one wrote
        open_ids = set(rt.engine.open_incident_ids().values())
        closed = follow.closed_meanwhile(stored_open, open_ids, ha.closed)
        rt._record_changes([IncidentClosed(incident=inc) for inc in closed])
        ha.closed.clear()
    log.warning(
        "ha: this collector leads (epoch %s): %d buffered samples and self-tests written",
        ha.lease.epoch,
        len(buffered),
    )
