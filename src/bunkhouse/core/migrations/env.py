"""Alembic's environment for bunkhouse: migrations run on the connection core/schema.py hands
over (the service upgrades on start; `./just migrate` does it by hand)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# render_as_batch: on SQLite, a change ALTER TABLE cannot make is made by copying the table.
context.configure(connection=connection, render_as_batch=True, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
