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

from support import Node, Server, docker, login_refused, node_sh, ssh_run, wait_for

POOL = "svc"
POOL_SIZE = 10
PORT_FIRST = 23301


@pytest.fixture(scope="module")
def server(project_dir, tmp_path_factory, docker_engine, provisioner):
    server = Server(project_dir, tmp_path_factory.mktemp("service"), pool=POOL, pool_size=POOL_SIZE,
                    ssh_port_first=PORT_FIRST)
    server.start()
    yield server
    server.stop()
    provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})


def reserve(server, username, password, count=1, duration=30):
    return server.request("POST", "/api/v1/reservations", {
        "username": username, "password": password, "count": count, "duration_minutes": duration})


def nodes_of(body) -> list[Node]:
    return [Node(node["name"], node["port"]) for node in body["nodes"]]


def free_count(server) -> int:
    return sum(node["state"] == "free" for node in server.request("GET", "/api/v1/nodes")[1]["nodes"])


def test_the_service_provisioned_its_pool(server):
    status, body = server.request("GET", "/api/v1/nodes")
    assert status == 200
    assert [node["name"] for node in body["nodes"]] == [f"bunkhouse-{POOL}-{index}" for index in range(1, 11)]
    assert all(node["state"] == "free" and node["host_key_fingerprints"].get("ED25519") for node in body["nodes"])
    health = server.request("GET", "/healthz")[1]
    assert health["database"]["ok"] and health["docker"]["ok"] and health["scheduler"]["running"]


def test_reserve_log_in_on_every_node_release_and_the_login_fails(server):
    status, body = reserve(server, "alice", "alice-pw-42", count=2)
    assert status == 201, body
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

    status, released = server.request("DELETE", f"/api/v1/reservations/{body['id']}")
    assert status == 200 and released["state"] == "released"
    for node in nodes_of(body):
        assert login_refused(node, "alice", "alice-pw-42")
        assert node_sh(node, "getent passwd alice", check=False).returncode == 2
    assert free_count(server) == POOL_SIZE


def test_twenty_people_at_once_on_ten_nodes(server):
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(20)

    def one(index):
        barrier.wait()
        results.append(reserve(server, f"storm{index}", f"storm-pw-{index}"))

    threads = [threading.Thread(target=one, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(status for status, _ in results) == {201: 10, 409: 10}
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "pool_exhausted"
    winners = [body for status, body in results if status == 201]
    handed_out = [node["name"] for body in winners for node in body["nodes"]]
    assert len(handed_out) == len(set(handed_out)) == 10
    for body in winners:
        index = body["username"].removeprefix("storm")
        node, = nodes_of(body)
        assert ssh_run(node, body["username"], "id -un", password=f"storm-pw-{index}").strip() == body["username"]
    status, released = server.request("GET", "/release_all")
    assert status == 200 and len(released["released"]) == 10
    assert free_count(server) == POOL_SIZE


def test_a_one_minute_reservation_expires_on_its_own(server):
    status, body = reserve(server, "brief", "brief-pw-1", count=1, duration=1)
    assert status == 201, body
    node, = nodes_of(body)
    ends_at = datetime.fromisoformat(body["ends_at"]).timestamp()
    assert ssh_run(node, "brief", "id -un", password="brief-pw-1").strip() == "brief"
    # Wait for the end, then for the account to disappear from the node.
    while time.time() < ends_at + 30 and node_sh(node, "getent passwd brief", check=False).returncode == 0:
        time.sleep(0.25)
    gone_after = time.time() - ends_at
    assert node_sh(node, "getent passwd brief", check=False).returncode == 2
    # Removed at its end (an exact-time job), not at the next minute sweep.
    assert gone_after < 15, f"the account lived {gone_after:.1f}s past its end"
    assert login_refused(node, "brief", "brief-pw-1")
    status, ended = server.request("GET", f"/api/v1/reservations/{body['id']}")
    assert ended["state"] == "expired"


def test_the_seed_readme_examples(server):
    base = f"http://127.0.0.1:{server.port}"

    def curl(path):
        done = subprocess.run(["curl", "-s", f"{base}{path}"], capture_output=True, text=True, timeout=180)
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
    accounts_before = {f"bunkhouse-{POOL}-{index}": node_sh(f"bunkhouse-{POOL}-{index}", "getent passwd").stdout
                       for index in range(1, POOL_SIZE + 1)}
    outcome = {}
    request = threading.Thread(target=lambda: outcome.update(result=_swallow(reserve, server, "victim",
                                                                            "victim-pw-1", count=3)))
    # Kill while the account run is in flight: the nodes are reserving in the database.
    _kill_and_restart_while(server, request, "reserving", settle=0.5)
    # Reconcile rolls the reservation back with the same playbook.
    assert free_count(server) == POOL_SIZE
    reservations = server.request("GET", "/api/v1/reservations?all=1")[1]["reservations"]
    victim, = [item for item in reservations if item["username"] == "victim"]
    assert victim["state"] == "failed"
    for name, before in accounts_before.items():
        assert node_sh(name, "getent passwd").stdout == before, f"{name} kept an account"
        assert node_sh(name, "test -e /home/victim", check=False).returncode == 1


def test_killing_the_server_mid_release_leaves_no_account_and_no_stuck_node(server):
    status, body = reserve(server, "leaver", "leaver-pw-1", count=3)
    assert status == 201, body
    held = [node["name"] for node in body["nodes"]]
    request = threading.Thread(target=lambda: _swallow(server.request, "DELETE", f"/api/v1/reservations/{body['id']}"))
    # Kill while the removal run is in flight: the nodes are releasing in the database.
    _kill_and_restart_while(server, request, "releasing", settle=0.3)
    # Reconcile releases it again (the same idempotent removal).
    assert free_count(server) == POOL_SIZE
    status, view = server.request("GET", f"/api/v1/reservations/{body['id']}")
    assert status == 200 and view["state"] == "released"
    for name in held:
        assert node_sh(name, "getent passwd leaver", check=False).returncode == 2, f"{name} kept the account"
        assert node_sh(name, "test -e /home/leaver", check=False).returncode == 1
        assert login_refused(Node(name, next(n["port"] for n in body["nodes"] if n["name"] == name)),
                             "leaver", "leaver-pw-1")


def _kill_and_restart_while(server, request: threading.Thread, node_state: str, settle: float) -> None:
    """Start the request, SIGKILL the service once a node is in node_state (plus settle seconds,
    so the Ansible run is under way), start it again, and wait for every node to be free."""
    request.start()
    wait_for(lambda: any(node["state"] == node_state
                         for node in server.request("GET", "/api/v1/nodes")[1]["nodes"]), timeout=30, interval=0.05)
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


def test_the_service_refuses_system_accounts_known_to_the_image(server):
    from bunkhouse.validation import SYSTEM_ACCOUNTS

    image_accounts = docker("run", "--rm", "--entrypoint", "cut", "bunkhouse/node:latest",
                            "-d:", "-f1", "/etc/passwd").stdout.split()
    assert set(image_accounts) <= SYSTEM_ACCOUNTS
    for name in image_accounts:
        status, body = reserve(server, name, "whatever-pw")
        assert status == 400 and body["error"]["field"] == "username"
