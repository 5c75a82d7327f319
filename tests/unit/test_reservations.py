"""Reservation logic through the real app and database, with a fake Ansible runner."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bunkhouse.models import Event, Node, Reservation
from bunkhouse.passwords import verify_password


def reserve(client, **body):
    body.setdefault("username", "alice")
    body.setdefault("password", "alice-pw")
    return client.post("/api/v1/reservations", json=body)


def node_states(service) -> Counter:
    return Counter(node.state for node in service.nodes())


def test_reserve_gives_every_node_with_its_ssh_access(client, service, fake_provisioner):
    response = reserve(client, count=2, duration_minutes=30)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["state"] == "active" and body["username"] == "alice" and body["count"] == 2
    assert [node["name"] for node in body["nodes"]] == ["node-1", "node-2"]
    first = body["nodes"][0]
    assert first == {"name": "node-1", "host": "lab.example.org", "port": 30001,
                     "ssh_command": "ssh -p 30001 alice@lab.example.org",
                     "host_key_fingerprints": {"ED25519": "SHA256:key1"}, "state": "reserved"}
    assert body["ends_at"].endswith("+00:00") and 1790 <= body["seconds_remaining"] <= 1800
    assert node_states(service) == {"reserved": 2, "free": 8}
    # The runner got a hash, never the password.
    (_, variables, _), = fake_provisioner.account_calls()
    assert sorted(variables["bunkhouse_account_ops"]) == ["node-1", "node-2"]
    operation = variables["bunkhouse_account_ops"]["node-1"]
    assert operation["name"] == "alice" and operation["state"] == "present"
    assert verify_password("alice-pw", operation["password_hash"])
    assert "alice-pw" not in repr(fake_provisioner.calls)


def test_the_password_is_stored_hashed(client, service):
    reservation_id = reserve(client).json["id"]
    stored = service.get(reservation_id).password_hash
    assert stored.startswith("$6$") and verify_password("alice-pw", stored)


@pytest.mark.parametrize("body, field", [
    ({"username": "Alice"}, "username"),
    ({"username": "bob smith"}, "username"),
    ({"username": "x;rm -rf /"}, "username"),
    ({"username": "a" * 33}, "username"),
    ({"username": "root"}, "username"),
    ({"username": "sshd"}, "username"),
    ({"username": "nobody"}, "username"),
    ({"password": "abc"}, "password"),
    ({"password": "p" * 129}, "password"),
    ({"count": 0}, "count"),
    ({"count": 11}, "count"),
    ({"count": "2"}, "count"),
    ({"count": 1.5}, "count"),
    ({"duration_minutes": 0}, "duration_minutes"),
    ({"duration_minutes": 1441}, "duration_minutes"),
    ({"duration_minutes": -5}, "duration_minutes"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(client, service, fake_provisioner, body, field):
    response = reserve(client, **body)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["status"] == 400
    assert field in (error.get("field"), *error.get("fields", {}).get("json", {}))
    assert node_states(service) == {"free": 10}
    assert service.reservations() == [] and fake_provisioner.calls == []


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/api/v1/reservations", data="username=alice", content_type="text/plain")
    assert response.status_code == 400 and "error" in response.json


def test_a_short_pool_is_a_409_with_the_free_count_and_nothing_half_made(client, service):
    assert reserve(client, count=8).status_code == 201
    response = reserve(client, username="bob", count=3)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "pool_exhausted"
    assert response.json["error"]["free"] == 2
    assert node_states(service) == {"reserved": 8, "free": 2}
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reservation)) == 1


def test_twenty_concurrent_requests_on_ten_nodes_never_share_a_node(client, service, fake_provisioner):
    results = []
    barrier = threading.Barrier(20)

    def one(index):
        barrier.wait()
        results.append(reserve(client, username=f"user{index}"))

    threads = [threading.Thread(target=one, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(response.status_code for response in results)
    assert statuses == {201: 10, 409: 10}
    handed_out = [node["name"] for response in results if response.status_code == 201
                  for node in response.json["nodes"]]
    assert len(handed_out) == len(set(handed_out)) == 10
    assert node_states(service) == {"reserved": 10}
    # Batching: ten reservations did not cost ten Ansible runs.
    assert len(fake_provisioner.account_calls()) < 10


def test_batching_off_runs_once_per_request(tmp_path, fake_provisioner):
    from bunkhouse.config import Config
    from bunkhouse.models import FREE
    from bunkhouse.web import create_app

    config = Config.from_environ({"BUNKHOUSE_INSTANCE_DIR": str(tmp_path), "BUNKHOUSE_SCHEDULER": "off",
                                  "BUNKHOUSE_BATCHING": "off", "BUNKHOUSE_POOL": "unit", "BUNKHOUSE_AUTH": "off"})
    app = create_app(config, provisioner=fake_provisioner, start_background=False)
    service = app.extensions["bunkhouse"]
    with service.sessions.begin() as session:
        for index in range(1, 4):
            session.add(Node(name=f"node-{index}", pool="unit", ssh_port=30000 + index, state=FREE))
    client = app.test_client()
    for index in range(3):
        assert reserve(client, username=f"u{index}").status_code == 201
    assert len(fake_provisioner.account_calls()) == 3


def test_a_failed_node_is_quarantined_and_the_reservation_rolled_back(client, service, fake_provisioner):
    fake_provisioner.failing_nodes = {"node-2"}
    response = reserve(client, count=3)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "provisioning_failed"
    reservation = service.get(response.json["error"]["reservation_id"])
    assert reservation.state == "failed" and "node-2" in reservation.error
    service.batcher.stop()  # let the rollback run finish
    states = {node.name: node.state for node in service.nodes()}
    assert states["node-2"] == "quarantined"
    assert states["node-1"] == states["node-3"] == "free"
    # The nodes that got the account lost it again before going back to the pool.
    removal = fake_provisioner.account_calls()[-1][1]["bunkhouse_account_ops"]
    assert removal == {"node-1": {"name": "alice", "state": "absent"},
                       "node-3": {"name": "alice", "state": "absent"}}
    # The next reservation never gets the quarantined node.
    fake_provisioner.failing_nodes = set()
    service.batcher.start()
    names = [node["name"] for node in reserve(client, username="bob", count=9).json["nodes"]]
    assert "node-2" not in names


def test_release_frees_the_nodes_and_is_idempotent(client, service, fake_provisioner):
    reservation_id = reserve(client, count=2).json["id"]
    released = client.delete(f"/api/v1/reservations/{reservation_id}")
    assert released.status_code == 200
    assert released.json["state"] == "released" and released.json["ended_at"]
    assert [node["state"] for node in released.json["nodes"]] == ["returned", "returned"]
    assert node_states(service) == {"free": 10}
    calls = len(fake_provisioner.calls)
    again = client.delete(f"/api/v1/reservations/{reservation_id}")
    assert again.status_code == 200 and again.json["state"] == "released"
    assert len(fake_provisioner.calls) == calls
    assert client.delete("/api/v1/reservations/nope").status_code == 404


def test_a_node_whose_cleanup_failed_is_quarantined_never_free(client, service, fake_provisioner):
    reservation_id = reserve(client, count=2).json["id"]
    fake_provisioner.failing_nodes = {"node-1"}
    client.delete(f"/api/v1/reservations/{reservation_id}")
    states = {node.name: node.state for node in service.nodes()}
    assert states["node-1"] == "quarantined" and states["node-2"] == "free"


def test_extend_within_the_caps(client, service):
    body = reserve(client, duration_minutes=60).json
    extended = client.post(f"/api/v1/reservations/{body['id']}/extend", json={"minutes": 30})
    assert extended.status_code == 200
    assert extended.json["extended_minutes"] == 30
    assert extended.json["seconds_remaining"] > 89 * 60
    too_much = client.post(f"/api/v1/reservations/{body['id']}/extend", json={"minutes": 121})
    assert too_much.status_code == 400 and too_much.json["error"]["maximum"] == 120
    # 90 minutes so far; the lease may reach 2880 minutes: 23 more extensions of 120 fit, not 24.
    statuses = [client.post(f"/api/v1/reservations/{body['id']}/extend", json={"minutes": 120}).status_code
                for _ in range(24)]
    assert statuses == [200] * 23 + [409]
    last = client.post(f"/api/v1/reservations/{body['id']}/extend", json={"minutes": 120})
    assert last.json["error"]["code"] == "lease_limit" and last.json["error"]["limit_minutes"] == 2880
    assert service.get(body["id"]).ends_at - service.get(body["id"]).starts_at <= timedelta(minutes=2880)


def test_expiry_releases_due_reservations_only(client, service):
    due = reserve(client, username="due", duration_minutes=1).json["id"]
    later = reserve(client, username="later", duration_minutes=60).json["id"]
    real_clock = service.clock
    service.clock = lambda: real_clock() + timedelta(minutes=2)
    assert service.expire_due() == 1
    service.batcher.stop()
    assert service.get(due).state == "expired"
    assert service.get(later).state == "active"
    with service.sessions() as session:
        kinds = [event.kind for event in session.scalars(select(Event).where(Event.reservation_id == due))]
    assert kinds == ["reserve_requested", "reserved", "release_requested", "expired"]


def test_reconcile_undoes_what_a_crash_left_in_flight(client, service, fake_provisioner):
    kept = reserve(client, username="kept").json["id"]
    releasing = reserve(client, username="leaving").json["id"]
    crashed = reserve(client, username="crashed", count=2).json["id"]
    # Forge the state a kill -9 would leave: one reservation mid-provisioning, one mid-release.
    with service.sessions.begin() as session:
        session.get(Reservation, crashed).state = "provisioning"
        session.get(Reservation, releasing).state = "releasing"
        session.get(Reservation, releasing).end_state = "released"
        for node in session.scalars(select(Node).where(Node.reservation_id == crashed)):
            node.state = "reserving"
    summary = service.reconcile()
    service.batcher.stop()
    assert summary["released"] == [releasing]
    assert len(summary["cleaned"]) == 2
    assert service.get(crashed).state == "failed"
    assert service.get(releasing).state == "released"
    assert service.get(kept).state == "active"
    assert node_states(service) == {"reserved": 1, "free": 9}
    removed = [op for call in fake_provisioner.account_calls()
               for op in call[1]["bunkhouse_account_ops"].values() if op["state"] == "absent"]
    assert sorted(op["name"] for op in removed) == ["crashed", "crashed", "leaving"]


def test_times_are_utc_with_an_offset(client):
    body = reserve(client).json
    for key in ("created_at", "starts_at", "ends_at"):
        assert body[key].endswith("+00:00")


def test_nodes_route_reports_each_state(client):
    reserve(client, count=3)
    nodes = client.get("/api/v1/nodes").json["nodes"]
    assert Counter(node["state"] for node in nodes) == {"reserved": 3, "free": 7}
    assert all(node["reservation_id"] for node in nodes if node["state"] == "reserved")


def test_openapi_document_describes_the_api(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/reservations", "/api/v1/reservations/{reservation_id}",
            "/api/v1/reservations/{reservation_id}/extend", "/api/v1/nodes", "/healthz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI comes from this server, not from a CDN: the docs work offline.
    assert b"cdn.jsdelivr" not in docs.data and b"/docs/assets/swagger-ui-bundle.js" in docs.data
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000
    assert "/docs/assets/{filename}" not in spec["paths"]


def test_the_openapi_document_describes_the_real_error_shape(client):
    spec = client.get("/openapi.json").json
    conflict = spec["paths"]["/api/v1/reservations"]["post"]["responses"]["409"]
    reference = conflict["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    described = spec["components"]["schemas"][reference]
    assert described["required"] == ["error"]
    assert set(described["properties"]["error"]["required"]) == {"status", "code", "message"}
    actual = reserve(client, count=99).json
    assert set(actual) == {"error"} and {"status", "code", "message"} <= set(actual["error"])
