"""Reservation logic through the real app and database, with a fake Ansible runner."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bunkhouse.config import Config
from bunkhouse.core.events import Event
from bunkhouse.reservations.models import Reservation
from bunkhouse.reservations.passwords import verify_password
from helpers.api import Api, reserve
from helpers.unit_app import close, make_app, unit_environment


def node_states(fleet) -> Counter:
    return Counter(node.state for node in fleet.members())


@pytest.fixture
def frozen(service):
    """The service's clock, stopped at a known moment (times in answers are then exact)."""
    moment = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    service.clock = lambda: moment
    return moment


def test_reserve_gives_every_node_with_its_ssh_access(api, fleet, fake_runner, frozen):
    answer = reserve(api, count=2, duration=30)
    assert answer.status == 201, answer.body
    body = answer.body
    assert body["state"] == "active" and body["username"] == "alice" and body["count"] == 2
    assert [node["name"] for node in body["nodes"]] == ["node-1", "node-2"]
    assert body["nodes"][0] == {"name": "node-1", "host": "lab.example.org", "port": 30001,
                                "ssh_command": "ssh -p 30001 alice@lab.example.org",
                                "host_key_fingerprints": {"ED25519": "SHA256:key1"}, "state": "reserved"}
    assert body["ends_at"] == "2026-12-01T12:30:00+00:00" and body["seconds_remaining"] == 1800
    assert node_states(fleet) == {"reserved": 2, "free": 8}
    # The runner got a hash, never the password, and each change names its reservation.
    changes, = fake_runner.account_changes()
    assert sorted(changes) == ["node-1", "node-2"]
    assert changes["node-1"]["name"] == "alice" and changes["node-1"]["state"] == "present"
    assert changes["node-1"]["owner"] == body["id"]
    assert verify_password("alice-pw", changes["node-1"]["password_hash"])
    assert "alice-pw" not in repr(fake_runner.calls)


def test_the_password_is_stored_hashed(api, service):
    reservation_id = reserve(api).body["id"]
    stored = service.get(reservation_id).password_hash
    assert stored.startswith("$6$") and verify_password("alice-pw", stored)


@pytest.mark.parametrize("body, field, code", [
    ({"username": "Alice"}, "username", "invalid_username"),
    ({"username": "bob smith"}, "username", "invalid_username"),
    ({"username": "x;rm -rf /"}, "username", "invalid_username"),
    ({"username": "a" * 33}, "username", "invalid_username"),
    ({"username": "root"}, "username", "invalid_username"),
    ({"username": "sshd"}, "username", "invalid_username"),
    ({"username": "nobody"}, "username", "invalid_username"),
    ({"password": "abc"}, "password", "invalid_password"),
    ({"password": "p" * 129}, "password", "invalid_password"),
    ({"count": 0}, "count", "invalid_count"),
    ({"count": 11}, "count", "invalid_count"),
    ({"count": "2"}, "count", "invalid_count"),
    ({"count": 1.5}, "count", "invalid_count"),
    ({"duration_minutes": 0}, "duration_minutes", "invalid_duration"),
    ({"duration_minutes": 1441}, "duration_minutes", "invalid_duration"),
    ({"duration_minutes": -5}, "duration_minutes", "invalid_duration"),
    ({"duration_minutes": "abc"}, "duration_minutes", "invalid_duration"),
    ({"surprise": 1}, "surprise", "unknown_field"),
])
def test_bad_input_is_a_400_naming_the_field_with_its_rule_and_changes_nothing(api, service, fleet, fake_runner,
                                                                               body, field, code):
    answer = reserve(api, **{"duration": None, **body})
    assert answer.status == 400
    assert answer.error["status"] == 400
    # One rule, one code: 0 and 11 are the same rule for count, whoever checks it.
    assert answer.error["code"] == code and answer.error["field"] == field
    assert node_states(fleet) == {"free": 10}
    assert service.all() == [] and fake_runner.calls == []


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/api/v1/reservations", data="username=alice", content_type="text/plain")
    assert response.status_code == 400 and "error" in response.json


def test_a_short_pool_is_a_409_with_the_free_count_and_nothing_half_made(api, fleet, database):
    assert reserve(api, count=8).status == 201
    answer = reserve(api, username="bob", count=3)
    assert answer.status == 409
    assert answer.error["code"] == "pool_exhausted" and answer.error["free"] == 2
    assert node_states(fleet) == {"reserved": 8, "free": 2}
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Reservation)) == 1


def test_twenty_concurrent_requests_on_ten_nodes_never_share_a_node(api, fleet, fake_runner):
    results = []
    barrier = threading.Barrier(20)

    def one(index):
        barrier.wait()
        results.append(reserve(api, username=f"user{index}"))

    threads = [threading.Thread(target=one, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(answer.status for answer in results) == {201: 10, 409: 10}
    handed_out = [node["name"] for answer in results if answer.status == 201 for node in answer.body["nodes"]]
    assert len(handed_out) == len(set(handed_out)) == 10
    assert node_states(fleet) == {"reserved": 10}
    # Batching: ten reservations did not cost ten Ansible runs.
    assert len(fake_runner.account_calls()) < 10


def test_batching_off_runs_once_per_request(tmp_path, fake_runner, fake_engine):
    config = Config.from_environ(unit_environment(tmp_path, BUNKHOUSE_BATCHING="off"))
    app = make_app(config, fake_runner, fake_engine, nodes=3)
    api = Api(app.test_client())
    for index in range(3):
        assert reserve(api, username=f"u{index}").status == 201
    assert len(fake_runner.account_calls()) == 3
    close(app)


def test_a_failed_node_is_quarantined_and_the_reservation_rolled_back(api, service, fleet, fake_runner):
    fake_runner.failing_hosts = {"node-2"}
    answer = reserve(api, count=3)
    assert answer.status == 503 and answer.error["code"] == "provisioning_failed"
    reservation = service.get(answer.error["reservation_id"])
    assert reservation.state == "failed" and "node-2" in reservation.error
    assert service.accounts.batcher.drain()  # let the rollback run finish
    states = {node.name: node for node in fleet.members()}
    assert states["node-2"].state == "quarantined" and "it broke" in states["node-2"].state_reason
    assert states["node-1"].state == states["node-3"].state == "free"
    # The nodes that got the account lost it again before going back to the pool.
    owner = reservation.id
    assert fake_runner.account_changes()[-1] == {"node-1": {"name": "alice", "state": "absent", "owner": owner},
                                                 "node-3": {"name": "alice", "state": "absent", "owner": owner}}
    # The next reservation never gets the quarantined node.
    fake_runner.failing_hosts = set()
    names = [node["name"] for node in reserve(api, username="bob", count=9).body["nodes"]]
    assert "node-2" not in names


def test_input_the_nodes_refuse_is_a_400_that_quarantines_nothing(api, service, fleet, fake_runner, database):
    """The node script refused the name on every node (exit 3: nothing changed): a 400, the
    nodes free at once, no removal run, no quarantine, the hash gone."""
    fake_runner.refusing_hosts = {f"node-{index}" for index in range(1, 11)}
    answer = reserve(api, username="carol", count=3)
    assert answer.status == 400 and answer.error["code"] == "invalid_username", answer.body
    assert "the nodes refused this input" in answer.error["message"]
    assert "disk is a group of the node image" in answer.error["message"]
    reservation = service.get(answer.error["reservation_id"])
    assert reservation.state == "failed" and reservation.password_hash == ""
    assert service.accounts.batcher.drain()
    assert {node.state for node in fleet.members()} == {"free"}
    assert [change for changes in fake_runner.account_changes() for change in changes.values()
            if change["state"] == "absent"] == []
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "quarantined")) == 0


def test_refused_on_some_nodes_and_broken_on_another_is_a_503_and_only_the_broken_one_is_quarantined(
        api, service, fleet, fake_runner):
    fake_runner.refusing_hosts = {"node-1"}
    fake_runner.failing_hosts = {"node-2"}
    answer = reserve(api, username="carol", count=3)
    assert answer.status == 503 and answer.error["code"] == "provisioning_failed"
    assert service.accounts.batcher.drain()
    states = {node.name: node.state for node in fleet.members()}
    assert states["node-1"] == "free" and states["node-2"] == "quarantined" and states["node-3"] == "free"


def test_release_frees_the_nodes_and_is_idempotent(api, fleet, fake_runner):
    reservation_id = reserve(api, count=2).body["id"]
    released = api.delete(f"/api/v1/reservations/{reservation_id}")
    assert released.status == 200
    assert released.body["state"] == "released" and released.body["ended_at"]
    assert [node["state"] for node in released.body["nodes"]] == ["returned", "returned"]
    assert node_states(fleet) == {"free": 10}
    calls = len(fake_runner.calls)
    again = api.delete(f"/api/v1/reservations/{reservation_id}")
    assert again.status == 200 and again.body["state"] == "released"
    assert len(fake_runner.calls) == calls
    assert api.delete("/api/v1/reservations/nope").status == 404


def test_a_node_whose_cleanup_failed_is_quarantined_never_free(api, fleet, fake_runner):
    reservation_id = reserve(api, count=2).body["id"]
    fake_runner.failing_hosts = {"node-1"}
    api.delete(f"/api/v1/reservations/{reservation_id}")
    states = {node.name: node.state for node in fleet.members()}
    assert states["node-1"] == "quarantined" and states["node-2"] == "free"


def test_extend_within_the_caps(api, service):
    body = reserve(api, duration=60).body
    extended = api.post(f"/api/v1/reservations/{body['id']}/extend", {"minutes": 30})
    assert extended.status == 200
    assert extended.body["extended_minutes"] == 30
    assert extended.body["seconds_remaining"] > 89 * 60
    too_much = api.post(f"/api/v1/reservations/{body['id']}/extend", {"minutes": 121})
    assert too_much.status == 400 and too_much.error["code"] == "invalid_minutes"
    assert too_much.error["maximum"] == 120
    # 90 minutes so far; the lease may reach 2880 minutes: 23 more extensions of 120 fit, not 24.
    statuses = [api.post(f"/api/v1/reservations/{body['id']}/extend", {"minutes": 120}).status for _ in range(24)]
    assert statuses == [200] * 23 + [409]
    last = api.post(f"/api/v1/reservations/{body['id']}/extend", {"minutes": 120})
    assert last.error["code"] == "lease_limit" and last.error["limit_minutes"] == 2880
    reservation = service.get(body["id"])
    assert reservation.ends_at - reservation.starts_at <= timedelta(minutes=2880)


def test_expiry_releases_due_reservations_only(api, service, database):
    due = reserve(api, username="due", duration=1).body["id"]
    later = reserve(api, username="later", duration=60).body["id"]
    real_clock = service.clock
    service.clock = lambda: real_clock() + timedelta(minutes=2)
    assert service.expire_due() == 1
    assert service.accounts.batcher.drain()
    assert service.get(due).state == "expired"
    assert service.get(later).state == "active"
    with database.read() as session:
        kinds = [event.kind for event in session.scalars(select(Event).where(Event.lease_id == due))]
    assert kinds == ["reserve_requested", "reserved", "release_requested", "expired"]


def test_an_extension_committed_while_expiry_decides_wins(api, service, database, monkeypatch):
    """Expiry decides in the transaction that ends the lease: an extension committed just before
    it (after the expiry job was due) keeps the lease alive."""
    body = reserve(api, duration=1).body
    real_clock = service.clock
    service.clock = lambda: real_clock() + timedelta(minutes=1, seconds=5)
    write = database.write

    def extension_first():
        # The extension lands between the moment the lease fell due and expiry's decision.
        monkeypatch.setattr(database, "write", write)
        service.extend(body["id"], 30, actor="alice")
        return write()

    monkeypatch.setattr(database, "write", extension_first)
    service.expire(body["id"])
    assert service.accounts.batcher.drain()
    reservation = service.get(body["id"])
    assert reservation.state == "active" and reservation.extended_minutes == 30


def test_times_are_utc_with_an_offset(api):
    body = reserve(api).body
    for key in ("created_at", "starts_at", "ends_at"):
        assert body[key].endswith("+00:00")


def test_nodes_route_reports_each_state(api):
    reserve(api, count=3)
    nodes = api.get("/api/v1/nodes").body["nodes"]
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


def test_the_openapi_document_describes_the_real_error_shape(api, client):
    spec = client.get("/openapi.json").json
    conflict = spec["paths"]["/api/v1/reservations"]["post"]["responses"]["409"]
    reference = conflict["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    described = spec["components"]["schemas"][reference]
    assert described["required"] == ["error"]
    assert set(described["properties"]["error"]["required"]) == {"status", "code", "message"}
    actual = reserve(api, count=99).body
    assert set(actual) == {"error"} and {"status", "code", "message"} <= set(actual["error"])
