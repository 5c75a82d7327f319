"""A reservation that has ended keeps no password hash (models.clear_secrets), whichever way
it ended: released, expired, failed, or rolled back by the reconcile."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.reservations.models import Reservation
from helpers.api import reserve


def stored_hash(database, reservation_id: str) -> str:
    with database.read() as session:
        return session.get(Reservation, reservation_id).password_hash


def test_a_reservation_rolled_back_by_the_reconcile_keeps_no_hash(api, app, service, database):
    crashed = reserve(api, username="crashed").body["id"]
    assert stored_hash(database, crashed).startswith("$6$")
    with database.write() as session:
        session.get(Reservation, crashed).state = "provisioning"
        session.execute(update(Container).where(Container.holder == crashed).values(state=S.RESERVING))
    assert app.extensions["bunkhouse.reconciler"].at_start()["rolled_back"] == [crashed]
    assert service.get(crashed).state == "failed"
    assert stored_hash(database, crashed) == ""


def test_a_released_reservation_keeps_no_hash(api, service, database):
    reservation_id = reserve(api).body["id"]
    assert api.delete(f"/api/v1/reservations/{reservation_id}").status == 200
    assert service.get(reservation_id).state == "released"
    assert stored_hash(database, reservation_id) == ""


def test_an_expired_reservation_keeps_no_hash(api, service, database):
    reservation_id = reserve(api).body["id"]
    real = service.clock
    service.clock = lambda: real() + timedelta(hours=2)
    assert service.expire_due() == 1
    assert service.accounts.batcher.drain()
    assert service.get(reservation_id).state == "expired"
    assert stored_hash(database, reservation_id) == ""


def test_a_failed_reservation_keeps_no_hash(api, service, database, fake_runner):
    fake_runner.failing_hosts = {"node-1"}
    answer = reserve(api)
    assert answer.status == 503
    assert stored_hash(database, answer.error["reservation_id"]) == ""
