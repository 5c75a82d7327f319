"""Retention: ended reservations (with their held nodes and events) and run records go after
BUNKHOUSE_RETENTION_DAYS, every event after BUNKHOUSE_AUDIT_RETENTION_DAYS (the audit of users
and tokens is kept that long), and no ended reservation keeps its password hash. On the unit
database (SQLite, and PostgreSQL when given), with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bunkhouse.config import RetentionSettings
from bunkhouse.core.events import Event
from bunkhouse.reservations.models import HeldNode, Reservation, clear_secrets
from bunkhouse.reservations.retention import Retention
from bunkhouse.runner.records import Run
from helpers.api import reserve

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HASH = "$6$salt$hash"


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_reservation(session, reservation_id: str, state: str, ended_days_ago: float | None) -> None:
    ended = None if ended_days_ago is None else days_ago(ended_days_ago)
    start = days_ago((ended_days_ago or 0) + 1)
    session.add(Reservation(id=reservation_id, username="alice", password_hash=HASH, count=1, state=state,
                            created_at=start, starts_at=start, ends_at=ended or NOW + timedelta(hours=1),
                            ended_at=ended))
    session.flush()
    session.add(HeldNode(reservation_id=reservation_id, node_name=f"node-of-{reservation_id}", ssh_port=30001))
    session.add(Event(at=start, kind="reserved", actor="alice", lease_id=reservation_id))


def add_event(session, kind: str, age_days: float, lease_id: str | None = None) -> None:
    session.add(Event(at=days_ago(age_days), kind=kind, actor="admin", lease_id=lease_id))


def add_run(session, ident: str, age_days: float) -> None:
    session.add(Run(ident=ident, playbook="account_batch.yml", purpose="reserve", status="successful", rc=0,
                    duration=1.0, hosts=[], failed_hosts=[], finished_at=days_ago(age_days)))


def retention(database, **settings) -> Retention:
    return Retention(database, RetentionSettings(**settings), clock=lambda: NOW)


def test_old_ended_reservations_runs_and_events_are_pruned_and_the_audit_kept_a_year(database):
    with database.write() as session:
        add_reservation(session, "old-released", "released", 31)
        add_reservation(session, "old-expired", "expired", 40)
        add_reservation(session, "old-failed", "failed", 365)
        add_reservation(session, "recent-released", "released", 29)
        add_reservation(session, "active", "active", None)
        add_event(session, "user_created", 364)
        add_event(session, "token_created", 366)
        add_event(session, "quarantined", 400, lease_id="active")
        add_run(session, "old-run", 31)
        add_run(session, "recent-run", 29)

    done = retention(database).run()

    # Every ended hash is cleared first (the pruned ones with the rest), then the old rows go.
    assert done == {"hashes_cleared": 4, "reservations": 3, "events": 5, "runs": 1}
    with database.read() as session:
        assert sorted(session.scalars(select(Reservation.id))) == ["active", "recent-released"]
        assert sorted(session.scalars(select(HeldNode.reservation_id))) == ["active", "recent-released"]
        # The audit of users and tokens is kept a year; the lease events of kept reservations stay.
        assert sorted((e.kind, e.lease_id) for e in session.scalars(select(Event))) == [
            ("reserved", "active"), ("reserved", "recent-released"), ("user_created", None)]
        assert list(session.scalars(select(Run.ident))) == ["recent-run"]
        hashes = dict(session.execute(select(Reservation.id, Reservation.password_hash)).all())
    # Only the reservation that is still current keeps its hash.
    assert hashes == {"active": HASH, "recent-released": ""}


def test_a_retention_of_zero_keeps_everything_but_no_ended_hash(database):
    with database.write() as session:
        add_reservation(session, "ancient", "released", 5000)
        add_event(session, "user_created", 5000)
        add_run(session, "ancient-run", 5000)
    assert retention(database, days=0, audit_days=0).run() == {
        "hashes_cleared": 1, "reservations": 0, "events": 0, "runs": 0}
    with database.read() as session:
        assert session.get(Reservation, "ancient").password_hash == ""
        assert len(session.scalars(select(Event)).all()) == 2
        assert session.scalars(select(Run.ident)).all() == ["ancient-run"]


def test_clear_secrets_clears_the_hash(database):
    with database.write() as session:
        add_reservation(session, "ending", "active", None)
    with database.write() as session:
        clear_secrets(session.get(Reservation, "ending"))
    with database.read() as session:
        assert session.get(Reservation, "ending").password_hash == ""


def test_the_retention_round_runs_at_start_and_daily(app):
    jobs = app.extensions["bunkhouse.lifecycle"].jobs
    jobs.register()
    assert "retention" in jobs.scheduler.job_ids()


def test_a_released_reservation_keeps_no_password_hash_once_the_job_ran(api, app, database):
    reservation_id = reserve(api).body["id"]
    assert api.delete(f"/api/v1/reservations/{reservation_id}").status == 200
    retention(database).clear_ended_secrets()
    with database.read() as session:
        assert session.get(Reservation, reservation_id).password_hash == ""
