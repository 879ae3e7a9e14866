"""Retention of personal data: every table that names a member or a device is purged after its
configured period; ``forget`` deletes everything about one member on request (GDPR art. 17).

Purge (``[retention]``, checked every ``purge_interval_s`` with the runtime's clock):

* ``samples_days`` (default 90): ``samples``, ``selftests``, ``mediapath`` and ``devices`` not seen
  since then — the raw measurements.
* ``incidents_days`` (default 730): closed ``incidents``, ``state_changes``, ``verdicts``,
  ``actions`` and ``invitations`` (who was invited when, H7: a member's e-mail address) — the record
  of each meeting (H2, H7, H15, H16). Open incidents are never purged.

Forget (one member): rows with their ``member_id`` or one of their devices in ``samples``,
``selftests``, ``mediapath``, ``incidents``, ``state_changes``, ``actions``, ``devices``,
``invitations``; their
entries in ``verdicts.reasons`` (the meeting's verdict row stays, without them); and the engine
snapshot when it mentions them (the running collector writes a new one within seconds).
Kept: meeting-level actions (adjourn, resume, votes: no member id), verdict rows, the roster.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from collector.store import Store
from collector.store import schema as s

DAY_S = 86_400.0

#: every table holding personal data, and the retention setting that applies to it
PERSONAL_TABLES: dict[str, str] = {
    "samples": "samples_days",
    "selftests": "samples_days",
    "mediapath": "samples_days",
    "devices": "samples_days",
    "incidents": "incidents_days",
    "state_changes": "incidents_days",
    "verdicts": "incidents_days",
    "actions": "incidents_days",
    "invitations": "incidents_days",
}


def purge_statements(now: float, *, samples_days: float, incidents_days: float) -> list[sa.Delete]:
    """Deletes for everything older than its retention period (open incidents are never purged)."""
    samples_before = now - samples_days * DAY_S
    incidents_before = now - incidents_days * DAY_S
    return [
        s.samples.delete().where(s.samples.c.received_at < samples_before),
        s.selftests.delete().where(s.selftests.c.received_at < samples_before),
        s.mediapath.delete().where(s.mediapath.c.at < samples_before),
        s.devices.delete().where(s.devices.c.last_seen < samples_before),
        s.incidents.delete().where(s.incidents.c.ended_at.is_not(None), s.incidents.c.ended_at < incidents_before),
        s.state_changes.delete().where(s.state_changes.c.at < incidents_before),
        s.verdicts.delete().where(s.verdicts.c.at < incidents_before),
        s.actions.delete().where(s.actions.c.at < incidents_before),
        s.invitations.delete().where(s.invitations.c.at < incidents_before),
    ]


def purge(store: Store, now: float, *, samples_days: float, incidents_days: float) -> dict[str, int]:
    return store.execute_deletes(purge_statements(now, samples_days=samples_days, incidents_days=incidents_days))


def member_devices(store: Store, member_id: str) -> set[str]:
    found: set[str] = set()
    with store.engine.connect() as conn:
        for table in (s.samples, s.incidents, s.devices, s.selftests, s.mediapath, s.state_changes):
            q = sa.select(table.c.device_id).where(table.c.member_id == member_id).distinct()
            found.update(r[0] for r in conn.execute(q))
    return found


def forget_statements(member_id: str, device_ids: set[str]) -> list[sa.Delete]:
    devices = list(device_ids)
    return [
        s.samples.delete().where(sa.or_(s.samples.c.member_id == member_id, s.samples.c.device_id.in_(devices))),
        s.selftests.delete().where(sa.or_(s.selftests.c.member_id == member_id, s.selftests.c.device_id.in_(devices))),
        s.mediapath.delete().where(sa.or_(s.mediapath.c.member_id == member_id, s.mediapath.c.device_id.in_(devices))),
        s.incidents.delete().where(s.incidents.c.member_id == member_id),
        s.state_changes.delete().where(s.state_changes.c.member_id == member_id),
        s.actions.delete().where(sa.or_(s.actions.c.member_id == member_id, s.actions.c.substitute_id == member_id)),
        s.invitations.delete().where(s.invitations.c.member_id == member_id),
        s.devices.delete().where(sa.or_(s.devices.c.member_id == member_id, s.devices.c.device_id.in_(devices))),
    ]


def scrub_reasons(reasons: Any, member_id: str) -> Any:
    """A verdict's reasons without the entries naming the member (pure)."""
    if not isinstance(reasons, list):
        return reasons
    return [r for r in reasons if not (isinstance(r, dict) and r.get("member_id") == member_id)]


def _scrub_verdicts(conn: sa.Connection, member_id: str) -> int:
    t = s.verdicts
    changed = 0
    for row in conn.execute(sa.select(t.c.id, t.c.reasons)).all():
        kept = scrub_reasons(row.reasons, member_id)
        if kept != row.reasons:
            conn.execute(t.update().where(t.c.id == row.id).values(reasons=kept))
            changed += 1
    return changed


def _drop_snapshot_naming(conn: sa.Connection, needles: list[str]) -> int:
    t = s.engine_snapshot
    row = conn.execute(sa.select(t.c.blob).where(t.c.id == 1)).first()
    if row is None or not any(n.encode() in bytes(row[0]) for n in needles if n):
        return 0
    return int(conn.execute(t.delete().where(t.c.id == 1)).rowcount or 0)


def forget_member(store: Store, member_id: str, extra_devices: set[str] | None = None) -> dict[str, int]:
    """Delete one member's rows (see the module's docstring); rows changed per table."""
    devices = member_devices(store, member_id) | (extra_devices or set())
    out = store.execute_deletes(forget_statements(member_id, devices))
    with store.engine.begin() as conn:
        out["verdicts_scrubbed"] = _scrub_verdicts(conn, member_id)
        out["engine_snapshot"] = _drop_snapshot_naming(conn, [member_id, *devices])
    return out


def remaining(store: Store, member_id: str, device_ids: set[str]) -> dict[str, int]:
    """Rows still naming the member or their devices, per table (0 everywhere after forget)."""
    out: dict[str, int] = {}
    devices = list(device_ids)
    for table in (s.samples, s.selftests, s.mediapath, s.incidents, s.state_changes, s.devices):
        cond = sa.or_(table.c.member_id == member_id, table.c.device_id.in_(devices))
        out[table.name] = store.count(table, cond)
    out["actions"] = store.count(
        s.actions, sa.or_(s.actions.c.member_id == member_id, s.actions.c.substitute_id == member_id)
    )
    out["invitations"] = store.count(s.invitations, s.invitations.c.member_id == member_id)
    out["verdicts"] = sum(1 for r in store.rows(s.verdicts) if scrub_reasons(r["reasons"], member_id) != r["reasons"])
    return out
