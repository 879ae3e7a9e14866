"""Who is speaking: device id, boot id and the message sequence number (wire ``msg_id``)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field


@dataclass
class Identity:
    """``seq`` numbers samples and self-test results of one boot without gaps, so the collector
    can tell a lost message from a quiet device. Status messages number from
    :data:`STATUS_SEQ_BASE` so that they never make a gap in that series."""

    device_id: str
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _seq: int = 0
    _status_seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_seq(self) -> int:
        with self._lock:
            seq = self._seq
            self._seq += 1
            return seq

    def next_status_seq(self) -> int:
        with self._lock:
            seq = STATUS_SEQ_BASE + self._status_seq
            self._status_seq += 1
            return seq


#: Status messages (online/offline/will) use seq from 2**52 upwards (wire.Seq allows up to 2**53).
STATUS_SEQ_BASE = 2**52
