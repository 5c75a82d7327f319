"""The schema is kept by migrations: a database made by bunkhouse before migrations existed is
adopted and upgraded with every row kept, the baseline migration is that schema exactly, and
the newest migration is what the models say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bunkhouse.core import schema
from bunkhouse.core.db import Database
from bunkhouse.core.model import Base
from helpers.unit_app import empty_database

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# The models of every layer, so that Base.metadata knows every table.
import bunkhouse.app  # noqa: E402,F401


@pytest.fixture
def database(tmp_path, database_url) -> Database:
    database = Database(database_url or f"sqlite:///{tmp_path / 'old.db'}")
    yield database
    database.dispose()


def build_old_schema(database: Database) -> None:
    ddl = (FIXTURES / f"schema_before_migrations.{database.engine.dialect.name}.sql").read_text()
    with database.engine.begin() as connection:
        for statement in ddl.split(";"):
            lines = [line for line in statement.splitlines() if not line.startswith("--")]
            if "".join(lines).strip():
                connection.exec_driver_sql("\n".join(lines))


OLD_ROWS = {
    "users": [{"id": 1, "name": "admin", "role": "admin", "created_at": "2026-11-30 10:00:00", "max_nodes": None,
               "max_duration_minutes": None, "max_lease_minutes": None},
              {"id": 2, "name": "alice", "role": "user", "created_at": "2026-11-30 10:05:00", "max_nodes": 3,
               "max_duration_minutes": None, "max_lease_minutes": 90}],
    "tokens": [{"id": "0123456789ab", "user_id": 2, "token_hash": "f" * 64, "label": "laptop",
                "created_at": "2026-11-30 10:06:00", "expires_at": None, "revoked_at": None}],
    "reservations": [
        {"id": "a" * 32, "username": "alice", "password_hash": "$6$salt$hash", "count": 2, "state": "active",
         "created_at": "2026-11-30 11:00:00", "starts_at": "2026-11-30 11:00:00", "ends_at": "2026-11-30 12:00:00",
         "ended_at": None, "extended_minutes": 0, "end_state": None, "error": None, "owner": "alice"},
        {"id": "b" * 32, "username": "bob", "password_hash": "$6$salt$other", "count": 1, "state": "released",
         "created_at": "2026-11-30 09:00:00", "starts_at": "2026-11-30 09:00:00", "ends_at": "2026-11-30 10:00:00",
         "ended_at": "2026-11-30 09:30:00", "extended_minutes": 15, "end_state": "released", "error": None,
         "owner": None}],
    "nodes": [
        {"id": 1, "name": "bunkhouse-default-1", "pool": "default", "ssh_port": 22001, "state": "reserved",
         "state_reason": None, "reservation_id": "a" * 32, "host_keys": json.dumps({"ED25519": "SHA256:one"}),
         "updated_at": "2026-11-30 11:00:01", "health_failures": 1, "next_check_at": None},
        {"id": 2, "name": "bunkhouse-default-2", "pool": "default", "ssh_port": 22002, "state": "reserved",
         "state_reason": None, "reservation_id": "a" * 32, "host_keys": None, "updated_at": "2026-11-30 11:00:01",
         "health_failures": None, "next_check_at": None},
        {"id": 7, "name": "bunkhouse-default-3", "pool": "default", "ssh_port": 22003, "state": "quarantined",
         "state_reason": "health check: gone", "reservation_id": None, "host_keys": None,
         "updated_at": "2026-11-30 08:00:00", "health_failures": 4, "next_check_at": "2026-11-30 12:30:00"}],
    "reservation_nodes": [
        {"id": 1, "reservation_id": "a" * 32, "node_name": "bunkhouse-default-1", "ssh_port": 22001,
         "host_keys": None, "lost_reason": None, "replaced_by": None},
        {"id": 2, "reservation_id": "b" * 32, "node_name": "bunkhouse-default-3", "ssh_port": 22003,
         "host_keys": None, "lost_reason": "health check: gone", "replaced_by": "bunkhouse-default-2"}],
    "runs": [{"id": 1, "ident": "20261130T110000-account_batch-0a1b2c3d", "playbook": "account_batch.yml",
              "purpose": "reserve", "status": "successful", "rc": 0, "duration": 1.25, "hosts": "[]",
              "failed_hosts": "[]", "finished_at": "2026-11-30 11:00:01"}],
    "events": [{"id": 3, "at": "2026-11-30 11:00:00", "kind": "reserve_requested", "actor": "alice",
                "reservation_id": "a" * 32, "node_name": None, "detail": json.dumps({"count": 2})},
               {"id": 9, "at": "2026-11-30 11:00:01", "kind": "quarantined", "actor": "health",
                "reservation_id": None, "node_name": "bunkhouse-default-3", "detail": None}],
}


def fill(database: Database) -> None:
    with database.engine.begin() as connection:
        for table, rows in OLD_ROWS.items():
            for row in rows:
                columns = ", ".join(row)
                connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})"),
                                   row)


def rows(database: Database, table: str, order: str = "id") -> list[dict]:
    with database.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))]


def moment(value) -> str:
    """A time as the database gave it back (text on SQLite, a datetime on PostgreSQL), to the second."""
    return str(value)[:19]


def test_a_database_made_before_migrations_is_upgraded_with_every_row(database, tmp_path):
    build_old_schema(database)
    fill(database)
    assert schema.upgrade(database, tmp_path) == schema.head()

    assert [(r["name"], r["role"], r["max_nodes"], r["max_lease_minutes"]) for r in rows(database, "users")] == [
        ("admin", "admin", None, None), ("alice", "user", 3, 90)]
    assert [(r["id"], r["user_id"], r["label"]) for r in rows(database, "tokens")] == [("0123456789ab", 2, "laptop")]
    reservations = rows(database, "reservations", "created_at")
    assert [(r["id"][0], r["state"], r["owner"], r["extended_minutes"]) for r in reservations] == [
        ("b", "released", None, 15), ("a", "active", "alice", 0)]
    # The new column is filled from the old rows, never left at its placeholder.
    assert [moment(r["updated_at"]) for r in reservations] == [moment(r["created_at"]) for r in reservations]
    containers = rows(database, "containers")
    assert [(c["id"], c["name"], c["port"], c["state"], c["holder"], c["failed_probes"], c["template"], c["engine"])
            for c in containers] == [
        (1, "bunkhouse-default-1", 22001, "reserved", "a" * 32, 1, "ssh-node", "local"),
        (2, "bunkhouse-default-2", 22002, "reserved", "a" * 32, 0, "ssh-node", "local"),
        (7, "bunkhouse-default-3", 22003, "quarantined", None, 4, "ssh-node", "local")]
    assert json.loads(containers[0]["host_keys"]) == {"ED25519": "SHA256:one"}
    assert moment(containers[2]["next_probe_at"]) == "2026-11-30 12:30:00"
    assert [(r["node_name"], r["lost_reason"], r["replaced_by"]) for r in rows(database, "reservation_nodes")] == [
        ("bunkhouse-default-1", None, None), ("bunkhouse-default-3", "health check: gone", "bunkhouse-default-2")]
    assert [(r["ident"], r["duration"]) for r in rows(database, "runs")] == [
        ("20261130T110000-account_batch-0a1b2c3d", 1.25)]
    assert [(e["id"], e["kind"], e["lease_id"], e["container"]) for e in rows(database, "events")] == [
        (3, "reserve_requested", "a" * 32, None), (9, "quarantined", None, "bunkhouse-default-3")]
    assert not inspect(database.engine).has_table("nodes")
    # New rows after the copied ones get new ids, not a copied row's id.
    with database.write() as session:
        from bunkhouse.core import events

        events.record(session, "upgraded", "test")
    assert [e["id"] for e in rows(database, "events")][-1] > 9
    # Upgrading again finds nothing to do.
    assert schema.upgrade(database, tmp_path) == schema.head()


def _shape(database: Database) -> dict:
    inspector = inspect(database.engine)
    shape = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        shape[table] = {
            "columns": sorted((c["name"], str(c["type"]).split("(")[0], c["nullable"])
                              for c in inspector.get_columns(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                                   for f in inspector.get_foreign_keys(table)),
        }
    return shape


def test_the_baseline_migration_is_the_schema_bunkhouse_made_before(database, tmp_path):
    schema.upgrade(database, tmp_path, target=schema.BASELINE)
    baseline = _shape(database)
    empty_database(database)
    build_old_schema(database)
    assert _shape(database) == baseline


def test_the_newest_migration_is_what_the_models_say(database, tmp_path):
    schema.upgrade(database, tmp_path)
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_migrations_of_logins_and_lifetimes_go_down_and_up_again(database, tmp_path):
    schema.upgrade(database, tmp_path)
    with database.engine.begin() as connection:
        command.downgrade(schema._alembic(connection), "0004")
        assert schema.current_revision(connection) == "0004"
        assert "teams" not in inspect(connection).get_table_names()
        assert "kind" not in {column["name"] for column in inspect(connection).get_columns("tokens")}
    assert schema.upgrade(database, tmp_path) == schema.head()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
