"""A lease holder as a real process, for the split-brain test: runs :class:`collector.ha.lease.Lease`
and, while it believes it leads, writes a row per 50 ms into ``ha_writes`` inside a fenced
transaction. Prints one JSON line per event on stdout (its own monotonic clock in ``t``):
``role`` (leader/standby, epoch), ``resumed`` (the loop saw a gap longer than the lease: it was
stopped), ``fenced`` (a write was refused: LostLease)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import psycopg

from collector.ha.lease import Lease, LeaseConfig, LostLease, Role, libpq_url


def emit(**fields: object) -> None:
    sys.stdout.write(json.dumps({"t": time.monotonic(), **fields}) + "\n")
    sys.stdout.flush()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--holder", required=True)
    ap.add_argument("--lease-s", type=float, default=3.0)
    ap.add_argument("--renew-every-s", type=float, default=0.5)
    args = ap.parse_args()
    cfg = LeaseConfig(enabled=True, lease_s=args.lease_s, renew_every_s=args.renew_every_s)
    lease = Lease(
        cfg, args.url, args.holder, on_change=lambda role, epoch: emit(event="role", role=str(role), epoch=epoch)
    )
    writer = psycopg.connect(libpq_url(args.url), connect_timeout=5)
    writer.execute("CREATE TABLE IF NOT EXISTS ha_writes (id bigserial PRIMARY KEY, holder text, epoch bigint)")
    writer.commit()
    await lease.start()
    last = time.monotonic()
    fenced = False
    try:
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if now - last > cfg.lease_s:
                emit(event="resumed", gap=now - last)
            last = now
            if lease.role() is not Role.LEADER and fenced:
                continue
            try:
                with writer.transaction():
                    lease.fence(writer)
                    held = lease.held
                    assert held is not None
                    writer.execute("INSERT INTO ha_writes (holder, epoch) VALUES (%s, %s)", (args.holder, held.epoch))
                fenced = False
            except LostLease as exc:
                if not fenced:
                    emit(event="fenced", reason=str(exc))
                fenced = True
    finally:
        await lease.stop()
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
