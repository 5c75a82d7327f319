"""Finishing or undoing what was left in flight: at start after a crash, and periodically
after a step whose record failed although Ansible succeeded (the database locked, the disk
full), so that no reservation sits provisioning or releasing with its tenant still in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bunkhouse.fleet import transitions
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.reservations.models import HeldNode, Reservation
from helpers.api import reserve
from helpers.waiting import wait_for


@pytest.fixture
def reconciler(app):
    return app.extensions["bunkhouse.reconciler"]


def states(fleet) -> dict[str, str]:
    return {node.name: node.state for node in fleet.members()}


def removals(fake_runner) -> list[tuple[str, str]]:
    return sorted((host, change["name"]) for changes in fake_runner.account_changes()
                  for host, change in changes.items() if change["state"] == "absent")


def later(service, seconds: int):
    """Move the service's clock past the reconcile's bound."""
    real = service.clock
    service.clock = lambda: real() + timedelta(seconds=seconds)


def fails_once(monkeypatch, owner, name: str):
    """The next call of owner.<name> fails as a locked database would: in the transaction that
    records what Ansible did, after Ansible did it."""
    real = getattr(owner, name)

    def failing(*args, **kwargs):
        monkeypatch.setattr(owner, name, real)
        raise OperationalError("UPDATE ...", {}, Exception("database is locked"))

    monkeypatch.setattr(owner, name, failing)


def test_at_start_it_undoes_what_a_crash_left_in_flight(api, service, fleet, database, reconciler, fake_runner):
    kept = reserve(api, username="kept").body["id"]
    releasing = reserve(api, username="leaving").body["id"]
    crashed = reserve(api, username="crashed", count=2).body["id"]
    # Forge the state a kill -9 leaves: one reservation mid-provisioning, one mid-release.
    with database.write() as session:
        session.get(Reservation, crashed).state = "provisioning"
        session.get(Reservation, releasing).state = "releasing"
        session.get(Reservation, releasing).end_state = "released"
        session.execute(update(Container).where(Container.holder == crashed).values(state=S.RESERVING))
    summary = reconciler.at_start()
    assert service.accounts.batcher.drain()
    assert summary["released"] == [releasing] and summary["rolled_back"] == [crashed]
    assert len(summary["cleaned"]) == 2
    assert service.get(crashed).state == "failed"
    assert service.get(releasing).state == "released"
    assert service.get(kept).state == "active"
    assert sorted(states(fleet).values()) == ["free"] * 9 + ["reserved"]
    assert sorted(name for _, name in removals(fake_runner)) == ["crashed", "crashed", "leaving"]


def test_at_start_it_undoes_a_replacement_cut_short(api, service, fleet, database, reconciler):
    body = reserve(api).body
    with database.write() as session:  # as a crash mid-replacement leaves it
        spare = session.scalar(select(Container).where(Container.state == S.FREE))
        spare.state, spare.holder = S.RESERVING, body["id"]
        session.add(HeldNode(reservation_id=body["id"], node_name=spare.name, ssh_port=spare.port))
        spare_name = spare.name
    reconciler.at_start()
    assert wait_for(lambda: states(fleet)[spare_name] == S.FREE, timeout=10)
    view = api.get(f"/api/v1/reservations/{body['id']}").body
    assert next(node for node in view["nodes"] if node["name"] == spare_name)["state"] == "lost"
    assert view["state"] == "active"


def test_at_start_it_cleans_a_replacement_taken_back_when_the_crash_came(api, service, fleet, database, reconciler,
                                                                         fake_runner):
    """The reservation ended while its replacement was made; the replacement was being taken
    back (releasing) when the service died: the next start removes the account and frees it."""
    body = reserve(api).body
    assert api.delete(f"/api/v1/reservations/{body['id']}").status == 200
    with database.write() as session:
        spare = session.scalar(select(Container).where(Container.state == S.FREE))
        spare.state, spare.holder = S.RELEASING, body["id"]
        spare_name = spare.name
    reconciler.at_start()
    assert wait_for(lambda: states(fleet)[spare_name] == S.FREE, timeout=10)
    assert (spare_name, "alice") in removals(fake_runner)


def test_a_reservation_whose_record_failed_after_ansible_is_rolled_back_past_the_bound(
        api, service, fleet, reconciler, monkeypatch, fake_runner):
    fails_once(monkeypatch, transitions, "hold")
    answer = reserve(api, count=2)
    # The accounts exist on the nodes, but the service could not record it: still provisioning.
    assert answer.status == 202 and answer.body["state"] == "provisioning"
    assert reconciler.periodic()["rolled_back"] == []  # within the bound: left alone
    later(service, 121)
    assert reconciler.periodic()["rolled_back"] == [answer.body["id"]]
    assert service.accounts.batcher.drain()
    reservation = service.get(answer.body["id"])
    assert reservation.state == "failed" and "never completed" in reservation.error
    # The tenant lost the access it had: the accounts are gone, the nodes free.
    assert removals(fake_runner) == [("node-1", "alice"), ("node-2", "alice")]
    assert set(states(fleet).values()) == {S.FREE}


def test_a_release_whose_record_failed_is_released_again_past_the_bound(api, service, fleet, reconciler,
                                                                         monkeypatch, fake_runner):
    body = reserve(api).body
    fails_once(monkeypatch, service.accounts, "give_back")
    api.delete(f"/api/v1/reservations/{body['id']}")
    assert service.get(body["id"]).state == "releasing"
    later(service, 121)
    assert reconciler.periodic()["released"] == [body["id"]]
    assert service.accounts.batcher.drain()
    assert service.get(body["id"]).state == "released"
    assert set(states(fleet).values()) == {S.FREE}


def test_work_in_flight_is_never_reconciled_whatever_its_age(api, service, reconciler, fake_runner):
    import threading

    fake_runner.hold = threading.Event()
    waiting = threading.Thread(target=lambda: reserve(api))
    waiting.start()
    assert wait_for(lambda: fake_runner.calls, timeout=10)
    later(service, 3600)
    assert reconciler.periodic() == {"rolled_back": [], "released": [], "cleaned": [], "replaced": []}
    fake_runner.hold.set()
    waiting.join(10)
    assert service.all()[0].state == "active"


def test_a_loss_that_went_unrecorded_is_replaced(api, service, fleet, database, reconciler):
    """The node was quarantined but the replacement never happened (the listener failed): the
    reservation's record still names it; the reconcile marks it lost and replaces it."""
    body = reserve(api).body
    lost = body["nodes"][0]["name"]
    with database.write() as session:
        session.execute(update(Container).where(Container.name == lost)
                        .values(state=S.QUARANTINED, holder=None, state_reason="probe: gone"))
    later(service, 121)
    assert reconciler.periodic()["replaced"] == [lost]
    view = wait_for(lambda: (lambda v: v if any(n["state"] == "reserved" for n in v["nodes"]) else None)(
        api.get(f"/api/v1/reservations/{body['id']}").body), timeout=10)
    assert view and next(n for n in view["nodes"] if n["name"] == lost)["state"] == "lost"
