"""The service's background jobs against the real stack.

The monitor: kill a reserved node's container, and within two monitor periods it is quarantined
and its tenant logs in to a replacement with the same password; the dead node then comes back
recreated, clean, with new host keys. Notice: a session open on a node is told before the lease
ends."""

from __future__ import annotations

import socket
import time

import paramiko
import pytest

from helpers.api import reserve
from helpers.nodes import Node, docker, login_refused, logs_in, node_sh, nodes_of, ssh_run
from helpers.service import running_service
from helpers.waiting import wait_for

POOL = "monitor"
POOL_SIZE = 3
MONITOR_INTERVAL = 4
# A 1-minute lease gets its notice 5 s after it starts.
NOTICE_SECONDS = 55


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-monitor"), pool=POOL, pool_size=POOL_SIZE,
                         BUNKHOUSE_MONITOR_INTERVAL=str(MONITOR_INTERVAL),
                         BUNKHOUSE_NOTICE_SECONDS=str(NOTICE_SECONDS)) as server:
        yield server


def test_a_killed_node_is_replaced_and_comes_back_clean(server):
    answer = reserve(server.api, "dora", "Dora-pw-31")
    assert answer.status == 201, answer.body
    body = answer.body
    dead = Node(body["nodes"][0]["name"], body["nodes"][0]["port"])
    old_keys = body["nodes"][0]["host_key_fingerprints"]
    assert ssh_run(dead, "dora", "touch ~/work-in-progress && id -un", password="Dora-pw-31").strip() == "dora"

    docker("kill", dead.name)

    def replaced():
        view = server.api.get(f"/api/v1/reservations/{body['id']}").body
        lost = next(node for node in view["nodes"] if node["name"] == dead.name)
        others = [node for node in view["nodes"] if node["name"] == lost.get("replaced_by")]
        return (view, lost, others[0]) if lost["state"] == "lost" and others and \
            others[0]["state"] == "reserved" else None

    # Two failed probes, then the replacement's account run: well within a minute here.
    outcome = wait_for(replaced, timeout=2 * MONITOR_INTERVAL + 60, interval=0.5)
    assert outcome, server.api.get(f"/api/v1/reservations/{body['id']}").body
    view, lost, replacement = outcome
    assert view["state"] == "active" and view["ends_at"] == body["ends_at"]
    assert "probe" in lost["lost_reason"]
    spare = Node(replacement["name"], replacement["port"])
    assert ssh_run(spare, "dora", "id -un", password="Dora-pw-31").strip() == "dora"

    events = server.api.get(f"/api/v1/events?reservation_id={body['id']}").body["events"]
    assert {"quarantined", "replaced"} <= {event["kind"] for event in events}

    # The dead node's container runs again (restart, as after a crash): the monitor recreates
    # it and frees it; nothing of dora's is on it, and its host keys are new.
    docker("start", dead.name)

    def back():
        nodes = server.api.get("/api/v1/nodes").body["nodes"]
        return next((node for node in nodes if node["name"] == dead.name and node["state"] == "free"), None)

    recovered = wait_for(back, timeout=120, interval=0.5)
    assert recovered, server.api.get("/api/v1/nodes").body
    assert recovered["host_key_fingerprints"] != old_keys
    assert node_sh(dead.name, "getent passwd dora", check=False).returncode == 2
    assert login_refused(Node(dead.name, recovered["port"]), "dora", "Dora-pw-31")

    assert server.api.delete(f"/api/v1/reservations/{body['id']}").status == 200
    assert login_refused(spare, "dora", "Dora-pw-31")


def test_open_sessions_are_told_before_the_lease_ends(server):
    answer = reserve(server.api, "nina", "Nina-pw-12", duration=1)
    assert answer.status == 201, answer.body
    body = answer.body
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=body["nodes"][0]["port"], username="nina", password="Nina-pw-12",
                   allow_agent=False, look_for_keys=False, timeout=10)
    try:
        shell = client.invoke_shell()  # a terminal, as a person logged in has
        seen = ""
        deadline = time.monotonic() + 40
        while "bunkhouse:" not in seen and time.monotonic() < deadline:
            if shell.recv_ready():
                seen += shell.recv(65536).decode(errors="replace")
            else:
                time.sleep(0.2)
    finally:
        client.close()
    assert "bunkhouse: this lease ends at" in seen, seen
    assert f"/api/v1/reservations/{body['id']}/extend" in seen
    # The run that wrote the message records its event when it ends, just after.
    events = wait_for(lambda: server.api.get(
        f"/api/v1/events?reservation_id={body['id']}&kind=notice_sent").body["events"], timeout=30)
    assert len(events) == 1 and events[0]["detail"]["ok"] is True
    assert server.api.delete(f"/api/v1/reservations/{body['id']}").status == 200


def test_a_hundred_idle_connections_to_a_reserved_node_move_nothing(server):
    """A stranger who can reach a node's published port holds its unauthenticated slots: the
    probe runs inside the node, so the node is neither quarantined nor recreated."""
    answer = reserve(server.api, "held", "Held-pw-12345")
    assert answer.status == 201, answer.body
    node = nodes_of(answer.body)[0]
    container = docker("inspect", "-f", "{{.Id}}", node.name).stdout.strip()
    sockets = []
    try:
        for _ in range(100):
            sockets.append(socket.create_connection(("127.0.0.1", node.port), timeout=5))
        time.sleep(MONITOR_INTERVAL * 2 + 2)  # two monitor rounds and then some
        view = server.api.get(f"/api/v1/reservations/{answer.body['id']}").body
        assert view["state"] == "active" and view["nodes"][0]["state"] == "reserved", view
        assert docker("inspect", "-f", "{{.Id}}", node.name).stdout.strip() == container
    finally:
        for connection in sockets:
            connection.close()
    assert wait_for(lambda: logs_in(node, "held", "Held-pw-12345"), timeout=30)
    server.api.delete(f"/api/v1/reservations/{answer.body['id']}")
