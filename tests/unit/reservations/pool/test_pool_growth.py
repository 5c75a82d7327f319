"""A node pool that grows on demand (BUNKHOUSE_POOL_MAX above BUNKHOUSE_POOL_SIZE): a reservation
that finds too few free nodes waits for new ones, made in one pool_provision.yml run, instead of
a 409; the nodes beyond the min are removed once idle, and the pool is topped up to its min."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, update

from bunkhouse.config import Config
from bunkhouse.core.model import utcnow
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from helpers.api import Api, reserve
from helpers.pools import node_pool_file, rows, sizing
from helpers.unit_app import close, make_app, unit_environment


def test_a_reservation_beyond_the_free_nodes_waits_for_new_ones_made_in_one_run(growing_app, api, fake_runner):
    assert reserve(api, username="alice", count=1).status == 201
    assert fake_runner.provision_calls() == []  # a free node was claimed: nothing made
    answer = reserve(api, username="bob", count=2)
    assert answer.status == 201, answer.body
    # One node was free: exactly one more was made, at the lowest free number, in one run.
    made, = fake_runner.provision_calls()
    # Made as new containers: a number nobody holds may still have a container nobody trusts.
    assert (made["pool_node_state"], made["pool_node_indexes"]) == ("recreated", [3])
    assert sorted(node["name"] for node in answer.body["nodes"]) == ["node-2", "node-3"]
    assert rows(growing_app) == {"node-1": S.RESERVED, "node-2": S.RESERVED, "node-3": S.RESERVED}
    events = api.get("/api/v1/events?kind=pool_grown").body["events"]
    assert [event["detail"]["nodes"] for event in events] == [["node-3"]]


def test_a_reservation_beyond_the_max_is_refused_and_nothing_is_made(growing_app, api, fake_runner):
    assert reserve(api, count=5).status == 400  # more than the pool may ever have
    assert reserve(api, username="alice", count=3).status == 201  # 2 free + 1 made
    answer = reserve(api, username="bob", count=2)  # 3 held of at most 4: room for 1
    assert answer.status == 409
    assert answer.body["error"]["code"] == "pool_exhausted"
    assert (answer.body["error"]["max"], answer.body["error"]["members"]) == (4, 3)
    assert len(fake_runner.provision_calls()) == 1
    assert [reservation["username"] for reservation in api.get("/api/v1/reservations").body["reservations"]] \
        == ["alice"]


def test_a_growth_that_fails_is_a_503_and_nothing_is_held(growing_app, api, fake_runner):
    fake_runner.failing_hosts = {"node-3@local"}
    assert reserve(api, username="alice", count=2).status == 201
    answer = reserve(api, username="bob", count=1)
    assert answer.status == 503
    assert answer.body["error"]["code"] == "pool_growth_failed"
    assert rows(growing_app) == {"node-1": S.RESERVED, "node-2": S.RESERVED}
    assert [reservation["username"] for reservation in api.get("/api/v1/reservations").body["reservations"]] \
        == ["alice"]


def test_idle_nodes_beyond_the_min_are_removed_and_the_min_is_kept(growing_app, api, fake_runner, engine):
    first = reserve(api, username="alice", count=4).body["id"]
    assert api.delete(f"/api/v1/reservations/{first}").status == 200
    pool = sizing(growing_app)
    assert pool.keep_size() == {"made": [], "removed": [], "refreshed": []}  # free, but not idle for 60 s yet
    fleet = growing_app.extensions["bunkhouse.fleet"]
    fleet.clock = lambda: utcnow() + timedelta(seconds=61)
    assert pool.keep_size() == {"made": [], "removed": ["node-3", "node-4"], "refreshed": []}
    removal = fake_runner.provision_calls()[-1]
    assert (removal["pool_node_state"], removal["pool_node_indexes"]) == ("absent", [3, 4])
    assert set(rows(growing_app)) == {"node-1", "node-2"} and set(engine.running) == {"node-1", "node-2"}
    # A node lost (its row gone, as after an operator's removal) is made again up to the min.
    engine.running.pop("node-2")
    with growing_app.extensions["bunkhouse.database"].write() as session:
        session.execute(delete(Container).where(Container.name == "node-2"))
    assert pool.keep_size() == {"made": ["node-2"], "removed": [], "refreshed": []}
    assert rows(growing_app) == {"node-1": S.FREE, "node-2": S.FREE}


def test_a_held_node_beyond_the_min_is_never_removed(growing_app, api, fake_runner):
    assert reserve(api, username="alice", count=3).status == 201
    growing_app.extensions["bunkhouse.fleet"].clock = lambda: utcnow() + timedelta(hours=1)
    assert sizing(growing_app).keep_size() == {"made": [], "removed": [], "refreshed": []}
    assert len(rows(growing_app)) == 3


def test_the_containers_files_ssh_node_entry_sizes_the_pool_and_a_reload_changes_it(tmp_path, database_url,
                                                                                  fake_runner, engine):
    path = tmp_path / "containers.yml"
    node_pool_file(path, min=1, max=3, limits={"memory": "512m"})
    config = Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_CONTAINERS_FILE=str(path),
                                                  BUNKHOUSE_NODE_CPUS="0.75"))
    app = make_app(config, fake_runner, engine, nodes=2)
    fake_runner.on_run = engine.apply_node_run
    try:
        api, fleet = Api(app.test_client()), app.extensions["bunkhouse.fleet"]
        limits = fleet.pool.template.limits
        # The entry's values, and the settings' where it says nothing.
        assert (fleet.pool.size, fleet.pool.max_size, limits.memory, limits.cpus) == (1, 3, "512m", 0.75)
        assert fleet.pool.variables()["pool_node_memory"] == "512m"
        assert reserve(api, count=3).status == 201  # 2 free, 1 made: the entry's max allows it
        node_pool_file(path, min=1, max=2)
        assert api.post("/api/v1/containers/reload-config").status == 200
        assert (fleet.pool.max_size, fleet.pool.template.limits.memory) == (2, "1g")
        node_pool_file(path, min=1, max=2, limits={"memory": "huge"})
        refused = api.post("/api/v1/containers/reload-config")
        assert refused.status == 400 and "limits.memory" in refused.body["error"]["message"]
        assert fleet.pool.max_size == 2  # the file in force stays
    finally:
        close(app)


def test_the_idle_removal_waits_while_a_claim_takes_the_nodes_made_for_it(growing_app, api, fake_runner, engine):
    # The idle removal (idle at once: the clock is an hour on) starts once room is made (the new
    # node recorded free) and before the reservation claims it; it must wait for the claim.
    fleet, pool = growing_app.extensions["bunkhouse.fleet"], sizing(growing_app)
    fleet.clock = lambda: utcnow() + timedelta(hours=1)
    assert reserve(api, username="alice", count=2).status == 201
    removal: dict = {}
    make_room = pool.make_room

    def make_room_then_remove(count):
        made = make_room(count)
        if "thread" not in removal:
            removal["thread"] = threading.Thread(target=lambda: removal.update(done=pool.keep_size()))
            removal["thread"].start()
            removal["thread"].join(0.5)  # without the claim's hold it is done by now, node-3 removed
        return made

    pool.make_room = make_room_then_remove
    answer = reserve(api, username="bob", count=1)
    assert answer.status == 201, answer.body
    removal["thread"].join(10)
    assert removal["done"] == {"made": [], "removed": [], "refreshed": []}
    assert rows(growing_app)["node-3"] == S.RESERVED


def test_runs_on_some_nodes_skip_the_engine_checks_only_once_this_process_made_them(growing_app, api, fake_runner):
    fleet = growing_app.extensions["bunkhouse.fleet"]
    assert reserve(api, username="alice", count=3).status == 201  # node-3 made: the engine not yet checked
    assert reserve(api, username="bob", count=1).status == 201  # node-4: the last run checked it
    first, second = fake_runner.provision_calls()
    assert (first["pool_node_network_ready"], first["node_image_ready"]) == (False, False)
    assert (second["pool_node_network_ready"], second["node_image_ready"]) == (True, True)
    # The engine went away: it may be back without the pool's network or firewall chains.
    growing_app.extensions["bunkhouse.lifecycle"].monitor.fleet.engine.down = True
    growing_app.extensions["bunkhouse.lifecycle"].monitor.round()
    assert fleet.engine_checked is False


def test_quarantined_nodes_do_not_count_towards_the_min(growing_app, api, fake_runner):
    fleet = growing_app.extensions["bunkhouse.fleet"]
    assert fleet.quarantine("node-2", "probe: broken", actor="test", expected_state=S.FREE, expected_holder=None)
    # One usable node of a min of 2: one more is made (node-3), node-2 keeps its number.
    assert sizing(growing_app).keep_size() == {"made": ["node-3"], "removed": [], "refreshed": []}
    assert rows(growing_app) == {"node-1": S.FREE, "node-2": S.QUARANTINED, "node-3": S.FREE}


def test_a_recently_freed_high_node_does_not_shield_an_idle_lower_one(growing_app, api, fake_runner):
    first = reserve(api, username="alice", count=4).body  # nodes 1-4: 3 and 4 made for it
    assert api.delete(f"/api/v1/reservations/{first['id']}").status == 200
    fleet = growing_app.extensions["bunkhouse.fleet"]
    later = utcnow() + timedelta(seconds=61)
    # node-4 is freed again just now (used and released); the others have been idle for 61 s, and
    # two of them go (any two: the numbers are alike), highest first.
    with growing_app.extensions["bunkhouse.database"].write() as session:
        session.execute(update(Container).where(Container.name == "node-4").values(updated_at=later))
    fleet.clock = lambda: later
    assert sizing(growing_app).keep_size() == {"made": [], "removed": ["node-2", "node-3"], "refreshed": []}
    assert set(rows(growing_app)) == {"node-1", "node-4"}
