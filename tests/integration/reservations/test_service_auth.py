"""Tokens, roles and quotas against the real stack: the service under gunicorn with
authentication on, real nodes, real Ansible runs, real SSH logins."""

from __future__ import annotations

import os
import stat

import pytest

from helpers.api import make_user, reserve, token_id
from helpers.nodes import login_refused, node_sh, nodes_of, ssh_run
from helpers.service import running_service

POOL = "auth"
POOL_SIZE = 3
# Reservation requests a minute per caller: more than the hostile bodies below, which count too.
RATE_LIMIT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-auth"), pool=POOL, pool_size=POOL_SIZE,
                         BUNKHOUSE_AUTH="on", BUNKHOUSE_RATE_LIMIT=str(RATE_LIMIT)) as server:
        yield server


@pytest.fixture(scope="module")
def admin(server):
    token_file = server.instance_dir / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    # Shown once on a terminal, never in the log.
    assert token not in server.log.read_text()
    return server.api.as_(token)


def test_owner_only_revocation_and_quota_on_real_nodes(server, admin):
    alice_token = make_user(admin, "alice", max_nodes=1)
    alice, bob = admin.as_(alice_token), admin.as_(make_user(admin, "bob"))

    assert server.api.get("/api/v1/reservations").status == 401
    assert server.api.as_("bkh_000000000000_" + "a" * 43).get("/api/v1/reservations").status == 401

    answer = reserve(alice, "alice", "Alice-pw-77")
    assert answer.status == 201, answer.body
    reservation_id = answer.body["id"]
    node, = nodes_of(answer.body)
    assert ssh_run(node, "alice", "id -un", password="Alice-pw-77").strip() == "alice"

    # Bob can neither see, extend nor release it, nor call admin routes.
    assert bob.get(f"/api/v1/reservations/{reservation_id}").status == 403
    assert bob.post(f"/api/v1/reservations/{reservation_id}/extend", {"minutes": 5}).status == 403
    assert bob.delete(f"/api/v1/reservations/{reservation_id}").status == 403
    assert bob.get("/api/v1/nodes").status == 403
    assert bob.get("/release_all").status == 403
    # ... and alice still has her node and her login.
    assert ssh_run(node, "alice", "id -un", password="Alice-pw-77").strip() == "alice"

    # Over her quota of one node: 403 naming the limit, and no node changes hands.
    over = reserve(alice, "alice", "Alice-pw-77", duration=None)
    assert over.status == 403 and over.error["code"] == "quota_nodes" and over.error["limit"] == 1
    assert sorted(n["state"] for n in admin.get("/api/v1/nodes").body["nodes"]) == ["free", "free", "reserved"]

    # A revoked token stops working with the very next request.
    assert admin.delete(f"/api/v1/tokens/{token_id(alice_token)}").status == 200
    refused = alice.get(f"/api/v1/reservations/{reservation_id}")
    assert refused.status == 401 and refused.error["code"] == "token_revoked"

    # The admin may release anyone's; the account is gone from the node.
    released = admin.delete(f"/api/v1/reservations/{reservation_id}")
    assert released.status == 200 and released.body["state"] == "released", released.body
    assert login_refused(node, "alice", "Alice-pw-77")

    events = admin.get(f"/api/v1/events?reservation_id={reservation_id}").body["events"]
    assert [(e["kind"], e["actor"]) for e in events if e["kind"] in ("reserve_requested", "release_requested")] \
        == [("reserve_requested", "alice"), ("release_requested", "admin")]


def test_reservation_requests_are_rate_limited(admin):
    carol = admin.as_(make_user(admin, "carol"))
    answers = [carol.get("/reserve?username=Bad+Name&password=x") for _ in range(RATE_LIMIT + 1)]
    assert [answer.status for answer in answers] == [400] * RATE_LIMIT + [429]
    assert answers[-1].error["retry_after_seconds"] >= 1 and int(answers[-1].headers["Retry-After"]) >= 1


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


def test_hostile_input_gets_400_and_changes_no_node(admin):
    dave = admin.as_(make_user(admin, "dave", max_nodes=100))
    nodes = [node["name"] for node in admin.get("/api/v1/nodes").body["nodes"]]
    before = {name: node_sh(name, "sha256sum /etc/passwd /etc/shadow /etc/group; ls /home").stdout for name in nodes}
    for hostile in HOSTILE_BODIES:
        answer = dave.post("/api/v1/reservations", {"password": "Dave-pw-1", **hostile})
        assert answer.status == 400, (hostile, answer.status, answer.body)
        assert answer.error["status"] == 400 and answer.error["message"]
    after = {name: node_sh(name, "sha256sum /etc/passwd /etc/shadow /etc/group; ls /home").stdout for name in nodes}
    assert after == before
    assert dave.get("/api/v1/reservations").body["reservations"] == []
