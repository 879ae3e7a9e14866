"""PUBACKs held until the store has the message (issue 8, H2: nothing lost).

The collector's persistent session (``clean_start=False``) only helps with what the collector has
*not* acknowledged: the broker redelivers unacknowledged QoS 1 messages after a reconnect, never
acknowledged ones. Acknowledging a sample as soon as it passed ingest, while its row still waited in
the store's queue (up to ``[store] flush_interval_s``, longer under load), lost it for good when the
collector was killed in that window (tests/faults/test_nothing_lost.py: "lost 1 [92]";
tests/faults/test_collector_kill_acked.py hits the window on purpose).

So the lean read path (collector/mqtt/readpath.py) holds each PUBACK with a *ticket*: the store's
count of rows queued so far, taken right after the message was handled (inline ingest puts its rows
synchronously). The PUBACK goes out once the store has written or given up everything up to that
ticket (:func:`releasable`). Not held - acknowledged at once, as before:

* while the store is failing (its rows wait in memory either way; holding would stall the live feed,
  since the broker sends at most ``max_inflight_messages`` unacknowledged messages);
* after ``hold_s`` (a bound on how long the broker's in-flight window can be held up);
* beyond ``max_held`` held acknowledgements, the oldest (a bound on memory).

PUBACKs keep the order of their PUBLISH packets (MQTT v5 4.6).

Held PUBACKs belong to one connection: they are forgotten on every connect and disconnect, and the
broker redelivers those messages on the next connection (the engine counts them ``duplicate``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: the longest a PUBACK waits for the store (seconds)
HOLD_S = 5.0
#: at most this many PUBACKs held per connection
MAX_HELD = 10_000


def releasable(ticket: int, since: float, done: int, store_up: bool, now: float, hold_s: float) -> bool:
    """Pure: may the PUBACK of a message handled at ``since`` with ``ticket`` go out now?"""
    return ticket <= done or not store_up or now - since >= hold_s


class AckGate:
    """The held PUBACKs of one MQTT connection, in arrival order. ``ticket()``: rows queued so far;
    ``done()``: rows written or given up; ``store_up()``: the store's last write succeeded."""

    def __init__(
        self,
        *,
        ticket: Callable[[], int],
        done: Callable[[], int],
        store_up: Callable[[], bool],
        hold_s: float = HOLD_S,
        max_held: int = MAX_HELD,
        clock: Callable[[], float] = time.monotonic,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        """``wake``: tell the store someone waits (it writes now instead of after its flush interval)."""
        self._ticket = ticket
        self._wake = wake
        self._done = done
        self._store_up = store_up
        self._hold_s = hold_s
        self._max_held = max_held
        self._clock = clock
        self._held: deque[tuple[int, float, int]] = deque()  # (ticket, since, mid)
        self._lock = threading.Lock()
        self.released_unstored = 0  # PUBACKs sent before the store had the row (store down, hold_s, full)

    def hold(self, mid: int) -> bool:
        """Hold the PUBACK of ``mid`` (call right after the message was handled). False: send it now."""
        if not self._store_up():
            return False  # the caller sends what is due (all of it, the store being down) first
        with self._lock:
            self._held.append((self._ticket(), self._clock(), mid))
        self._wake()
        return True

    def due(self) -> list[int]:
        """The packet ids whose PUBACK may go out now, in order."""
        out: list[int] = []
        with self._lock:
            if not self._held:
                return out
            done, up, now = self._done(), self._store_up(), self._clock()
            while self._held:
                ticket, since, mid = self._held[0]
                over = len(self._held) > self._max_held
                if not over and not releasable(ticket, since, done, up, now, self._hold_s):
                    break
                if ticket > done:
                    self.released_unstored += 1
                self._held.popleft()
                out.append(mid)
        return out

    def held(self) -> int:
        return len(self._held)

    def forget(self) -> None:
        """A new connection (or none): the broker redelivers what was held."""
        with self._lock:
            self._held.clear()
