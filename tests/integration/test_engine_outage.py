"""The Docker engine stops under a running service: /healthz says so, reservations get 503 and
nothing is lost; when the engine is back the service carries on with no manual step, and the
tenant's node and login survived.

It stops the machine's engine for a few seconds: every other pool's nodes stop and restart with
it (restart policy unless-stopped), so it must not run alongside other tests (pytest runs the
modules one after another)."""

from __future__ import annotations

import subprocess
import time

import pytest

from support import Node, Server, ssh_run, wait_for

POOL = "outage"
POOL_SIZE = 2
PORT_FIRST = 23601
HEALTH_INTERVAL = 4


@pytest.fixture(scope="module")
def server(project_dir, tmp_path_factory, docker_engine, provisioner):
    server = Server(project_dir, tmp_path_factory.mktemp("service-outage"), pool=POOL, pool_size=POOL_SIZE,
                    ssh_port_first=PORT_FIRST, BUNKHOUSE_HEALTH_INTERVAL=str(HEALTH_INTERVAL))
    server.start()
    yield server
    server.stop()
    _start_engine(project_dir)
    provisioner.run_playbook("unprovision.yml", {"pool_node_pool": POOL})


def _engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def _start_engine(project_dir) -> None:
    subprocess.run([str(project_dir / "scripts" / "ensure-docker.sh")], check=True, capture_output=True)


def test_an_engine_outage_fails_cleanly_and_recovers_by_itself(server, project_dir):
    status, body = server.request("POST", "/api/v1/reservations", {
        "username": "olga", "password": "Olga-pw-55", "count": 1, "duration_minutes": 30})
    assert status == 201, body
    node = Node(body["nodes"][0]["name"], body["nodes"][0]["port"])
    assert ssh_run(node, "olga", "id -un", password="Olga-pw-55").strip() == "olga"
    nodes_before = {n["name"]: n["state"] for n in server.request("GET", "/api/v1/nodes")[1]["nodes"]}

    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=True)
    try:
        assert wait_for(lambda: not _engine_answers(), timeout=60)
        status, health = server.request("GET", "/healthz")
        assert status == 503 and health["docker"]["ok"] is False and health["status"] == "degraded"

        status, answer = server.request("POST", "/api/v1/reservations", {
            "username": "pavel", "password": "Pavel-pw-55", "count": 1})
        assert status == 503 and answer["error"]["code"] == "engine_down", answer
        # Two health periods with the engine down decide nothing: no node is quarantined.
        time.sleep(2 * HEALTH_INTERVAL + 1)
        assert {n["name"]: n["state"] for n in server.request("GET", "/api/v1/nodes")[1]["nodes"]} == nodes_before
    finally:
        _start_engine(project_dir)

    assert wait_for(lambda: server.request("GET", "/healthz")[0] == 200, timeout=60)
    # The engine restarted the nodes; a new reservation works and the tenant's login survived.
    status, body2 = wait_for(lambda: _created(server.request("POST", "/api/v1/reservations", {
        "username": "pavel", "password": "Pavel-pw-55", "count": 1})), timeout=60)
    assert status == 201, body2
    other = Node(body2["nodes"][0]["name"], body2["nodes"][0]["port"])
    assert wait_for(lambda: _login(other, "pavel", "Pavel-pw-55"), timeout=30)
    assert wait_for(lambda: _login(node, "olga", "Olga-pw-55"), timeout=30)
    # Several health periods later, nothing was quarantined and olga's node is still hers.
    time.sleep(2 * HEALTH_INTERVAL + 1)
    view = server.request("GET", f"/api/v1/reservations/{body['id']}")[1]
    assert view["state"] == "active" and view["nodes"][0]["state"] == "reserved", view
    assert all(n["state"] == "reserved" for n in server.request("GET", "/api/v1/nodes")[1]["nodes"])
    for reservation_id in (body["id"], body2["id"]):
        assert server.request("DELETE", f"/api/v1/reservations/{reservation_id}")[0] == 200


def _created(answer):
    return answer if answer[0] == 201 else None


def _login(node, username, password) -> bool:
    try:
        return ssh_run(node, username, "id -un", password=password).strip() == username
    except Exception:  # noqa: BLE001 - sshd may still be starting
        return False
