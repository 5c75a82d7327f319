"""Nodes made from an older entry of the pool (other limits or image: a reload of the containers
file, or other settings at a restart) are stale: recreated from the entry in force once free, a
few each round (all at once with strategy immediate), never under a tenant; claims take fresh
nodes first. And a node lost under a reservation is replaced by one made for it when none is free."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import update

from bunkhouse.config import Config
from bunkhouse.core.model import utcnow
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.fleet.sizing import REFRESHING
from helpers.api import Api, reserve
from helpers.pools import node_pool_file, rows, sizing
from helpers.unit_app import close, make_app, unit_environment


def made_from(app, digests: dict[str, str | None]) -> None:
    with app.extensions["bunkhouse.database"].write() as session:
        for name, digest in digests.items():
            session.execute(update(Container).where(Container.name == name).values(spec_digest=digest))


def digests(app) -> dict[str, str | None]:
    return {row.name: row.spec_digest for row in app.extensions["bunkhouse.fleet"].members()}


def test_free_stale_nodes_are_recreated_at_most_half_of_the_free_ones_a_round(growing_app, api, fake_runner):
    fleet = growing_app.extensions["bunkhouse.fleet"]
    made_from(growing_app, {"node-1": "older", "node-2": "older"})
    assert fleet.stale_members() == ["node-1", "node-2"]
    assert [node["stale"] for node in api.get("/api/v1/nodes").body["nodes"]] == [True, True]
    assert sizing(growing_app).keep_size()["refreshed"] == ["node-1"]  # one of the two free: a claim finds the other
    recreated, = fake_runner.provision_calls()
    assert (recreated["pool_node_state"], recreated["pool_node_indexes"]) == ("recreated", [1])
    # The run labels the new container with the entry in force; the row says it is made from it.
    assert recreated["pool_node_labels"] == {"bunkhouse.digest": fleet.pool.digest}
    assert digests(growing_app) == {"node-1": fleet.pool.digest, "node-2": "older"}
    assert rows(growing_app) == {"node-1": S.FREE, "node-2": S.FREE}
    assert sizing(growing_app).keep_size()["refreshed"] == ["node-2"]
    assert fleet.stale_members() == []
    assert sizing(growing_app).keep_size()["refreshed"] == []  # nothing stale: no run
    assert len(fake_runner.provision_calls()) == 2
    refreshed = api.get("/api/v1/events?kind=pool_refreshed").body["events"]
    assert [event["detail"]["nodes"] for event in refreshed] == [["node-1"], ["node-2"]]


def test_a_claim_takes_fresh_nodes_before_stale_ones(growing_app, api):
    made_from(growing_app, {"node-1": "older"})  # node-2's digest is unknown: it counts as fresh
    answer = reserve(api, count=1)
    assert [node["name"] for node in answer.body["nodes"]] == ["node-2"]


def test_a_held_stale_node_is_recreated_only_once_its_reservation_ends(growing_app, api, fake_runner):
    body = reserve(api, count=1).body
    assert [node["name"] for node in body["nodes"]] == ["node-1"]
    made_from(growing_app, {"node-1": "older", "node-2": "older"})
    assert sizing(growing_app).refresh(all_at_once=True) == ["node-2"]
    assert [call["pool_node_indexes"] for call in fake_runner.provision_calls()] == [[2]]
    assert rows(growing_app)["node-1"] == S.RESERVED
    assert api.delete(f"/api/v1/reservations/{body['id']}").status == 200
    assert rows(growing_app)["node-1"] == S.FREE  # its account removed; still stale
    assert sizing(growing_app).refresh(all_at_once=True) == ["node-1"]
    assert growing_app.extensions["bunkhouse.fleet"].stale_members() == []


def test_a_recreation_that_fails_leaves_the_node_out_for_the_monitor_to_recover(growing_app, api, fake_runner,
                                                                                   engine):
    fleet, monitor = growing_app.extensions["bunkhouse.fleet"], growing_app.extensions["bunkhouse.lifecycle"].monitor
    made_from(growing_app, {"node-1": "older", "node-2": "older"})
    fake_runner.failing_hosts, engine.failing_nodes = {"node-1@local"}, {"node-1"}  # its old container gone too
    assert sizing(growing_app).refresh(all_at_once=True) == ["node-2"]
    node_1 = fleet.member("node-1")
    assert (node_1.state, node_1.state_reason) == (S.QUARANTINED, REFRESHING)
    assert node_1.next_probe_at <= utcnow()  # the monitor's next round tries it
    assert "node-1" not in engine.running
    fake_runner.failing_hosts, engine.failing_nodes = set(), set()
    assert monitor.round()["recovered"] == ["node-1"]  # recreated, though its container was gone
    assert rows(growing_app) == {"node-1": S.FREE, "node-2": S.FREE}
    assert fleet.stale_members() == []


@pytest.fixture
def entry_app(tmp_path, database_url, fake_runner, engine):
    """An app whose node pool comes from a containers file's ssh_node entry (min 2, 512m); yields (app, file)."""
    path = tmp_path / "containers.yml"
    node_pool_file(path, min=2, max=2, limits={"memory": "512m"})
    config = Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_CONTAINERS_FILE=str(path)))
    app = make_app(config, fake_runner, engine, nodes=2)
    fake_runner.on_run = engine.apply_node_run
    yield app, path
    close(app)


def test_a_reload_that_changes_the_nodes_limits_names_the_stale_nodes(entry_app, fake_runner):
    app, path = entry_app
    api, fleet = Api(app.test_client()), app.extensions["bunkhouse.fleet"]
    made_from(app, {"node-1": fleet.pool.digest, "node-2": fleet.pool.digest})
    same = api.post("/api/v1/containers/reload-config")
    assert (same.status, same.body["stale_nodes"]) == (200, [])  # the same limits: nothing stale
    node_pool_file(path, min=2, max=2, limits={"memory": "768m"})
    answer = api.post("/api/v1/containers/reload-config", {"strategy": "immediate"})
    assert (answer.status, answer.body["stale_nodes"]) == (200, ["node-1", "node-2"])
    assert sizing(app).refresh(all_at_once=True) == ["node-1", "node-2"]
    assert fake_runner.provision_calls()[-1]["pool_node_memory"] == "768m"


def test_a_node_lost_under_a_reservation_is_replaced_by_one_made_for_it(growing_app, api, engine, fake_runner):
    body = reserve(api, count=2).body  # every free node
    monitor = growing_app.extensions["bunkhouse.lifecycle"].monitor
    engine.running["node-1"] = False
    monitor.round()
    monitor.round()
    view = {node["name"]: node for node in api.get(f"/api/v1/reservations/{body['id']}").body["nodes"]}
    assert view["node-1"]["state"] == "lost" and view["node-1"]["replaced_by"] == "node-3"
    assert rows(growing_app)["node-3"] == S.RESERVED
    assert fake_runner.provision_calls()[0]["pool_node_indexes"] == [3]


def test_an_immediate_reload_recreates_every_free_stale_node_at_once_in_the_background(growing_app):
    jobs = growing_app.extensions["bunkhouse.lifecycle"].jobs
    asked = []
    jobs.scheduler = SimpleNamespace(running=True, at=lambda job_id, when, func, *args: asked.append((job_id, func,
                                                                                                     args)))
    made_from(growing_app, {"node-1": "older", "node-2": "older"})
    jobs.after_reload("on_release")
    assert asked == []  # the pool's rounds take a few at a time
    jobs.after_reload("immediate")
    (job_id, refresh, args), = asked
    assert job_id == "pool-refresh" and refresh(*args) == ["node-1", "node-2"]


def test_an_immediate_reload_through_the_api_recreates_the_stale_nodes_in_the_background(entry_app):
    app, _ = entry_app
    asked = []
    app.extensions["bunkhouse.lifecycle"].jobs.scheduler = SimpleNamespace(
        running=True, at=lambda job_id, when, func, *args: asked.append((job_id, func, args)))
    made_from(app, {"node-1": "older", "node-2": "older"})
    assert Api(app.test_client()).post("/api/v1/containers/reload-config", {"strategy": "immediate"}).status == 200
    (job_id, refresh, args), = asked
    assert job_id == "pool-refresh" and refresh(*args) == ["node-1", "node-2"]
