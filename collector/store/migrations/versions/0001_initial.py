"""Initial schema: samples, incidents, actions, state changes, verdicts, self-tests, media path,
devices, engine snapshot.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("meeting_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("item", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_actions_meeting", "actions", ["meeting_id"], unique=False)
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "engine_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=400), nullable=False),
        sa.Column("meeting_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("peak_severity", sa.String(length=16), nullable=False),
        sa.Column("adjourned", sa.Boolean(), nullable=False),
        sa.Column("adjourned_s", sa.Float(), nullable=False),
        sa.Column("substitute_called", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_member", "incidents", ["member_id"], unique=False)
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"], unique=False)
    op.create_table(
        "mediapath",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("meeting_id", sa.String(length=200), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("meeting_id", sa.String(length=200), nullable=True),
        sa.Column("msg_id", sa.String(length=140), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("device_ts", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("link", sa.String(length=16), nullable=True),
        sa.Column("battery_charging", sa.Boolean(), nullable=True),
        sa.Column("probe_reachable", sa.Boolean(), nullable=True),
        sa.Column("camera", sa.String(length=200), nullable=True),
        sa.Column("microphone", sa.String(length=200), nullable=True),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
        sa.Column("jitter_ms", sa.Float(), nullable=True),
        sa.Column("loss_percent", sa.Float(), nullable=True),
        sa.Column("mos", sa.Float(), nullable=True),
        sa.Column("battery_percent", sa.Float(), nullable=True),
        sa.Column("battery_minutes_left", sa.Float(), nullable=True),
        sa.Column("tx_kbps", sa.Float(), nullable=True),
        sa.Column("rx_kbps", sa.Float(), nullable=True),
        sa.Column("wifi_signal_dbm", sa.Float(), nullable=True),
        sa.Column("wifi_signal_percent", sa.Float(), nullable=True),
        sa.Column("link_rate_mbps", sa.Float(), nullable=True),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("mem_available_percent", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "msg_id", name="uq_samples_device_msg"),
    )
    op.create_index("ix_samples_member", "samples", ["member_id"], unique=False)
    op.create_index("ix_samples_received_at", "samples", ["received_at"], unique=False)
    op.create_table(
        "selftests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("meeting_id", sa.String(length=200), nullable=True),
        sa.Column("msg_id", sa.String(length=140), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("overall", sa.String(length=16), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "msg_id", name="uq_selftests_device_msg"),
    )
    op.create_table(
        "state_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("meeting_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("old", sa.String(length=32), nullable=False),
        sa.Column("new", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_state_changes_meeting", "state_changes", ["meeting_id", "at"], unique=False)
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("meeting_id", sa.String(length=200), nullable=False),
        sa.Column("old", sa.String(length=32), nullable=False),
        sa.Column("new", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verdicts_meeting", "verdicts", ["meeting_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_verdicts_meeting", table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_index("ix_state_changes_meeting", table_name="state_changes")
    op.drop_table("state_changes")
    op.drop_table("selftests")
    op.drop_index("ix_samples_received_at", table_name="samples")
    op.drop_index("ix_samples_member", table_name="samples")
    op.drop_table("samples")
    op.drop_table("mediapath")
    op.drop_index("ix_incidents_started_at", table_name="incidents")
    op.drop_index("ix_incidents_member", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("engine_snapshot")
    op.drop_table("devices")
    op.drop_index("ix_actions_meeting", table_name="actions")
    op.drop_table("actions")
