"""Tables. Times are epoch seconds (float, collector clock) unless named ``device_ts``.

``samples`` keeps every stored sample once (unique ``device_id, msg_id``), so "samples published
= samples stored" can be proved by counting. ``samples``, ``incidents``, ``state_changes`` and
``actions`` hold personal data: ``collector.store.retention`` purges them and ``forget`` deletes one member.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_NUMERIC_SAMPLE_FIELDS = (
    "rtt_ms",
    "jitter_ms",
    "loss_percent",
    "mos",
    "battery_percent",
    "battery_minutes_left",
    "tx_kbps",
    "rx_kbps",
    "wifi_signal_dbm",
    "wifi_signal_percent",
    "link_rate_mbps",
    "cpu_percent",
    "mem_available_percent",
)
SAMPLE_NUMERIC_FIELDS: tuple[str, ...] = _NUMERIC_SAMPLE_FIELDS
#: the order of a queued sample row (a tuple, for the fast executemany path)
SAMPLE_COLUMNS: tuple[str, ...] = (
    "device_id",
    "member_id",
    "meeting_id",
    "msg_id",
    "received_at",
    "device_ts",
    "outcome",
    "late",
    "link",
    "battery_charging",
    "probe_reachable",
    "camera",
    "microphone",
    *_NUMERIC_SAMPLE_FIELDS,
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("member_id", sa.String(128)),
    sa.Column("meeting_id", sa.String(200)),
    sa.Column("msg_id", sa.String(140), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("device_ts", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("link", sa.String(16)),
    sa.Column("battery_charging", sa.Boolean),
    sa.Column("probe_reachable", sa.Boolean),
    sa.Column("camera", sa.String(200)),
    sa.Column("microphone", sa.String(200)),
    *[sa.Column(name, sa.Float) for name in _NUMERIC_SAMPLE_FIELDS],
    sa.UniqueConstraint("device_id", "msg_id", name="uq_samples_device_msg"),
    sa.Index("ix_samples_received_at", "received_at"),
    sa.Index("ix_samples_member", "member_id"),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.String(400), primary_key=True),
    sa.Column("meeting_id", sa.String(200), nullable=False),
    sa.Column("body", sa.String(200), nullable=False),
    sa.Column("member_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("peak_severity", sa.String(16), nullable=False),
    sa.Column("adjourned", sa.Boolean, nullable=False),
    sa.Column("adjourned_s", sa.Float, nullable=False),
    sa.Column("substitute_called", sa.Boolean, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Index("ix_incidents_started_at", "started_at"),
    sa.Index("ix_incidents_member", "member_id"),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("meeting_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("member_id", sa.String(128)),
    sa.Column("item", sa.String(200)),
    sa.Column("note", sa.String(2000)),
    sa.Column("substitute_id", sa.String(128)),  # SUBSTITUTE: the ersättare who steps in (H16; 0003)
    sa.Index("ix_actions_meeting", "meeting_id"),
)

state_changes = sa.Table(
    "state_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("meeting_id", sa.String(200), nullable=False),
    sa.Column("member_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("old", sa.String(32), nullable=False),
    sa.Column("new", sa.String(32), nullable=False),
    sa.Column("reason", sa.JSON),
    sa.Index("ix_state_changes_meeting", "meeting_id", "at"),
)

verdicts = sa.Table(
    "verdicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("meeting_id", sa.String(200), nullable=False),
    sa.Column("old", sa.String(32), nullable=False),
    sa.Column("new", sa.String(32), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Index("ix_verdicts_meeting", "meeting_id", "at"),
)

selftests = sa.Table(
    "selftests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("member_id", sa.String(128)),
    sa.Column("meeting_id", sa.String(200)),
    sa.Column("msg_id", sa.String(140), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("overall", sa.String(16), nullable=False),
    sa.Column("checks", sa.JSON, nullable=False),
    sa.UniqueConstraint("device_id", "msg_id", name="uq_selftests_device_msg"),
)

mediapath = sa.Table(
    "mediapath",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("member_id", sa.String(128)),
    sa.Column("meeting_id", sa.String(200)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(128)),
    sa.Column("known", sa.Boolean, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("last_status", sa.String(16)),
)

engine_snapshot = sa.Table(
    "engine_snapshot",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("blob", sa.LargeBinary, nullable=False),
)

#: invitations sent to remote members (H7), one row per sending: ``sequence`` counts the sendings of
#: one member's invitation (the calendar entry's SEQUENCE); the row is claimed (``sending``) before the
#: SMTP call, so two clicks never send twice. Personal data (an e-mail address): retention and forget.
invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("meeting_id", sa.String(200), nullable=False),
    sa.Column("member_id", sa.String(128), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sending | sent | failed
    sa.Column("error", sa.String(500)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.UniqueConstraint("meeting_id", "member_id", "sequence", name="uq_invitations_sending"),
    sa.Index("ix_invitations_meeting", "meeting_id"),
)
