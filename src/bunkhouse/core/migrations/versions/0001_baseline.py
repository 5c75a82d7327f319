"""The schema as bunkhouse made it before migrations (create_all of its models, up to commit
d4b18cd): nodes, reservations, reservation_nodes, runs, events, users, tokens.

A database made before migrations has these tables and no alembic_version: it is stamped
with this revision (core/schema.py) and upgraded from here.

Revision ID: 0001
Create Date: 2026-12-01
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
        "reservations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("starts_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("extended_minutes", sa.Integer, nullable=False),
        sa.Column("end_state", sa.String(16), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
    )
    for column in ("username", "state", "ends_at", "owner"):
        op.create_index(f"ix_reservations_{column}", "reservations", [column])
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("ssh_port", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text, nullable=True),
        sa.Column("reservation_id", sa.String(32), sa.ForeignKey("reservations.id"), nullable=True),
        sa.Column("host_keys", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("health_failures", sa.Integer, nullable=True),
        sa.Column("next_check_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_nodes_state", "nodes", ["state"])
    op.create_index("ix_nodes_reservation_id", "nodes", ["reservation_id"])
    op.create_table(
        "reservation_nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reservation_id", sa.String(32), sa.ForeignKey("reservations.id"), nullable=False),
        sa.Column("node_name", sa.String(128), nullable=False),
        sa.Column("ssh_port", sa.Integer, nullable=False),
        sa.Column("host_keys", sa.Text, nullable=True),
        sa.Column("lost_reason", sa.Text, nullable=True),
        sa.Column("replaced_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_reservation_nodes_reservation_id", "reservation_nodes", ["reservation_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ident", sa.String(128), nullable=False),
        sa.Column("playbook", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rc", sa.Integer, nullable=False),
        sa.Column("duration", sa.Double, nullable=False),
        sa.Column("hosts", sa.Text, nullable=False),
        sa.Column("failed_hosts", sa.Text, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reservation_id", sa.String(32), nullable=True),
        sa.Column("node_name", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    for column in ("at", "kind", "reservation_id"):
        op.create_index(f"ix_events_{column}", "events", [column])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("max_nodes", sa.Integer, nullable=True),
        sa.Column("max_duration_minutes", sa.Integer, nullable=True),
        sa.Column("max_lease_minutes", sa.Integer, nullable=True),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
