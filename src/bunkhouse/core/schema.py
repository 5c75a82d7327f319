"""The database schema, kept by Alembic migrations (core/migrations): the service upgrades the
database when it starts, and `./just migrate` does it by hand.

A database made before migrations existed (tables, no alembic_version) is adopted: the
nullable columns older versions lacked are added (what they did themselves on start), it is
stamped with the baseline revision, and upgraded from there.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bunkhouse.core.db import Database
from bunkhouse.core.primary import migration_lock

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# Nullable columns that versions before the baseline added on start when they were missing.
_BEFORE_BASELINE = {"nodes": {"health_failures": "INTEGER", "next_check_at": "DATETIME"},
                    "reservations": {"owner": "VARCHAR(64)"}}


def _alembic(connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def upgrade(database: Database, instance_dir: Path, target: str = "head") -> str | None:
    """Bring the schema to `target` (the newest by default); returns the revision it is at."""
    with migration_lock(database, instance_dir):
        with database.engine.begin() as connection:
            if current_revision(connection) is None and inspect(connection).has_table("nodes"):
                _adopt(connection)
            command.upgrade(_alembic(connection), target)
            now = current_revision(connection)
    log.info("database schema at revision %s", now)
    return now


def current_revision(connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _adopt(connection) -> None:
    """A database from before migrations: complete it to the baseline and stamp it so."""
    inspector = inspect(connection)
    for table, columns in _BEFORE_BASELINE.items():
        existing = {column["name"] for column in inspector.get_columns(table)} if inspector.has_table(table) else None
        for name, kind in columns.items():
            if existing is not None and name not in existing:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    command.stamp(_alembic(connection), BASELINE)
    log.warning("adopted a database made before migrations: stamped %s", BASELINE)
