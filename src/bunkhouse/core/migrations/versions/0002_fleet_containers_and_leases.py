"""The layered layout: the fleet's containers and the leases that hold them.

- nodes becomes containers: reservation_id becomes holder (an opaque lease id: the fleet
  knows no product, so no foreign key to reservations), ssh_port becomes port, and each row
  says its template (ssh-node) and engine (local); health_failures and next_check_at become
  failed_probes (never null) and next_probe_at.
- events: reservation_id becomes lease_id, node_name becomes container.
- reservations: updated_at (never null; filled with created_at), for the periodic reconcile.

Rows are copied with their ids (an event id is a paging cursor), and the sequences of the new
tables continue after them on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "containers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.Text, nullable=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("host_keys", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("failed_probes", sa.Integer, nullable=False),
        sa.Column("next_probe_at", sa.DateTime, nullable=True),
    )
    op.execute(
        "INSERT INTO containers (id, name, pool, template, engine, port, state, state_reason, holder, host_keys,"
        " updated_at, failed_probes, next_probe_at)"
        " SELECT id, name, pool, 'ssh-node', 'local', ssh_port, state, state_reason, reservation_id, host_keys,"
        " updated_at, COALESCE(health_failures, 0), next_check_at FROM nodes")
    op.drop_table("nodes")
    op.create_index("ix_containers_state", "containers", ["state"])
    op.create_index("ix_containers_holder", "containers", ["holder"])

    op.create_table(
        "events_v2",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("lease_id", sa.String(32), nullable=True),
        sa.Column("container", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.execute("INSERT INTO events_v2 (id, at, kind, actor, lease_id, container, detail)"
               " SELECT id, at, kind, actor, reservation_id, node_name, detail FROM events")
    op.drop_table("events")
    op.rename_table("events_v2", "events")
    for column in ("at", "kind", "lease_id"):
        op.create_index(f"ix_events_{column}", "events", [column])

    # ADD COLUMN with a default works on every database (SQLite cannot add a NOT NULL column
    # without one); then each row gets its real value.
    op.add_column("reservations", sa.Column("updated_at", sa.DateTime, nullable=False,
                                            server_default=sa.text("'1970-01-01 00:00:00'")))
    op.execute("UPDATE reservations SET updated_at = created_at")

    if op.get_bind().dialect.name == "postgresql":
        for table in ("containers", "events"):
            op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                       f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
