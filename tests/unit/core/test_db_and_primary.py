"""Reads never wait for SQLite's write lock; a read session refuses to write."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import update

from bunkhouse.fleet.models import Container
from helpers.api import Api, make_user
from helpers.unit_app import close, make_app
from helpers.waiting import wait_for


@pytest.fixture
def auth_setting() -> str:
    return "on"


def test_reads_go_on_while_another_connection_holds_the_write_lock(app, api, unit_config):
    """A writer holds SQLite's lock (a long transaction of another process). Token lookups,
    /healthz and lists answer meanwhile: they read a snapshot and take no lock. (Before reads
    began with BEGIN IMMEDIATE, each of them queued behind the writer, then failed when the
    busy timeout ran out.)"""
    if unit_config.database_url:
        pytest.skip("SQLite's write lock; PostgreSQL reads never wait for writers")
    admin = api.as_(unit_config.admin_token_file.read_text().strip())
    alice = admin.as_(make_user(admin, "alice"))
    holder = sqlite3.connect(str(unit_config.instance_dir / "bunkhouse.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answers = {}
    released = threading.Event()

    def read_everything():
        answers["me"] = alice.get("/api/v1/me").status
        answers["health"] = alice.get("/healthz").status
        answers["reservations"] = alice.get("/api/v1/reservations").status
        answers["users"] = admin.get("/api/v1/users").status
        answers["nodes"] = admin.get("/api/v1/nodes").status
        released.set()

    reader = threading.Thread(target=read_everything)
    reader.start()
    # The writer keeps the lock until the reads are done, or longer than the busy timeout.
    released.wait(45)
    holder.execute("ROLLBACK")
    holder.close()
    reader.join(60)
    assert answers == {"me": 200, "health": 200, "reservations": 200, "users": 200, "nodes": 200}


def test_a_read_session_refuses_to_write(database):
    with database.read() as session, pytest.raises(RuntimeError, match="does not write"):
        session.execute(update(Container).values(state="free"))
    with database.read() as session, pytest.raises(RuntimeError, match="does not write"):
        session.get(Container, 1).state = "disabled"
        session.flush()


def test_the_second_process_on_a_database_is_a_secondary_and_touches_nothing(app, api, service, unit_config,
                                                                              fake_runner, fake_engine):
    """One primary per deployment, decided by a lock: a second process on the same database
    (a second gunicorn worker) serves reads, refuses changes, and undoes nothing of the first's."""
    admin = api.as_(unit_config.admin_token_file.read_text().strip())
    fake_runner.hold = threading.Event()
    in_flight = threading.Thread(target=lambda: admin.post("/api/v1/reservations", {
        "username": "alice", "password": "alice-pw", "count": 2}))
    in_flight.start()
    assert wait_for(lambda: service.all(), timeout=10)
    second = make_app(unit_config, fake_runner, fake_engine, nodes=0, start_background=True)
    try:
        other = Api(second.test_client(), admin.token)
        health = other.get("/healthz").body
        assert health["role"] == "secondary" and health["scheduler"]["ok"]
        refused = other.post("/api/v1/reservations", {"username": "bob", "password": "bob-pw"})
        assert refused.status == 503 and refused.error["code"] == "not_primary" and refused.headers["Retry-After"]
        assert other.get("/api/v1/reservations").status == 200  # reads are served
        # The first process's reservation is still in flight, as it was: nothing rolled it back.
        assert [r.state for r in service.all()] == ["provisioning"]
    finally:
        fake_runner.hold.set()
        in_flight.join(10)
        close(second)
    assert [r.state for r in service.all()] == ["active"]


def test_database_errors_are_described_without_their_connection():
    """A driver's text names the server and the user (a URL may carry the password): only the
    class is said. Other errors keep their first line."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from bunkhouse.core.db import describe_error

    leaky = 'connection to server at "db.internal" (10.0.0.5), port 5432 failed: FATAL: password ' \
            'authentication failed for user "bunk_admin"'
    wrapped = OperationalError("SELECT 1", {}, psycopg.OperationalError(leaky))
    assert describe_error(wrapped) == "the database does not answer (OperationalError)"
    assert describe_error(psycopg.OperationalError(leaky)) == "the database does not answer (OperationalError)"
    assert describe_error(sqlite3.OperationalError("unable to open database file")) == (
        "the database does not answer (OperationalError)")
    assert describe_error(RuntimeError("the engine went away\nTraceback ...")) == (
        "RuntimeError: the engine went away")
