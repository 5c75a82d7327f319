"""A node pool that grows on demand, against the real stack: with one node kept (BUNKHOUSE_POOL_SIZE)
and room for three (BUNKHOUSE_POOL_MAX), a reservation of two waits while Ansible makes the
missing ones, its tenant logs in over SSH on each, a reservation beyond the max is a 409, and once
released the nodes beyond the min are removed (BUNKHOUSE_POOL_IDLE_SECONDS=0)."""

from __future__ import annotations

import json
import time

import pytest

from helpers.api import reserve
from helpers.nodes import docker, nodes_of, ssh_run
from helpers.service import running_service

POOL = "grow"
PASSWORD = "Grow-tenant-pw-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-grow"), pool=POOL, pool_size=1, BUNKHOUSE_POOL_MAX="3",
                         BUNKHOUSE_POOL_IDLE_SECONDS="0", BUNKHOUSE_SWEEP_INTERVAL="2") as server:
        yield server


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
        assert inspected["HostConfig"]["PidsLimit"] == 256
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
