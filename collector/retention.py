"""Retention of personal data: samples and incident history are kept for a configured number of
days and then purged; ``forget`` deletes everything about one member on request."""

from __future__ import annotations

import sqlalchemy as sa

from collector.store import Store
from collector.store import schema as s

DAY_S = 86_400.0


def purge_statements(now: float, *, samples_days: float, incidents_days: float) -> list[sa.Delete]:
    """Deletes for everything older than its retention period (open incidents are never purged)."""
    samples_before = now - samples_days * DAY_S
    incidents_before = now - incidents_days * DAY_S
    return [
        s.samples.delete().where(s.samples.c.received_at < samples_before),
        s.selftests.delete().where(s.selftests.c.received_at < samples_before),
        s.mediapath.delete().where(s.mediapath.c.at < samples_before),
        s.incidents.delete().where(s.incidents.c.ended_at.is_not(None), s.incidents.c.ended_at < incidents_before),
        s.state_changes.delete().where(s.state_changes.c.at < incidents_before),
        s.verdicts.delete().where(s.verdicts.c.at < incidents_before),
        s.actions.delete().where(s.actions.c.at < incidents_before),
    ]


def purge(store: Store, now: float, *, samples_days: float, incidents_days: float) -> dict[str, int]:
    return store.execute_deletes(purge_statements(now, samples_days=samples_days, incidents_days=incidents_days))


def member_devices(store: Store, member_id: str) -> set[str]:
    found: set[str] = set()
    with store.engine.connect() as conn:
        for table in (s.samples, s.incidents, s.devices):
            q = sa.select(table.c.device_id).where(table.c.member_id == member_id).distinct()
            found.update(r[0] for r in conn.execute(q))
    return found


def forget_statements(member_id: str, device_ids: set[str]) -> list[sa.Delete]:
    devices = list(device_ids)
    return [
        s.samples.delete().where(sa.or_(s.samples.c.member_id == member_id, s.samples.c.device_id.in_(devices))),
        s.selftests.delete().where(sa.or_(s.selftests.c.member_id == member_id,
                                          s.selftests.c.device_id.in_(devices))),
        s.mediapath.delete().where(sa.or_(s.mediapath.c.member_id == member_id,
                                          s.mediapath.c.device_id.in_(devices))),
        s.incidents.delete().where(s.incidents.c.member_id == member_id),
        s.state_changes.delete().where(s.state_changes.c.member_id == member_id),
        s.actions.delete().where(s.actions.c.member_id == member_id),
        s.devices.delete().where(sa.or_(s.devices.c.member_id == member_id, s.devices.c.device_id.in_(devices))),
    ]


def forget_member(store: Store, member_id: str, extra_devices: set[str] | None = None) -> dict[str, int]:
    """Delete one member's samples, self-tests, incidents, state changes and actions."""
    devices = member_devices(store, member_id) | (extra_devices or set())
    return store.execute_deletes(forget_statements(member_id, devices))
