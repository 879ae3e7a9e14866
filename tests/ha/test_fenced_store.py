"""Issue 17: the store's writes are fenced by the lease (collector/runtime/leadership.py
``Leadership.fence`` in ``Store.fence``), on the real PostgreSQL: while this collector leads its
batches are written; once another holds the lease they are dropped and counted, even when this
process still believes it leads (its clock says so, the lease row in the database does not)."""

from __future__ import annotations

import time

from collector.ha.lease import Held, Lease, LeaseConfig
from collector.runtime.leadership import Leadership
from collector.runtime.rows import sample_row
from collector.store import Store
from collector.store import schema as s
from tests.collector.helpers import sample
from tests.support.waiting import wait_until

CFG = LeaseConfig(enabled=True, lease_s=1.0, renew_every_s=0.5)


def _put(store: Store, boot: str, seqs: range) -> None:
    for i in seqs:
        row = sample_row(sample("d1", boot_id=boot, seq=i), member_id="m1", outcome="accepted", received_at=time.time())
        assert store.put("sample", row)


def test_a_leader_writes_and_a_fenced_one_does_not(db_url: str) -> None:
    ha = Leadership(LeaseConfig(enabled=True, holder="a", lease_s=1.0, renew_every_s=0.5), db_url)
    store = Store(db_url, flush_interval_s=0.05)
    store.fence = ha.fence
    store.start()
    other = Lease(CFG, db_url, "b")
    try:
        wait_until(lambda: ha.lease.attempt() == "leader", timeout=30, what="a leads")
        _put(store, "boot-1", range(20))
        assert store.flush(30)
        assert store.count(s.samples) == 20 and store.fenced == 0

        # a's lease runs out on its own clock: it stops leading locally; b takes the row
        wait_until(lambda: not ha.lease.is_leader(), timeout=30, what="a's lease ran out")
        wait_until(lambda: other.attempt() == "leader", timeout=30, what="b leads")
        _put(store, "boot-2", range(10))
        assert store.flush(30)
        assert store.count(s.samples) == 20 and store.fenced >= 1 and ha.fenced >= 1
        # counted as dropped, never as written (/metrics likavillkor_store_written_total)
        assert store.stats.written == 20 and store.stats.dropped == 10

        # a paused process that still believes it leads (its holding forced back): the database's
        # lease row refuses it all the same (the epoch is a fencing token)
        held = ha.lease.held
        epoch = held.epoch if held is not None else 1
        ha.lease._held = Held(epoch, time.monotonic() + 3600)
        fenced = store.fenced
        _put(store, "boot-3", range(10))
        assert store.flush(30)
        assert store.count(s.samples) == 20 and store.fenced > fenced
    finally:
        store.stop()
        other.close()
        ha.lease.close()
