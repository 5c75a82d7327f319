"""The reservation service against the real stack: gunicorn serving the app (as `just run`
does), a pool of 10 real nodes it provisions itself, real Ansible runs, real SSH logins."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime

import paramiko
import pytest

from helpers.api import reserve
from helpers.nodes import docker, login_refused, node_sh, nodes_of, ssh_run
from helpers.service import running_service
from helpers.waiting import wait_for

POOL = "svc"
POOL_SIZE = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    # No sweep within the module: a lease that ends on time was ended by its own exact-time job.
    with running_service(tmp_path_factory.mktemp("service"), pool=POOL, pool_size=POOL_SIZE,
                         BUNKHOUSE_SWEEP_INTERVAL="3600") as server:
        yield server


def free_count(server) -> int:
    return sum(node["state"] == "free" for node in server.api.get("/api/v1/nodes").body["nodes"])


def test_the_service_provisioned_its_pool(server):
    answer = server.api.get("/api/v1/nodes")
    assert answer.status == 200
    assert [node["name"] for node in answer.body["nodes"]] == [f"bunkhouse-{POOL}-{index}" for index in range(1, 11)]
    assert all(node["state"] == "free" and node["host_key_fingerprints"].get("ED25519")
               for node in answer.body["nodes"])
    health = server.api.get("/healthz").body
    assert health["database"]["ok"] and health["docker"]["ok"] and health["scheduler"]["running"]
    assert health["role"] == "primary"


def test_reserve_log_in_on_every_node_release_and_the_login_fails(server):
    answer = reserve(server.api, "alice", "alice-pw-42", count=2)
    assert answer.status == 201, answer.body
    body = answer.body
    assert body["state"] == "active" and len(body["nodes"]) == 2
    for node, access in zip(nodes_of(body), body["nodes"], strict=True):
        assert ssh_run(node, "alice", "id -un", password="alice-pw-42").strip() == "alice"
        assert access["ssh_command"] == f"ssh -p {node.port} alice@127.0.0.1"
        # The fingerprint the API gives is the key the node really presents.
        transport = paramiko.Transport(("127.0.0.1", node.port))
        transport.get_security_options().key_types = ["ssh-ed25519"]
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key()
        transport.close()
        assert access["host_key_fingerprints"]["ED25519"] == key.fingerprint
        # The account carries its reservation: a late removal for another lease leaves it be.
        assert f"bunkhouse lease {body['id']}" in node_sh(node, "getent passwd alice").stdout

    released = server.api.delete(f"/api/v1/reservations/{body['id']}")
    assert released.status == 200 and released.body["state"] == "released"
    for node in nodes_of(body):
        assert login_refused(node, "alice", "alice-pw-42")
        assert node_sh(node, "getent passwd alice", check=False).returncode == 2
    assert free_count(server) == POOL_SIZE


def test_twenty_people_at_once_on_ten_nodes(server):
    results = []
    barrier = threading.Barrier(20)

    def one(index):
        barrier.wait()
        results.append(reserve(server.api, f"storm{index}", f"storm-pw-{index}"))

    threads = [threading.Thread(target=one, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(answer.status for answer in results) == {201: 10, 409: 10}
    assert all(answer.error["code"] == "pool_exhausted" for answer in results if answer.status == 409)
    winners = [answer.body for answer in results if answer.status == 201]
    handed_out = [node["name"] for body in winners for node in body["nodes"]]
    assert len(handed_out) == len(set(handed_out)) == 10
    for body in winners:
        index = body["username"].removeprefix("storm")
        node, = nodes_of(body)
        assert ssh_run(node, body["username"], "id -un", password=f"storm-pw-{index}").strip() == body["username"]
    released = server.api.get("/release_all")
    assert released.status == 200 and len(released.body["released"]) == 10
    assert free_count(server) == POOL_SIZE


def test_a_one_minute_reservation_expires_on_its_own_at_its_end(server):
    answer = reserve(server.api, "brief", "brief-pw-1", count=1, duration=1)
    assert answer.status == 201, answer.body
    node, = nodes_of(answer.body)
    ends_at = datetime.fromisoformat(answer.body["ends_at"]).timestamp()
    assert ssh_run(node, "brief", "id -un", password="brief-pw-1").strip() == "brief"
    # The sweep runs once an hour here: only the lease's own job at its end can remove it.
    assert wait_for(lambda: node_sh(node, "getent passwd brief", check=False).returncode == 2,
                    timeout=ends_at - time.time() + 60, interval=0.25)
    assert login_refused(node, "brief", "brief-pw-1")
    assert server.api.get(f"/api/v1/reservations/{answer.body['id']}").body["state"] == "expired"


def test_the_seed_readme_examples(server):
    def curl(path):
        done = subprocess.run(["curl", "-s", server.api.target + path], capture_output=True, text=True, timeout=180)
        return json.loads(done.stdout)

    reserved = curl("/reserve?username=alice&password=test&count=2")
    assert reserved["status"] == "success" and len(reserved["containers"]) == 2
    short = curl("/reserve?username=test&password=test&count=1&duration=5")
    assert short["status"] == "success"
    available = curl("/available")
    assert sorted(available["reserved"]) == sorted(reserved["containers"] + short["containers"])
    assert len(available["available"]) == POOL_SIZE - 3
    rows = curl("/reservations")["reservations"]
    assert len(rows) == 3
    assert all(row["expiration_time"] and row["time_remaining"].endswith("minutes remaining") for row in rows)
    assert curl("/release_all") == {"status": "success", "message": "All containers released",
                                    "released": [reserved["reservation_id"], short["reservation_id"]]}
    assert curl("/reservations") == {"reservations": []}
    # The password never reached a log line.
    assert "password=test" not in server.log.read_text()


def test_killing_the_server_mid_reservation_leaves_no_orphan(server):
    names = [f"bunkhouse-{POOL}-{index}" for index in range(1, POOL_SIZE + 1)]
    accounts_before = {name: node_sh(name, "getent passwd").stdout for name in names}
    request = threading.Thread(target=lambda: _swallow(reserve, server.api, "victim", "victim-pw-1", count=3))
    # Kill while the account run is in flight: the nodes are reserving in the database.
    _kill_and_restart_while(server, request, "reserving", settle=0.5)
    # The start-up reconcile rolls the reservation back with the same playbook.
    assert free_count(server) == POOL_SIZE
    reservations = server.api.get("/api/v1/reservations?all=1").body["reservations"]
    victim, = [item for item in reservations if item["username"] == "victim"]
    assert victim["state"] == "failed"
    for name, before in accounts_before.items():
        assert node_sh(name, "getent passwd").stdout == before, f"{name} kept an account"
        assert node_sh(name, "test -e /home/victim", check=False).returncode == 1


def test_killing_the_server_mid_release_leaves_no_account_and_no_stuck_node(server):
    answer = reserve(server.api, "leaver", "leaver-pw-1", count=3)
    assert answer.status == 201, answer.body
    held = nodes_of(answer.body)
    request = threading.Thread(target=lambda: _swallow(server.api.delete, f"/api/v1/reservations/{answer.body['id']}"))
    # Kill while the removal run is in flight: the nodes are releasing in the database.
    _kill_and_restart_while(server, request, "releasing", settle=0.3)
    # The start-up reconcile releases it again (the same idempotent removal).
    assert free_count(server) == POOL_SIZE
    view = server.api.get(f"/api/v1/reservations/{answer.body['id']}")
    assert view.status == 200 and view.body["state"] == "released"
    for node in held:
        assert node_sh(node, "getent passwd leaver", check=False).returncode == 2, f"{node.name} kept the account"
        assert node_sh(node, "test -e /home/leaver", check=False).returncode == 1
        assert login_refused(node, "leaver", "leaver-pw-1")


def _kill_and_restart_while(server, request: threading.Thread, node_state: str, settle: float) -> None:
    """Start the request, SIGKILL the service once a node is in node_state (plus settle seconds,
    so the Ansible run is under way), start it again, and wait for every node to be free."""
    request.start()
    wait_for(lambda: any(node["state"] == node_state for node in server.api.get("/api/v1/nodes").body["nodes"]),
             timeout=30, interval=0.05)
    time.sleep(settle)
    server.kill()
    request.join(60)
    server.start()
    wait_for(lambda: free_count(server) == POOL_SIZE, timeout=120)


def _swallow(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except OSError as error:  # the server died under the request: that is the point
        return error


def test_the_service_refuses_every_account_and_group_of_the_image(server):
    """Read from the image itself, not from a list: every user and group name is a 400."""
    names = set(docker("run", "--rm", "--entrypoint", "sh", "bunkhouse/node:latest", "-c",
                       "cut -d: -f1 /etc/passwd /etc/group").stdout.split())
    assert {"root", "sshd", "disk", "tty", "staff", "shadow"} <= names
    for name in sorted(names):
        answer = reserve(server.api, name, "whatever-pw")
        assert answer.status == 400 and answer.error["field"] == "username", (name, answer.body)
    assert free_count(server) == POOL_SIZE


def test_a_late_removal_for_another_lease_leaves_the_account_alone(server, runner):
    """An account removal that comes late, for a lease that ended, never takes the account of
    the same name that another reservation has made on that node since."""
    answer = reserve(server.api, "same", "same-pw-1")
    assert answer.status == 201, answer.body
    node, = nodes_of(answer.body)
    late = runner.run("account_batch.yml", {"bunkhouse_account_ops": {
        node.name: {"name": "same", "state": "absent", "owner": "0" * 32}}})
    assert late.ok, late.stdout_tail
    assert ssh_run(node, "same", "id -un", password="same-pw-1").strip() == "same"
    assert server.api.delete(f"/api/v1/reservations/{answer.body['id']}").status == 200
    assert login_refused(node, "same", "same-pw-1")
