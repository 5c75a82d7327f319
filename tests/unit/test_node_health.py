"""The health job's decisions, with a fake engine and a fake SSH probe (the real-stack test is
tests/integration/test_background_jobs.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bunkhouse import engine
from bunkhouse.engine import NodeContainer
from bunkhouse.models import DISABLED, FREE, QUARANTINED, RESERVED, Event, Node
from bunkhouse.node_health import HealthChecker
from bunkhouse.passwords import verify_password


class FakeEngine:
    def __init__(self, names):
        self.running = {name: True for name in names}
        self.down = False
        self.bad_ssh: set[str] = set()

    def containers(self, pool):
        if self.down:
            raise RuntimeError("Cannot connect to the Docker daemon")
        return [NodeContainer(name, 30000 + int(name.split("-")[1]), running) for name, running in self.running.items()]

    def probe(self, host, port, keys):
        name = f"node-{port - 30000}"
        return "sshd does not answer" if name in self.bad_ssh else None


@pytest.fixture
def fake_engine(service):
    with service.sessions() as session:
        return FakeEngine([node.name for node in session.scalars(select(Node))])


@pytest.fixture
def checker(service, fake_engine, monkeypatch):
    monkeypatch.setattr(engine, "host_key_fingerprints", lambda name: {"ED25519": f"SHA256:new-{name}"})
    return HealthChecker(service, probe=fake_engine.probe, containers=fake_engine.containers)


def states(service) -> dict[str, str]:
    with service.sessions() as session:
        return {node.name: node.state for node in session.scalars(select(Node))}


def reserve(client, username="alice", count=1):
    response = client.post("/api/v1/reservations", json={"username": username, "password": "pw-123456",
                                                          "count": count, "duration_minutes": 30})
    assert response.status_code == 201, response.json
    return response.json


def test_one_failure_is_not_enough_two_in_a_row_quarantine(service, checker, fake_engine):
    fake_engine.bad_ssh = {"node-3"}
    assert checker.check_all()["failing"] == ["node-3"]
    assert states(service)["node-3"] == FREE
    assert checker.check_all()["quarantined"] == ["node-3"]
    assert states(service)["node-3"] == QUARANTINED


def test_a_passing_check_resets_the_count(service, checker, fake_engine):
    fake_engine.bad_ssh = {"node-3"}
    checker.check_all()
    fake_engine.bad_ssh = set()
    checker.check_all()
    fake_engine.bad_ssh = {"node-3"}
    checker.check_all()
    assert states(service)["node-3"] == FREE


def test_a_dead_reserved_node_is_replaced_with_the_same_account(client, service, checker, fake_engine,
                                                               fake_provisioner):
    body = reserve(client)
    lost = body["nodes"][0]["name"]
    fake_engine.running[lost] = False
    checker.check_all()
    checker.check_all()
    view = client.get(f"/api/v1/reservations/{body['id']}").json
    by_name = {node["name"]: node for node in view["nodes"]}
    assert by_name[lost]["state"] == "lost" and "container not running" in by_name[lost]["lost_reason"]
    replacement = by_name[lost]["replaced_by"]
    assert replacement and by_name[replacement]["state"] == RESERVED
    assert view["state"] == "active" and view["ends_at"] == body["ends_at"]
    # The replacement got the same account, with the same password.
    operation = fake_provisioner.account_calls()[-1][1]["bunkhouse_account_ops"][replacement]
    assert operation["name"] == "alice" and verify_password("pw-123456", operation["password_hash"])
    with service.sessions() as session:
        kinds = [event.kind for event in session.scalars(select(Event).where(Event.reservation_id == body["id"]))]
    assert "quarantined" in kinds and "replaced" in kinds


def test_with_no_free_node_the_reservation_says_which_node_is_lost(client, service, checker, fake_engine):
    body = reserve(client, count=10)  # the whole pool
    lost = body["nodes"][4]["name"]
    fake_engine.running[lost] = False
    checker.check_all()
    checker.check_all()
    view = client.get(f"/api/v1/reservations/{body['id']}").json
    lost_view = next(node for node in view["nodes"] if node["name"] == lost)
    assert lost_view["state"] == "lost" and lost_view["replaced_by"] is None
    with service.sessions() as session:
        assert session.scalar(select(Event).where(Event.kind == "node_lost")).node_name == lost


def test_a_quarantined_node_comes_back_recreated_after_backoff(service, checker, fake_engine, fake_provisioner):
    fake_engine.running["node-2"] = False
    checker.check_all()
    checker.check_all()
    assert states(service)["node-2"] == QUARANTINED
    outcome = checker.check_all()  # still down: tried again, backoff grows
    assert outcome["still_down"] == ["node-2"]
    with service.sessions() as session:
        node = session.scalar(select(Node).where(Node.name == "node-2"))
        assert node.next_check_at > service.clock()
        node_next = node.next_check_at
    fake_engine.running["node-2"] = True
    assert checker.check_all()["recovered"] == []  # not due before its backoff ends
    with service.sessions.begin() as session:
        session.scalar(select(Node).where(Node.name == "node-2")).next_check_at = node_next - timedelta(hours=1)
    assert checker.check_all()["recovered"] == ["node-2"]
    assert states(service)["node-2"] == FREE
    recreate = [call for call in fake_provisioner.calls if call[0] == "provision.yml"][-1][1]
    assert recreate["pool_node_state"] == "recreated" and recreate["pool_node_first_index"] == 2


def test_a_disabled_node_stays_out_whatever_the_check_says(client, service, checker, fake_engine):
    response = client.post("/api/v1/nodes/node-4/disable", json={"reason": "flaky disk"})
    assert response.status_code == 200 and response.json["state"] == DISABLED
    for _ in range(3):
        checker.check_all()
    assert states(service)["node-4"] == DISABLED
    # Never handed out: reserve the whole rest of the pool, then one more is refused.
    reserve(client, count=9)
    assert client.post("/api/v1/reservations", json={"username": "bob", "password": "pw-123456",
                                                     "count": 1}).status_code == 409
    enabled = client.post("/api/v1/nodes/node-4/enable")
    assert enabled.status_code == 200 and enabled.json["state"] == FREE


def test_a_node_in_use_cannot_be_disabled(client):
    body = reserve(client)
    response = client.post(f"/api/v1/nodes/{body['nodes'][0]['name']}/disable", json={})
    assert response.status_code == 409 and response.json["error"]["code"] == "node_in_use"


def test_an_engine_that_does_not_answer_decides_nothing(service, checker, fake_engine):
    fake_engine.down = True
    for _ in range(3):
        assert checker.check_all()["quarantined"] == []
    assert set(states(service).values()) == {FREE}


def test_reserving_while_the_engine_is_down_is_503_and_changes_nothing(client, service, monkeypatch,
                                                                       fake_provisioner):
    monkeypatch.setattr(engine, "engine_answers", lambda timeout=2.0: False)
    response = client.post("/api/v1/reservations", json={"username": "alice", "password": "pw-123456"})
    assert response.status_code == 503 and response.json["error"]["code"] == "engine_down"
    assert set(states(service).values()) == {FREE} and fake_provisioner.account_calls() == []
    monkeypatch.setattr(engine, "engine_answers", lambda timeout=2.0: True)
    assert client.post("/api/v1/reservations", json={"username": "alice", "password": "pw-123456"}).status_code == 201


def wait_until(condition, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_replacement_finished_after_the_release_is_taken_back(client, service, fake_provisioner):
    body = reserve(client)
    lost = body["nodes"][0]["name"]
    fake_provisioner.delay = 0.5  # the replacement's account run takes a while ...
    replacement = service.quarantine_node(lost, "test", actor="test", wait=False)
    # ... and the reservation ends meanwhile.
    client.delete(f"/api/v1/reservations/{body['id']}")
    assert wait_until(lambda: states(service)[replacement] == FREE)
    removal = fake_provisioner.account_calls()[-1][1]["bunkhouse_account_ops"]
    assert removal[replacement] == {"name": "alice", "state": "absent"}


def test_reconcile_undoes_a_replacement_cut_short_by_a_restart(client, service, fake_provisioner):
    from bunkhouse.models import RESERVING, ReservationNode

    body = reserve(client)
    with service.sessions.begin() as session:  # as a crash mid-replacement leaves it
        spare = session.scalar(select(Node).where(Node.state == FREE))
        spare.state, spare.reservation_id = RESERVING, body["id"]
        session.add(ReservationNode(reservation_id=body["id"], node_name=spare.name, ssh_port=spare.ssh_port))
        spare_name = spare.name
    service.reconcile()
    assert wait_until(lambda: states(service)[spare_name] == FREE)
    view = client.get(f"/api/v1/reservations/{body['id']}").json
    assert next(n for n in view["nodes"] if n["name"] == spare_name)["state"] == "lost"
    assert view["state"] == "active"


def test_after_an_engine_outage_one_round_passes_before_nodes_are_judged(service, checker, fake_engine):
    fake_engine.down = True
    checker.check_all()
    fake_engine.down = False
    fake_engine.running["node-1"] = False  # still starting after the engine came back
    assert checker.check_all()["failing"] == []
    fake_engine.running["node-1"] = True
    checker.check_all()
    checker.check_all()
    assert states(service)["node-1"] == FREE
