"""Pools of challenge instances: a pool member's container keeps its name when a team claims it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("challenge_instances", sa.Column("container", sa.String(63), nullable=True))


def downgrade() -> None:
    op.drop_column("challenge_instances", "container")  # a plain DROP COLUMN (SQLite 3.35+): no table copy
