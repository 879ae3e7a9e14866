"""Leadership of the collector as a lease row in PostgreSQL (issue 17).

Two (or more) collectors of one municipality share one PostgreSQL database. Exactly one of them
leads: it writes samples, incidents and actions and serves the chair's actions (H14-H16 are
decided once, not twice); the others follow hot and write nothing. Who leads is one row of
``ha_lease``: ``holder``, ``epoch`` (the fencing token) and ``expires_at``.

Why a lease row and not ``pg_advisory_lock``: an advisory lock lives as long as its session, and a
session outlives the process that is not answering - a SIGSTOPed leader (or one behind a cut
network) keeps its TCP connection open for the kernel's keep-alive time (two hours by default), so
the standby would never take over. A row with an expiry ends by itself after ``lease_s`` measured
by one clock (the database's ``now()``), and its epoch is a fencing token that the old leader's
writes can be checked against (:meth:`Lease.fence`), so that a leader which wakes up after its
lease was taken cannot write anything.

Timing (defaults ``lease_s = 6``, ``renew_every_s = 2``):

- the leader renews every ``renew_every_s``; the database sets ``expires_at = now() + lease_s``;
- a standby tries every ``renew_every_s`` and wins only once ``expires_at`` has passed: a dead
  leader is replaced within ``lease_s + renew_every_s`` (8 s, inside the issue's 10 s);
- the leader counts its lease from the moment it *sent* the renewal (monotonic clock), which is
  before the database's ``now()``: it stops leading locally (:meth:`Lease.is_leader` is False)
  before the database lets anyone else in, even when it cannot reach the database at all (the
  "leader's PostgreSQL connection lost" case) and right after a SIGCONT (the monotonic clock ran
  on while it was stopped);
- every acquisition after an expiry increments ``epoch``; writes done in a transaction that first
  calls :meth:`Lease.fence` (``SELECT ... FOR SHARE`` of the row with this holder and epoch, not
  expired) either commit before the next epoch exists or fail: the standby's takeover waits for
  the share lock, so the old leader's writes and the new leader's never interleave.
- :meth:`Lease.stop` gives the lease back (``expires_at = now()``): a planned restart hands over at
  the standby's next attempt instead of after ``lease_s``.

The decisions are pure functions of the time passed in (:func:`role_at`, :func:`held_until`,
:func:`next_wakeup`); :class:`Lease` does the I/O on a dedicated connection, every statement with
a deadline (``connect_timeout``, ``statement_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from likavillkor.config import Section

log = logging.getLogger(__name__)

Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class LeaseConfig(Section):
    """``[ha]``: leadership among collectors sharing one PostgreSQL (issue 17). Off by default: the
    single-machine install (SQLite) has nothing to elect."""

    enabled: bool = False
    #: one lease per municipality's database; two collectors lead together only with the same name
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "collector"
    #: this collector's name in the lease (empty: host name and process id)
    holder: Annotated[str, msgspec.Meta(max_length=128)] = ""
    lease_s: Annotated[float, msgspec.Meta(ge=1, le=300)] = 6.0
    renew_every_s: Annotated[float, msgspec.Meta(ge=0.1, le=100)] = 2.0
    connect_timeout_s: Annotated[int, msgspec.Meta(ge=1, le=60)] = 2  # libpq takes whole seconds

    def __post_init__(self) -> None:
        if self.renew_every_s * 2 > self.lease_s:
            raise ValueError(
                f"renew_every_s ({self.renew_every_s}) must be at most half of lease_s "
                f"({self.lease_s}): a leader needs two chances to renew per lease"
            )


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"


@dataclass(frozen=True)
class Held:
    """What this process holds: the epoch and until when (its monotonic clock) it may act on it."""

    epoch: int
    until: float


# -- pure decisions ---------------------------------------------------------------------------------
def held_until(sent_at: float, lease_s: float) -> float:
    """A renewal sent at ``sent_at`` (monotonic) is good until ``sent_at + lease_s``: never later than
    the database's expiry (``now() + lease_s`` taken when the statement ran, after it was sent)."""
    return sent_at + lease_s


def after_attempt(held: Held | None, granted_epoch: int | None, sent_at: float, lease_s: float) -> Held | None:
    """The new holding after one acquire/renew attempt sent at ``sent_at``: the granted epoch, or
    nothing when the database said no (someone else holds it). An attempt that failed with an
    error does not call this: the holding stays as it was and runs out by itself."""
    if granted_epoch is None:
        return None
    return Held(granted_epoch, held_until(sent_at, lease_s))


def role_at(held: Held | None, now: float) -> Role:
    """Leader only while the lease is held and not run out on this process's own clock."""
    return Role.LEADER if held is not None and now < held.until else Role.STANDBY


def next_wakeup(held: Held | None, last_attempt: float, renew_every_s: float) -> float:
    """When to act next: the next attempt, or earlier the moment the lease runs out (so the change
    to standby is reported at once, not at the next attempt)."""
    due = last_attempt + renew_every_s
    return min(due, held.until) if held is not None else due


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it (``postgresql://...``)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


# -- I/O --------------------------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE IF NOT EXISTS ha_lease (
    name text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
)
"""

#: acquire (free or expired: a new epoch) or renew (mine, this epoch, not expired: same epoch)
ACQUIRE = """
INSERT INTO ha_lease AS l (name, holder, epoch, expires_at)
VALUES (%(name)s, %(holder)s, 1, now() + make_interval(secs => %(lease_s)s))
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = CASE WHEN l.expires_at > now() THEN l.epoch ELSE l.epoch + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= now() OR (l.holder = EXCLUDED.holder AND l.epoch = %(epoch)s)
RETURNING epoch
"""

RELEASE = "UPDATE ha_lease SET expires_at = now() WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s"

FENCE = """
SELECT 1 FROM ha_lease
WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s AND expires_at > now()
FOR SHARE
"""


class LostLease(Exception):
    """Raised by :meth:`Lease.fence`: this process does not lead (any more); roll back, write nothing."""


class Lease:
    """One collector's side of the lease. ``start()``/``stop()`` run the renewal task; ``attempt(now)``
    is one round (blocking, for tests and the task's thread); ``is_leader(now)`` is pure and cheap.

    ``on_change(role, epoch)`` is called in the event loop when the role changes (the collector
    starts or stops writing there)."""

    def __init__(
        self,
        cfg: LeaseConfig,
        url: str,
        holder: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Role, int | None], None] | None = None,
    ) -> None:
        if not holder:
            raise ValueError("lease: empty holder name")
        self.cfg = cfg
        self.url = libpq_url(url)
        self.holder = holder
        self._clock = clock
        self._on_change = on_change
        self._held: Held | None = None
        self._last_attempt = float("-inf")
        self._conn: Any = None  # psycopg.Connection, imported lazily (the postgres extra)
        self._task: asyncio.Task[None] | None = None
        self._reported = Role.STANDBY
        self._failing = False
        self.counters: dict[str, int] = {"attempts": 0, "errors": 0, "acquired": 0, "lost": 0}

    # -- pure views ---------------------------------------------------------------------------
    @property
    def held(self) -> Held | None:
        return self._held

    def role(self, now: float | None = None) -> Role:
        return role_at(self._held, self._clock() if now is None else now)

    def is_leader(self, now: float | None = None) -> bool:
        return self.role(now) is Role.LEADER

    @property
    def epoch(self) -> int | None:
        """The fencing token while leading, else None."""
        held = self._held
        return held.epoch if held is not None and role_at(held, self._clock()) is Role.LEADER else None

    # -- one round (blocking) -----------------------------------------------------------------
    def attempt(self, now: float | None = None) -> Role:
        """Acquire or renew once. A database error leaves the holding to run out by itself."""
        sent_at = self._clock() if now is None else now
        self._last_attempt = sent_at
        self.counters["attempts"] += 1
        held = self._held if role_at(self._held, sent_at) is Role.LEADER else None
        try:
            conn = self._connection()
            row = conn.execute(
                ACQUIRE,
                {
                    "name": self.cfg.name,
                    "holder": self.holder,
                    "lease_s": self.cfg.lease_s,
                    "epoch": held.epoch if held else -1,
                },
            ).fetchone()
        except Exception as exc:  # psycopg.Error, OSError: any failure is "could not renew"
            self._drop_connection()
            self.counters["errors"] += 1
            if not self._failing:  # one line per outage
                log.warning(
                    "ha: cannot reach PostgreSQL for the lease %r (%s); leading at most until the lease runs out",
                    self.cfg.name,
                    exc,
                )
            self._failing = True
            return role_at(self._held, sent_at)
        if self._failing:
            log.info("ha: PostgreSQL reachable again for the lease %r", self.cfg.name)
        self._failing = False
        granted = int(row[0]) if row else None
        before = self._held.epoch if self._held else None
        self._held = after_attempt(held, granted, sent_at, self.cfg.lease_s)
        if granted is not None and granted != before:
            self.counters["acquired"] += 1
        return role_at(self._held, sent_at)

    def release(self) -> None:
        """Give the lease back now (a planned stop): the standby takes over at its next attempt."""
        held, self._held = self._held, None
        if held is None or self._conn is None:
            return
        with contextlib.suppress(Exception):
            self._conn.execute(RELEASE, {"name": self.cfg.name, "holder": self.holder, "epoch": held.epoch})

    def fence(self, conn: Any) -> None:
        """Call first inside a write transaction on ``conn`` (a psycopg connection, not autocommit):
        raises :class:`LostLease` unless this process leads with its epoch; holds a share lock on
        the lease row until the transaction ends, so no takeover can happen in between."""
        held = self._held
        if held is None or not self.is_leader():
            raise LostLease(f"{self.holder} does not lead {self.cfg.name!r}")
        row = conn.execute(FENCE, {"name": self.cfg.name, "holder": self.holder, "epoch": held.epoch}).fetchone()
        if row is None:
            self._held = None
            raise LostLease(f"{self.holder}: epoch {held.epoch} of {self.cfg.name!r} is over")

    def close(self) -> None:
        self._drop_connection()

    # -- the task -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ha-lease")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.release)
        self._report()
        await asyncio.to_thread(self.close)

    async def _run(self) -> None:
        while True:
            now = self._clock()
            if now >= self._last_attempt + self.cfg.renew_every_s:
                await asyncio.to_thread(self.attempt)
            self._report()
            delay = next_wakeup(self._held, self._last_attempt, self.cfg.renew_every_s) - self._clock()
            await asyncio.sleep(min(max(delay, 0.01), self.cfg.renew_every_s))

    def _report(self) -> None:
        role = self.role()
        if role is self._reported:
            return
        self._reported = role
        if role is Role.LEADER:
            log.warning("ha: %s leads %r (epoch %s)", self.holder, self.cfg.name, self.epoch)
        else:
            self.counters["lost"] += 1
            log.warning("ha: %s no longer leads %r", self.holder, self.cfg.name)
        if self._on_change is not None:
            self._on_change(role, self.epoch)

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            timeout_ms = int(self.cfg.lease_s * 500)  # half a lease: a renewal that takes longer is too late anyway
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=self.cfg.connect_timeout_s,
                options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
                application_name=f"likavillkor-ha {self.holder}"[:63],
            )
            # ha_lease if missing, on every new connection (idempotent; losing the race to create it
            # with the other collector is harmless)
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                self._conn.execute(SCHEMA)
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def default_holder() -> str:
    """Host name and process id: unique per running collector."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
