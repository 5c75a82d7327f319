"""A node pool that grows on demand, against the real stack: with one node kept (min) and room
for three (max: the containers file's ssh_node entry), a reservation of two waits while Ansible
makes the missing ones, its tenant logs in over SSH on each, a reservation beyond the max is a
409, and once released the nodes beyond the min are removed (idle_seconds 0). A reload that
changes the nodes' limits recreates a node with them once its tenant has let go, never before."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from helpers.api import reserve
from helpers.nodes import docker, nodes_of, ssh_run
from helpers.service import running_service

POOL = "grow"
PASSWORD = "Grow-tenant-pw-1"


def write_entry(path: Path, pids: int) -> None:
    path.write_text(yaml.safe_dump({"pools": {"hot": {"ttl_seconds": 0}}, "containers": [
        {"name": POOL, "kind": "ssh_node", "pool": "hot", "min": 1, "max": 3, "idle_seconds": 0,
         "limits": {"pids": pids}}]}))


@pytest.fixture(scope="module")
def containers_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grow-file") / "containers.yml"
    write_entry(path, pids=256)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine, containers_file):
    with running_service(tmp_path_factory.mktemp("service-grow"), pool=POOL, pool_size=2, BUNKHOUSE_POOL_MAX="2",
                         BUNKHOUSE_CONTAINERS_FILE=str(containers_file), BUNKHOUSE_SWEEP_INTERVAL="2") as server:
        yield server


def pids_limit(name: str) -> int:
    return json.loads(docker("inspect", name).stdout)[0]["HostConfig"]["PidsLimit"]


def containers() -> list[str]:
    return sorted(docker("ps", "-a", "--filter", f"label=bunkhouse.pool={POOL}", "--format", "{{.Names}}")
                  .stdout.split())


def test_the_pool_grows_for_a_reservation_and_shrinks_back_after_it(server):
    assert containers() == ["bunkhouse-grow-1"]
    first = reserve(server.api, "gina", PASSWORD)
    assert first.status == 201, first.body
    second = reserve(server.api, "gus", PASSWORD, count=2)  # none free: both are made for it
    assert second.status == 201, second.body
    made = sorted(node.name for node in nodes_of(second.body))
    assert made == ["bunkhouse-grow-2", "bunkhouse-grow-3"]
    for node in nodes_of(second.body):
        assert ssh_run(node, "gus", "id -un", password=PASSWORD).strip() == "gus"
        # Made with the pool's limits and on its network, as the kept node was.
        inspected = json.loads(docker("inspect", node.name).stdout)[0]
        assert inspected["HostConfig"]["PidsLimit"] == 256  # the entry's, not the settings' default
        assert list(inspected["NetworkSettings"]["Networks"]) == [f"bunkhouse-{POOL}"]
    events = server.api.get("/api/v1/events?kind=pool_grown").body["events"]
    assert [sorted(event["detail"]["nodes"]) for event in events] == [made]

    beyond = reserve(server.api, "gwen", PASSWORD)
    assert beyond.status == 409, beyond.body
    assert (beyond.body["error"]["code"], beyond.body["error"]["max"]) == ("pool_exhausted", 3)

    assert server.api.delete(f"/api/v1/reservations/{second.body['id']}").status == 200
    deadline = time.monotonic() + 90
    while containers() != ["bunkhouse-grow-1"] and time.monotonic() < deadline:
        time.sleep(1)
    # Back to its min: the node held by gina stays, the two idle beyond it are gone, rows and all.
    assert containers() == ["bunkhouse-grow-1"]
    assert [node["name"] for node in server.api.get("/api/v1/nodes").body["nodes"]] == ["bunkhouse-grow-1"]
    assert ssh_run(nodes_of(first.body)[0], "gina", "id -un", password=PASSWORD).strip() == "gina"


def test_a_reload_with_other_limits_recreates_a_node_once_its_tenant_lets_go(server, containers_file):
    held = server.api.get("/api/v1/reservations").body["reservations"]
    gina, = [reservation for reservation in held if reservation["state"] == "active"]
    node = nodes_of(gina)[0]
    write_entry(containers_file, pids=300)
    answer = server.api.post("/api/v1/containers/reload-config", {"strategy": "immediate"})
    assert answer.status == 200, answer.body
    assert answer.body["stale_nodes"] == [node.name]
    # Held: her node keeps its old limits and her files; the pool's next rounds leave it be.
    time.sleep(5)
    assert pids_limit(node.name) == 256
    assert ssh_run(node, "gina", "id -un", password=PASSWORD).strip() == "gina"
    assert server.api.delete(f"/api/v1/reservations/{gina['id']}").status == 200
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        view, = server.api.get("/api/v1/nodes").body["nodes"]
        if view["state"] == "free" and not view["stale"]:
            break
        time.sleep(1)
    assert (view["state"], view["stale"]) == ("free", False)
    assert pids_limit(node.name) == 300  # recreated with the entry in force
    again = reserve(server.api, "gail", PASSWORD)
    assert again.status == 201, again.body
    assert ssh_run(nodes_of(again.body)[0], "gail", "id -un", password=PASSWORD).strip() == "gail"
