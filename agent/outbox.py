"""The durable outbox (issue 8): every sample and self-test result is written to SQLite on disk
before it is published, and deleted only when the broker's PUBACK for it arrives.

Why: paho keeps unacknowledged QoS 1 messages in memory only, so a crash or power cut while the
broker is unreachable would lose them, and ``MQTTMessageInfo.is_published()`` raises for messages
queued while offline. The courier (``agent.mqtt``) therefore tracks the packet ids itself: it takes
rows in order (:meth:`Outbox.next_batch`), remembers ``mid -> row id`` and calls :meth:`ack` from
``on_publish``. A bounded in-flight window keeps paho's memory small.

Bounded: at most ``max_messages`` rows and ``max_bytes`` of payload. When full, the oldest rows are
dropped first and counted (:attr:`Outbox.dropped`, reported in ``Sample.outbox_dropped``): fresh
data matters more to a chair watching a meeting than a backlog from hours ago.

Thread-safe: the asyncio loop puts, paho's network thread acks; one lock guards the connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded FIFO of MQTT messages in a SQLite file (WAL)."""

    def __init__(self, path: str | Path, *, max_messages: int = 50_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.dropped = 0  # since this process started (wire: Sample.outbox_dropped)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._count = int(count)
        self._bytes = int(size)
        self._cursor = 0  # highest row id handed to the courier

    # -- producer side ----------------------------------------------------------------------
    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store one message; returns its row id. Drops the oldest rows when over a bound."""
        if len(payload) > self.max_bytes:
            raise ValueError(f"message of {len(payload)} bytes exceeds the outbox bound of {self.max_bytes}")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, int(retain)),
            )
            self._count += 1
            self._bytes += len(payload)
            self._enforce_bounds()
            return int(cur.lastrowid or 0)

    def _enforce_bounds(self) -> None:
        dropped = 0
        while self._count > self.max_messages or self._bytes > self.max_bytes:
            over = max(1, self._count - self.max_messages)
            rows = self._db.execute("SELECT id, LENGTH(payload) FROM outbox ORDER BY id LIMIT ?", (over,)).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            self._db.execute("DELETE FROM outbox WHERE id <= ?", (last,))
            self._count -= len(rows)
            self._bytes -= sum(int(r[1]) for r in rows)
            dropped += len(rows)
        if dropped:
            if self.dropped == 0:
                log.warning(
                    "outbox full (%d messages, %d bytes max): dropping the oldest", self.max_messages, self.max_bytes
                )
            self.dropped += dropped

    # -- courier side -----------------------------------------------------------------------
    def next_batch(self, limit: int) -> list[Row]:
        """The next rows not yet handed out, oldest first (at most ``limit``)."""
        if limit <= 0:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (self._cursor, limit),
            ).fetchall()
            if rows:
                self._cursor = int(rows[-1][0])
        return [Row(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), bool(r[4])) for r in rows]

    def rewind(self) -> None:
        """Hand out every stored row again (after the courier lost track of its in-flight rows)."""
        with self._lock:
            self._cursor = 0

    def ack(self, row_id: int) -> None:
        """The broker acknowledged this row: delete it."""
        with self._lock:
            got = self._db.execute("SELECT LENGTH(payload) FROM outbox WHERE id = ?", (row_id,)).fetchone()
            if got is None:
                return  # already dropped by the bound
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self._count -= 1
            self._bytes -= int(got[0])

    # -- introspection ----------------------------------------------------------------------
    def holds(self, row_id: int) -> bool:
        """True while row ``row_id`` is stored (another process sharing the file may have sent it)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM outbox WHERE id = ?", (row_id,)).fetchone() is not None

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()
