"""A pool that grants sudo recreates its nodes on release (BUNKHOUSE_NODE_SUDO=on turns
BUNKHOUSE_NODE_RECREATE_ON_RELEASE on), against the real stack: a tenant with sudo changes the
node as root and leaves a root process; after the release the node is a new container from the
image, nothing of that is left, the service tells the next tenant the new host keys, and the
next tenant logs in and gets sudo."""

from __future__ import annotations

import json

import pytest

from helpers.api import reserve
from helpers.nodes import Node, docker, node_sh, nodes_of, ssh_run
from helpers.service import running_service

POOL = "recr"
PASSWORD = "Recr-tenant-pw-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-recr"), pool=POOL, pool_size=2, BUNKHOUSE_NODE_SUDO="on",
                         BUNKHOUSE_SWEEP_INTERVAL="3600") as server:
        yield server


def as_root(node: Node, user: str, command: str) -> str:
    """A command run with the tenant's sudo (asked for the tenant's own password)."""
    return ssh_run(node, user, f"echo {PASSWORD} | sudo -S -p '' sh -c '{command}'", password=PASSWORD)


def container_of(node: Node) -> dict:
    return json.loads(docker("inspect", node.name).stdout)[0]


def live_host_key(node: Node) -> str:
    return node_sh(node, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]


def node_row(server, name: str) -> dict:
    rows = server.api.get("/api/v1/nodes").body["nodes"]
    return next(row for row in rows if row["name"] == name)


def test_a_released_sudo_node_comes_back_from_the_image(server):
    first = reserve(server.api, "rita", PASSWORD)
    assert first.status == 201, first.body
    node = nodes_of(first.body)[0]
    old_container = container_of(node)
    # The pool grants sudo: its nodes run without no-new-privileges, and still with limits.
    assert not any("no-new-privileges" in option for option in old_container["HostConfig"]["SecurityOpt"] or [])
    assert old_container["HostConfig"]["PidsLimit"] == 256
    assert as_root(node, "rita", "id -u").strip() == "0"
    # As root the tenant writes where no account sweep looks, and leaves a process running.
    as_root(node, "rita", "echo planted > /etc/planted; echo rita-was-here >> /etc/motd;"
                          " nohup sleep 100000 >/dev/null 2>&1 &")
    assert node_sh(node, "cat /etc/planted").stdout.strip() == "planted"
    assert "sleep 100000" in node_sh(node, "ps -eo args").stdout

    released = server.api.delete(f"/api/v1/reservations/{first.body['id']}")
    assert released.status == 200 and released.body["state"] == "released", released.body

    new_container = container_of(node)
    assert new_container["Id"] != old_container["Id"]
    assert node_sh(node, "test -e /etc/planted", check=False).returncode == 1
    assert "rita-was-here" not in node_sh(node, "cat /etc/motd").stdout
    assert "sleep 100000" not in node_sh(node, "ps -eo args").stdout
    assert node_sh(node, "id rita", check=False).returncode != 0
    # Made again with the pool's settings: same port, same limits, same network.
    assert new_container["HostConfig"]["PidsLimit"] == 256
    assert list(new_container["NetworkSettings"]["Networks"]) == list(old_container["NetworkSettings"]["Networks"])
    row = node_row(server, node.name)
    assert row["state"] == "free" and row["reservation_id"] is None
    # The service learnt the new host keys, and tells them to the next tenant.
    assert row["host_key_fingerprints"]["ED25519"] == live_host_key(node)
    assert row["host_key_fingerprints"] != first.body["nodes"][0]["host_key_fingerprints"]

    second = reserve(server.api, "sam", PASSWORD, count=2)
    assert second.status == 201, second.body
    again = next(entry for entry in second.body["nodes"] if entry["name"] == node.name)
    assert again["host_key_fingerprints"]["ED25519"] == live_host_key(node)
    assert as_root(Node(again["name"], again["port"]), "sam", "id -u").strip() == "0"
    assert server.api.delete(f"/api/v1/reservations/{second.body['id']}").body["state"] == "released"
