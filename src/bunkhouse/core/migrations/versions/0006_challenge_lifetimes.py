"""Lifetimes of challenge instances: when the janitor ends one, and its hard end.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("challenge_instances", sa.Column("expires_at", sa.DateTime, nullable=True))
    op.add_column("challenge_instances", sa.Column("ends_at", sa.DateTime, nullable=True))
    op.create_index("ix_challenge_instances_expires_at", "challenge_instances", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_challenge_instances_expires_at", "challenge_instances")
    op.drop_column("challenge_instances", "ends_at")  # plain DROP COLUMNs (SQLite 3.35+): no table copy
    op.drop_column("challenge_instances", "expires_at")
