"""Teams of API users, one-time team invites, and logins (seed 003): users gain email, zone,
is_active, a password hash and a team; tokens gain their kind (api, access, refresh) and the
login session they belong to.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    # Plain ADD COLUMNs, no batch: copying `users` on SQLite would drop a table `tokens` refers to.
    op.add_column("users", sa.Column("email", sa.String(254), nullable=True))
    op.add_column("users", sa.Column("zone", sa.String(50), nullable=True))
    op.add_column("users", sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("users", sa.Column("password_hash", sa.String(255), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # (A downgrade on SQLite leaves the column: see downgrade.)
        if "team_id" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("users")}:
            op.execute("ALTER TABLE users ADD COLUMN team_id VARCHAR(16) REFERENCES teams (id)")
    else:
        op.add_column("users", sa.Column("team_id", sa.String(16), nullable=True))
        op.create_foreign_key("fk_users_team_id", "users", "teams", ["team_id"], ["id"])
    op.create_index("ix_users_team_id", "users", ["team_id"])
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.add_column("tokens", sa.Column("kind", sa.String(8), nullable=False, server_default="api"))
    op.add_column("tokens", sa.Column("session_id", sa.String(32), nullable=True))
    op.create_index("ix_tokens_session_id", "tokens", ["session_id"])
    op.create_table(
        "team_invites",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(16), sa.ForeignKey("teams.id"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=True),
        sa.Column("used_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_team_invites_team_id", "team_invites", ["team_id"])


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+), no batch: copying `users` would drop a table `tokens`
    # refers to. SQLite cannot drop a column with a REFERENCES clause: there users.team_id stays,
    # emptied (the models before this revision do not know it).
    op.drop_table("team_invites")
    op.drop_index("ix_tokens_session_id", "tokens")
    op.drop_index("uq_users_email", "users")
    op.drop_index("ix_users_team_id", "users")
    op.drop_column("tokens", "session_id")
    op.drop_column("tokens", "kind")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE users SET team_id = NULL")
    else:
        op.drop_constraint("fk_users_team_id", "users", type_="foreignkey")
        op.drop_column("users", "team_id")
    for column in ("password_hash", "is_active", "zone", "email"):
        op.drop_column("users", column)
    op.drop_table("teams")
