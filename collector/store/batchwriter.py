"""A bounded queue in front of one background thread that writes items in batches.

Shared by the InfluxDB output (:mod:`collector.store.influx`) and the store (:mod:`collector.store.db`).
:meth:`BatchWriter.put` never blocks: when the queue is full the new item is dropped and counted.
``write_batch(items)`` raises on failure; the writer then retries with doubling back-off (up to
``retry_max_s``) according to its :class:`OnFailure` policy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class OnFailure(StrEnum):
    """What happens to a batch whose write failed."""

    #: back to the front of the queue (what does not fit is dropped); stop ends the retries
    REQUEUE = "requeue"
    #: kept in hand and retried; after stop, dropped once the back-off has reached its maximum
    HOLD = "hold"


class Pacing(StrEnum):
    """When the writer waits ``flush_interval_s`` before taking a batch."""

    #: before each drain round, so items batch up (or until the queue holds a full batch)
    LINGER = "linger"
    #: only when the queue is empty
    IDLE = "idle"


class Discarded(Exception):  # not an error: the batch is done with, unwritten
    """Raised by ``write_batch``: these items are not to be written, ever (a fenced store batch,
    issue 17). Counted as dropped, not written, and not retried."""


@dataclass
class WriterStats:
    written: int = 0
    dropped: int = 0
    failures: int = 0
    last_error: str = ""
    connected: bool = True


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of the error (``limit`` chars), or its type name when it has no text."""
    text = str(exc)
    return text.splitlines()[0][:limit] if text else type(exc).__name__


@dataclass(frozen=True)
class FailureLog:
    """How failures show: one warning per new error, ``message % (pending, detail)``."""

    logger: logging.Logger
    message: str
    error_text: Callable[[BaseException], str] = first_line
    log_detail: Callable[[BaseException], str] = first_line
    resumed: str | None = None


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write_batch: Callable[[list[T]], None],
        stats: WriterStats,
        failure_log: FailureLog,
        *,
        name: str,
        batch: int,
        max_items: int,
        flush_interval_s: float,
        retry_initial_s: float,
        retry_max_s: float,
        on_failure: OnFailure,
        pacing: Pacing,
    ) -> None:
        self._write_batch = write_batch
        self.stats = stats
        self._log = failure_log
        self._name = name
        self._batch = batch
        self._max = max_items
        self._flush_interval_s = flush_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._on_failure = on_failure
        self._pacing = pacing
        self._queue: deque[T] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draining = False
        self._inflight = 0
        self._n_enqueued = 0
        self._n_done = 0  # written or dropped after being queued
        #: called (writer thread) after each batch written or dropped: collector/mqtt/ackgate.py
        self.on_done: list[Callable[[], None]] = []

    # -- caller side -----------------------------------------------------------------------------
    def put(self, item: T) -> bool:
        """Queue one item; never blocks. False (and counted in ``dropped``) when the queue is full."""
        with self._lock:
            if len(self._queue) >= self._max:
                self.stats.dropped += 1
                return False
            self._queue.append(item)
            self._n_enqueued += 1
            full = len(self._queue) >= self._batch
        if full and self._pacing is Pacing.LINGER:
            self._wake.set()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Flush, then end the thread (the owner closes its connection afterwards)."""
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is written or dropped (or ``timeout``). True when done."""
        target = self._n_enqueued
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._n_done < target:
            if time.monotonic() >= deadline or self._thread is None:
                return False
            time.sleep(0.01)
        return True

    @property
    def enqueued(self) -> int:
        """Items queued since the start (a ticket: compare with :attr:`done`)."""
        return self._n_enqueued

    @property
    def done(self) -> int:
        """Items written or dropped since the start; items leave in queue order."""
        return self._n_done

    def wake(self) -> None:
        """Write what is queued now instead of after ``flush_interval_s`` (someone waits for it)."""
        self._wake.set()

    def _notify(self) -> None:
        for callback in self.on_done:
            try:
                callback()
            except Exception as exc:  # a listener must not stop the writer
                self._log.logger.error("%s: listener failed: %s", self._name, first_line(exc))

    def queued(self) -> int:
        """Items waiting in the queue."""
        return len(self._queue)

    def pending(self) -> int:
        """Items waiting in the queue or being written."""
        with self._lock:
            return len(self._queue) + self._inflight

    # -- writer thread ---------------------------------------------------------------------------
    def _should_wait(self) -> bool:
        if self._pacing is Pacing.LINGER:
            return not self._draining
        return not self._queue

    def _take(self) -> list[T]:
        if self._should_wait():
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()
            self._draining = True
        with self._lock:
            n = min(self._batch, len(self._queue))
            items = [self._queue.popleft() for _ in range(n)]
            self._inflight = n
        if not items:
            self._draining = False
        return items

    def _requeue(self, items: list[T]) -> None:
        with self._lock:
            room = self._max - len(self._queue)
            keep = items[:room] if room > 0 else []
            lost = len(items) - len(keep)
            self.stats.dropped += lost
            self._n_done += lost
            self._queue.extendleft(reversed(keep))
            self._inflight = 0

    def _drop(self, items: list[T]) -> None:
        with self._lock:
            self.stats.dropped += len(items)
            self._n_done += len(items)
            self._inflight = 0

    def _note_failure(self, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.connected = False
        text = self._log.error_text(exc)
        if text != self.stats.last_error:
            self._log.logger.warning(self._log.message, self.pending(), self._log.log_detail(exc))
        self.stats.last_error = text

    def _note_reached(self) -> None:
        if not self.stats.connected and self._log.resumed:
            self._log.logger.warning(self._log.resumed)
        self.stats.connected = True

    def _note_success(self, items: list[T]) -> None:
        self._note_reached()
        with self._lock:
            self._inflight = 0
            self._n_done += len(items)
        self.stats.written += len(items)

    def _retry_ends(self, items: list[T], delay: float) -> bool:
        """After a failed write: back off; True when the thread should end."""
        if self._on_failure is OnFailure.REQUEUE:
            self._requeue(items)
            return self._stop.wait(delay)
        if self._stop.wait(delay) and self._stop.is_set() and delay >= self._retry_max_s:
            self._drop(items)
            return True
        return False

    def _run(self) -> None:
        held: list[T] = []
        delay = self._retry_initial_s
        while True:
            if not held:
                if self._stop.is_set() and not self._queue:
                    return
                held = self._take()
                if not held:
                    continue
            try:
                self._write_batch(held)
            except Discarded:  # the sink was reached and refused them for good
                self._note_reached()
                self._drop(held)
                self._notify()
                held = []
                continue
            except Exception as exc:  # any write error: keep the items and retry later
                self._note_failure(exc)
                if self._retry_ends(held, delay):
                    return
                if self._on_failure is OnFailure.REQUEUE:
                    held = []
                delay = min(delay * 2, self._retry_max_s)
                continue
            self._note_success(held)
            self._notify()
            held = []
            delay = self._retry_initial_s
