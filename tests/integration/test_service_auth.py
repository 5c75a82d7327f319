"""Tokens, roles and quotas against the real stack: the service under gunicorn with
authentication on, real nodes, real Ansible runs, real SSH logins."""

from __future__ import annotations

import os
import stat

import pytest

from support import Node, Server, login_refused, node_sh, ssh_run

POOL = "auth"
POOL_SIZE = 3
PORT_FIRST = 23401


@pytest.fixture(scope="module")
def server(project_dir, tmp_path_factory, docker_engine, provisioner):
    server = Server(project_dir, tmp_path_factory.mktemp("service-auth"), pool=POOL, pool_size=POOL_SIZE,
                    ssh_port_first=PORT_FIRST, BUNKHOUSE_AUTH="on", BUNKHOUSE_RATE_LIMIT="5")
    server.start()
    yield server
    server.stop()
    provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})


@pytest.fixture(scope="module")
def admin(server) -> str:
    token_file = server.instance_dir / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    # Shown once on a terminal, never in the log.
    assert token not in (server.instance_dir / "server.log").read_text()
    return token


def user_token(server, admin, name, **quota) -> str:
    status, body = server.request("POST", "/api/v1/users", {"name": name, **quota}, token=admin)
    assert status == 201, body
    status, body = server.request("POST", f"/api/v1/users/{name}/tokens", {"label": "it"}, token=admin)
    assert status == 201, body
    return body["token"]


def test_owner_only_revocation_and_quota_on_real_nodes(server, admin):
    alice = user_token(server, admin, "alice", max_nodes=1)
    bob = user_token(server, admin, "bob")

    assert server.request("GET", "/api/v1/reservations")[0] == 401
    assert server.request("GET", "/api/v1/reservations", token="bkh_000000000000_" + "a" * 43)[0] == 401

    status, body = server.request("POST", "/api/v1/reservations", {
        "username": "alice", "password": "Alice-pw-77", "count": 1, "duration_minutes": 30}, token=alice)
    assert status == 201, body
    reservation_id = body["id"]
    node = Node(body["nodes"][0]["name"], body["nodes"][0]["port"])
    assert ssh_run(node, "alice", "id -un", password="Alice-pw-77").strip() == "alice"

    # Bob can neither see, extend nor release it, nor call admin routes.
    assert server.request("GET", f"/api/v1/reservations/{reservation_id}", token=bob)[0] == 403
    assert server.request("POST", f"/api/v1/reservations/{reservation_id}/extend", {"minutes": 5}, token=bob)[0] == 403
    assert server.request("DELETE", f"/api/v1/reservations/{reservation_id}", token=bob)[0] == 403
    assert server.request("GET", "/api/v1/nodes", token=bob)[0] == 403
    assert server.request("GET", "/release_all", token=bob)[0] == 403
    # ... and alice still has her node and her login.
    assert ssh_run(node, "alice", "id -un", password="Alice-pw-77").strip() == "alice"

    # Over her quota of one node: 403 naming the limit, and no node changes hands.
    status, body = server.request("POST", "/api/v1/reservations", {
        "username": "alice", "password": "Alice-pw-77", "count": 1}, token=alice)
    assert status == 403 and body["error"]["code"] == "quota_nodes" and body["error"]["limit"] == 1
    nodes = server.request("GET", "/api/v1/nodes", token=admin)[1]["nodes"]
    assert sorted(n["state"] for n in nodes) == ["free", "free", "reserved"]

    # A revoked token stops working with the very next request.
    token_id = alice.split("_")[1]
    assert server.request("DELETE", f"/api/v1/tokens/{token_id}", token=admin)[0] == 200
    status, body = server.request("GET", f"/api/v1/reservations/{reservation_id}", token=alice)
    assert status == 401 and body["error"]["code"] == "token_revoked"

    # The admin may release anyone's; the account is gone from the node.
    status, body = server.request("DELETE", f"/api/v1/reservations/{reservation_id}", token=admin)
    assert status == 200 and body["state"] == "released", body
    assert login_refused(node, "alice", "Alice-pw-77")

    events = server.request("GET", f"/api/v1/events?reservation_id={reservation_id}", token=admin)[1]["events"]
    assert [(e["kind"], e["actor"]) for e in events if e["kind"] in ("reserve_requested", "release_requested")] \
        == [("reserve_requested", "alice"), ("release_requested", "admin")]


def test_reservation_requests_are_rate_limited(server, admin):
    carol = user_token(server, admin, "carol")
    answers = [server.request("GET", "/reserve?username=Bad+Name&password=x", token=carol) for _ in range(6)]
    assert [status for status, _ in answers] == [400] * 5 + [429]
    assert answers[-1][1]["error"]["retry_after_seconds"] >= 1


HOSTILE_BODIES = [
    {"username": "bob smith"},
    {"username": "bob'; rm -rf / #"},
    {"username": 'bob"x'},
    {"username": "bob;id"},
    {"username": "$(id)"},
    {"username": "`id`"},
    {"username": "bob\nroot"},
    {"username": "{{ lookup('pipe', 'id') }}"},
    {"username": "ünïcødé"},
    {"username": "a" * 10000},
    {"username": "root"},
    {"username": "sshd"},
    {"username": "nobody"},
    {"username": "alice", "count": -1},
    {"username": "alice", "count": 0},
    {"username": "alice", "count": 10 ** 30},
    {"username": "alice", "duration_minutes": -5},
    {"username": "alice", "duration_minutes": 10 ** 12},
    {"username": "alice", "count": "1; id"},
    {"username": "alice", "password": "x" * 10000},
    {"username": "alice", "password": ""},
    {"username": ["alice"]},
    {"username": None},
]


def test_hostile_input_gets_400_and_changes_no_node(server, admin):
    dave = user_token(server, admin, "dave", max_nodes=100)
    nodes = [node["name"] for node in server.request("GET", "/api/v1/nodes", token=admin)[1]["nodes"]]
    before = {name: node_sh(name, "sha256sum /etc/passwd /etc/shadow /etc/group; ls /home").stdout for name in nodes}
    for hostile in HOSTILE_BODIES:
        body = {"password": "Dave-pw-1", **hostile}
        status, answer = server.request("POST", "/api/v1/reservations", body, token=dave)
        assert status == 400, (hostile, status, answer)
        assert answer["error"]["status"] == 400 and answer["error"]["message"]
    after = {name: node_sh(name, "sha256sum /etc/passwd /etc/shadow /etc/group; ls /home").stdout for name in nodes}
    assert after == before
    assert server.request("GET", "/api/v1/reservations", token=dave)[1]["reservations"] == []
