"""The engine's durable state through the store (collector/engine/snapshot.py encodes it): restored
once at start, the restart counted as the collector's own gap (issue 11); saved by housekeeping and
at stop, only by the writing collector (a standby's engine is the leader's, issue 17).

Functions of the :class:`~collector.runtime.core.Runtime` (it delegates to them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.runtime.core import Runtime

log = logging.getLogger(__name__)


def restore(rt: Runtime) -> None:
    """Continue from the stored snapshot, if any; an unreadable one is logged and the engine starts fresh."""
    try:
        blob = rt.store.load_snapshot()
    except Exception as exc:
        log.warning("cannot read the engine snapshot: %s", exc)
        return
    if blob:
        with rt.lock:
            now = rt.clock()
            rt.engine.restore(blob, now)
            # the restart was the collector's own gap: its reflector and ingest were away (issue 11)
            rt._record_changes(rt.engine.own_gap(None, now))
        log.info("engine state restored from the snapshot (%d bytes)", len(blob))


def save(rt: Runtime, *, direct: bool = False) -> None:
    """Queue the snapshot for the store (``direct``: write it now, a failure logged)."""
    if not rt.writing():  # a standby's engine is the leader's; the leader's snapshot is stored
        return
    with rt.lock:
        blob = rt.engine.snapshot()
    now = rt.clock()
    if direct:
        try:
            rt.store.save_snapshot_now(blob, now)
        except Exception as exc:
            log.warning("cannot save the engine snapshot: %s", exc)
    else:
        rt.store.put("snapshot", {"id": 1, "at": now, "blob": blob})
