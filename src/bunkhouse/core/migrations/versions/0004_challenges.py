"""Challenges (with seed 000's challenge_id for those /assign made), their per-team instances
and the host ports those keep (behaviour 2).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "challenges",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=True),
        sa.Column("total_teams", sa.Integer, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("network_index", sa.Integer, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("assign_key", sa.String(64), nullable=True, unique=True),
    )
    op.create_table(
        "challenge_instances",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("challenge_id", sa.String(32), sa.ForeignKey("challenges.id"), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("ports", sa.Text, nullable=False),
        sa.Column("flag", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("challenge_id", "team_id", name="uq_challenge_instances_team"),
    )
    for column in ("challenge_id", "status"):
        op.create_index(f"ix_challenge_instances_{column}", "challenge_instances", [column])
    op.create_table(
        "challenge_ports",
        sa.Column("port", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("instance_id", sa.String(32), sa.ForeignKey("challenge_instances.id"), nullable=False),
    )
    op.create_index("ix_challenge_ports_instance_id", "challenge_ports", ["instance_id"])


def downgrade() -> None:
    op.drop_table("challenge_ports")
    op.drop_table("challenge_instances")
    op.drop_table("challenges")
