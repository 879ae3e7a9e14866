"""Housekeeping: periodic jobs on one thread (snapshot, current-state points, retention purge,
roster watch), each on its own interval, and the retention purge itself.

The schedule is a pure decision (:meth:`Schedule.due`, monotonic time passed in); a failing job is
logged once per distinct failure and retried at its next turn, never stopping the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.config import CollectorConfig, RetentionSection
from collector.store import Store, retention

log = logging.getLogger(__name__)

#: how often the loop looks for a due job
POLL_S = 0.5


class Schedule:
    """Job name -> next due time (monotonic seconds) and interval."""

    def __init__(self, every: dict[str, float], first: dict[str, float], now: float) -> None:
        self.every = dict(every)
        self.next = {name: now + first.get(name, 0.0) for name in every}

    def due(self, now: float) -> list[str]:
        """The jobs due at ``now``, each moved on by its interval."""
        names = [name for name, at in self.next.items() if now >= at]
        for name in names:
            self.next[name] = now + self.every[name]
        return names


def schedule_for(c: CollectorConfig, now: float) -> Schedule:
    """The collector's jobs and their intervals: the snapshot, the current-state points, the
    retention purge (first after 5 s) and the roster watch (every second)."""
    every = {
        "snapshot": c.store.snapshot_interval_s,
        "state": c.influx.state_interval_s,
        "purge": c.retention.purge_interval_s,
        "roster": 1.0,
    }
    return Schedule(every, {"purge": 5.0, "roster": 1.0}, now)


def run_loop(stop: threading.Event, jobs: dict[str, Callable[[], None]], schedule: Schedule) -> None:
    """Until ``stop``: run each due job; log each distinct failure of a job once."""
    failing: dict[str, str] = {}
    while not stop.wait(POLL_S):
        for name in schedule.due(time.monotonic()):
            job = jobs.get(name)
            if job is None:
                continue
            try:
                job()
                failing.pop(name, None)
            except Exception as exc:
                if failing.get(name) != repr(exc):
                    log.exception("housekeeping %s failed", name)
                failing[name] = repr(exc)


def purge(store: Store, r: RetentionSection, now: float) -> dict[str, int]:
    """Delete samples and incidents past their retention (personal data: no longer than needed);
    log what went, once per purge that deleted anything. Returns rows deleted per table."""
    deleted = retention.purge(store, now, samples_days=r.samples_days, incidents_days=r.incidents_days)
    if any(deleted.values()):
        log.info(
            "retention purge (samples %g d, incidents %g d): %s",
            r.samples_days,
            r.incidents_days,
            ", ".join(f"{t} {n}" for t, n in sorted(deleted.items()) if n),
        )
    return deleted
