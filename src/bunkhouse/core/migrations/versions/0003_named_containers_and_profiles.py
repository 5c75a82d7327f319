"""Named containers of the containers file, their shared holds, and prepared profiles (seed 004).

- containers: power (absent, starting, running, stopping, stopped, removing, failed; null for
  SSH nodes), healthy, started_at, last_used_at, spec_digest, endpoints, start_seconds.
- container_holds: which lease holds which named container (several may hold one).
- profile_leases: a prepared profile, held until it ends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("containers") as batch:
        batch.add_column(sa.Column("power", sa.String(16), nullable=True))
        batch.add_column(sa.Column("healthy", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("spec_digest", sa.String(32), nullable=True))
        batch.add_column(sa.Column("endpoints", sa.Text, nullable=True))
        batch.add_column(sa.Column("start_seconds", sa.Float, nullable=True))

    op.create_table(
        "container_holds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("container", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("released_at", sa.DateTime, nullable=True),
    )
    for column in ("container", "holder", "released_at"):
        op.create_index(f"ix_container_holds_{column}", "container_holds", [column])

    op.create_table(
        "profile_leases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("containers", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
    )
    for column in ("profile_id", "owner", "ends_at", "ended_at"):
        op.create_index(f"ix_profile_leases_{column}", "profile_leases", [column])


def downgrade() -> None:
    op.drop_table("profile_leases")
    op.drop_table("container_holds")
    with op.batch_alter_table("containers") as batch:
        for column in ("start_seconds", "endpoints", "spec_digest", "last_used_at", "started_at", "healthy", "power"):
            batch.drop_column(column)
