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

from helpers.api import reserve
from helpers.nodes import logs_in, nodes_of, ssh_run
from helpers.service import running_service
from helpers.waiting import wait_for

POOL = "outage"
POOL_SIZE = 2
MONITOR_INTERVAL = 4


@pytest.fixture(scope="module")
def server(project_dir, tmp_path_factory, docker_engine):
    with running_service(tmp_path_factory.mktemp("service-outage"), pool=POOL, pool_size=POOL_SIZE,
                         BUNKHOUSE_MONITOR_INTERVAL=str(MONITOR_INTERVAL)) as server:
        try:
            yield server
        finally:
            _start_engine(project_dir)  # before the service's pool is removed


def _engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def _start_engine(project_dir) -> None:
    subprocess.run([str(project_dir / "scripts" / "ensure-docker.sh")], check=True, capture_output=True)


def test_an_engine_outage_fails_cleanly_and_recovers_by_itself(server, project_dir):
    api = server.api
    first = reserve(api, "olga", "Olga-pw-55")
    assert first.status == 201, first.body
    node, = nodes_of(first.body)
    assert ssh_run(node, "olga", "id -un", password="Olga-pw-55").strip() == "olga"
    nodes_before = {n["name"]: n["state"] for n in api.get("/api/v1/nodes").body["nodes"]}

    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=True)
    try:
        assert wait_for(lambda: not _engine_answers(), timeout=60)
        health = api.get("/healthz")
        assert health.status == 503 and health.body["docker"]["ok"] is False and health.body["status"] == "degraded"

        refused = reserve(api, "pavel", "Pavel-pw-55")
        assert refused.status == 503 and refused.error["code"] == "engine_down", refused.body
        # Two monitor periods with the engine down decide nothing: no node is quarantined.
        time.sleep(2 * MONITOR_INTERVAL + 1)
        assert {n["name"]: n["state"] for n in api.get("/api/v1/nodes").body["nodes"]} == nodes_before
    finally:
        _start_engine(project_dir)

    assert wait_for(lambda: api.get("/healthz").status == 200, timeout=60)
    # The engine restarted the nodes; a new reservation works and the tenant's login survived.
    second = wait_for(lambda: (lambda answer: answer if answer.status == 201 else None)(
        reserve(api, "pavel", "Pavel-pw-55")), timeout=60)
    assert second and second.status == 201, second
    other, = nodes_of(second.body)
    assert wait_for(lambda: logs_in(other, "pavel", "Pavel-pw-55"), timeout=30)
    assert wait_for(lambda: logs_in(node, "olga", "Olga-pw-55"), timeout=30)
    # Several monitor periods later, nothing was quarantined and olga's node is still hers.
    time.sleep(2 * MONITOR_INTERVAL + 1)
    view = api.get(f"/api/v1/reservations/{first.body['id']}").body
    assert view["state"] == "active" and view["nodes"][0]["state"] == "reserved", view
    assert all(n["state"] == "reserved" for n in api.get("/api/v1/nodes").body["nodes"])
    for reservation_id in (first.body["id"], second.body["id"]):
        assert api.delete(f"/api/v1/reservations/{reservation_id}").status == 200
