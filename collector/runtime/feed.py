"""Messages on their way in: the "thread" ingest mode's inbox, and the sink that turns each
accepted message into store rows and InfluxDB points (collector/mqtt/ingest.py calls it).

Devices on no roster are counted here, bounded (H12): reported in ``/api/health``, never members.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from collector.ha.follow import RecentBuffer
from collector.runtime import rows
from collector.runtime.health import UnknownDevice
from collector.runtime.roster_watch import RosterIndex
from collector.store import Store
from collector.store import influx as fx
from likavillkor import wire

#: at most this many devices on no roster are tracked (H12); more are counted by the ingestor only
UNKNOWN_DEVICES_MAX = 10_000
#: a device row is rewritten at most this often unless its status changes
DEVICE_ROW_EVERY_S = 30.0
#: "thread" ingest mode: messages handled per lock acquisition
INBOX_BATCH = 1000
#: "thread" ingest mode: the engine thread looks at its stop flag at least this often
INBOX_WAIT_S = 0.1


class Inbox:
    """``[ingest] mode = "thread"``: paho's callback only appends; one engine thread drains in
    batches under the engine lock."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, bytes, float]] = deque()
        self._wake = threading.Event()

    def append(self, topic: str, payload: bytes, at: float) -> None:
        self._queue.append((topic, payload, at))
        if not self._wake.is_set():
            self._wake.set()

    def drain(self, stop: threading.Event, lock: threading.RLock, handle: Callable[[str, bytes, float], Any]) -> None:
        """Until ``stop``: hand every queued message to ``handle``, one lock acquisition per batch."""
        queue = self._queue
        while not stop.is_set():
            if not queue:
                self._wake.wait(INBOX_WAIT_S)
                self._wake.clear()
                continue
            with lock:
                for _ in range(min(len(queue), INBOX_BATCH)):
                    topic, payload, at = queue.popleft()
                    handle(topic, payload, at)


def _always() -> bool:
    return True


class Sink:
    """Accepted messages -> rows and points; engine changes -> ``record_changes``.

    ``index`` is the roster in force: the runtime replaces it on reload (under the engine lock).

    ``writing()`` is the gate of issue 17: a standby collector (``[ha]``, not leading) writes
    nothing; the samples and self-tests it receives go to ``recent`` instead (bounded), for the
    takeover's insert-ignore (collector/ha/follow.py)."""

    def __init__(
        self,
        store: Store,
        influx: fx.InfluxWriter | None,
        index: RosterIndex,
        record_changes: Callable[[list[Any]], None],
    ) -> None:
        self.store = store
        self.influx = influx
        self.index = index
        self.record_changes = record_changes
        self.unknown_devices: dict[str, UnknownDevice] = {}
        self._device_written: dict[str, float] = {}
        self.writing: Callable[[], bool] = _always
        self.recent: RecentBuffer | None = None

    def put(self, row: rows.Row) -> None:
        if self.writing():
            self.store.put(row.op, row.as_dict())
        elif self.recent is not None and row.op == "selftest":
            self.recent.add(row.op, row.as_dict(), None)

    def unknown(self, device_id: str, now: float) -> None:
        entry = self.unknown_devices.get(device_id)
        if entry is None:
            if len(self.unknown_devices) >= UNKNOWN_DEVICES_MAX:
                return
            entry = self.unknown_devices[device_id] = UnknownDevice(now, now)
        entry.last_seen = now
        entry.count += 1
        self.note_device(device_id, None, now, known=False)

    def note_device(self, device_id: str, status: str | None, now: float, *, known: bool) -> None:
        last = self._device_written.get(device_id)
        if status is None and last is not None and now - last < DEVICE_ROW_EVERY_S:
            return
        self._device_written[device_id] = now
        self.put(
            rows.DeviceRow(
                device_id=device_id,
                member_id=self.index.member(device_id),
                known=known,
                last_seen=now,
                last_status=status,
            )
        )

    def __call__(self, msg: wire.Message, outcome: str, changes: list[Any], received_at: float) -> None:
        if outcome != "duplicate":
            index = self.index
            member = index.member(msg.device_id)
            if isinstance(msg, wire.Sample):
                row = rows.sample_row(msg, member_id=member, outcome=outcome, received_at=received_at)
                point = None
                if self.influx is not None:
                    body = index.body(msg.device_id, msg.meeting_id, received_at)
                    point = fx.sample_line(msg, member_id=member, body=body, at=received_at)
                if self.writing():
                    self.store.put("sample", row)
                    if self.influx is not None:
                        self.influx.put(point)
                elif self.recent is not None:
                    self.recent.add("sample", row, point)
            elif isinstance(msg, wire.SelftestResult):
                self.put(rows.selftest_row(msg, member_id=member, received_at=received_at))
            self.note_device(
                msg.device_id, str(msg.state) if isinstance(msg, wire.Status) else None, received_at, known=True
            )
        if changes:
            self.record_changes(changes)
