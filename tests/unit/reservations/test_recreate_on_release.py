"""A pool that recreates its members on release (BUNKHOUSE_NODE_RECREATE_ON_RELEASE, on by
default with BUNKHOUSE_NODE_SUDO): ending a lease recreates its nodes from the image, in one
pool_provision.yml run, instead of removing the account; they come back free with their new
host keys, and a node whose recreation failed is quarantined, never handed out."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bunkhouse.config import Config
from bunkhouse.fleet.models import ContainerState as S
from helpers.api import Api, reserve
from helpers.unit_app import close, make_app, unit_environment


@pytest.fixture
def sudo_app(tmp_path, database_url, fake_runner, fake_engine):
    config = Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_NODE_SUDO="on"))
    app = make_app(config, fake_runner, fake_engine)
    yield app
    close(app)


@pytest.fixture
def sudo_api(sudo_app) -> Api:
    return Api(sudo_app.test_client())


def members(app) -> dict:
    return {row.name: row for row in app.extensions["bunkhouse.fleet"].members()}


def test_sudo_turns_recreation_on_unless_told_otherwise(tmp_path):
    def pool(**env):
        return Config.from_environ(unit_environment(tmp_path, **env)).pool

    assert (pool().sudo, pool().recreate_on_release) == (False, False)
    assert (pool(BUNKHOUSE_NODE_SUDO="on").sudo, pool(BUNKHOUSE_NODE_SUDO="on").recreate_on_release) == (True, True)
    assert pool(BUNKHOUSE_NODE_SUDO="on", BUNKHOUSE_NODE_RECREATE_ON_RELEASE="off").recreate_on_release is False
    assert pool(BUNKHOUSE_NODE_RECREATE_ON_RELEASE="on").recreate_on_release is True


def test_a_sudo_pool_gives_its_tenants_sudo_and_provisions_without_no_new_privileges(sudo_app, sudo_api, fake_runner):
    assert reserve(sudo_api, count=1).status == 201
    change, = fake_runner.account_changes()[0].values()
    assert change["sudo"] is True
    assert sudo_app.extensions["bunkhouse.fleet"].pool.variables()["pool_node_sudo"] is True


def test_a_release_recreates_the_nodes_in_one_run_and_frees_them_with_new_keys(sudo_app, sudo_api, fake_runner):
    body = reserve(sudo_api, count=3).body
    names = [node["name"] for node in body["nodes"]]
    answer = sudo_api.delete(f"/api/v1/reservations/{body['id']}")
    assert answer.status == 200 and answer.body["state"] == "released"
    # No account removal: the containers themselves were made again, all three in one run.
    assert all(change["state"] == "present" for run in fake_runner.account_changes() for change in run.values())
    recreate, = fake_runner.provision_calls()
    assert recreate["pool_node_state"] == "recreated" and recreate["pool_node_indexes"] == [1, 2, 3]
    after = members(sudo_app)
    for name in names:
        assert after[name].state == S.FREE and after[name].holder is None
        assert after[name].host_keys == {"ED25519": f"SHA256:new-{name}"}
    # The next tenant is told the new keys.
    again = reserve(sudo_api, count=1, username="bob").body
    assert again["nodes"][0]["host_key_fingerprints"] == {"ED25519": "SHA256:new-node-1"}


def test_an_expiry_recreates_too(sudo_app, sudo_api, fake_runner):
    service = sudo_app.extensions["bunkhouse.reservations"]
    reservation_id = reserve(sudo_api, count=2).body["id"]
    real = service.clock
    service.clock = lambda: real() + timedelta(hours=2)
    assert service.expire_due() == 1
    assert service.accounts.renewals.batcher.drain()
    assert service.get(reservation_id).state == "expired"
    assert fake_runner.provision_calls()[0]["pool_node_indexes"] == [1, 2]
    assert {members(sudo_app)[name].state for name in ("node-1", "node-2")} == {S.FREE}


def test_a_node_whose_recreation_failed_is_quarantined_not_freed(sudo_app, sudo_api, fake_runner):
    reservation_id = reserve(sudo_api, count=2).body["id"]
    fake_runner.failing_playbooks = {"pool_provision.yml"}
    assert sudo_api.delete(f"/api/v1/reservations/{reservation_id}").body["state"] == "released"
    after = members(sudo_app)
    for name in ("node-1", "node-2"):
        assert after[name].state == S.QUARANTINED
        assert after[name].state_reason.startswith("recreating the node failed:")
        assert "the engine said no" in after[name].state_reason
        # The old keys stay recorded: nothing claims the node was made again.
        assert after[name].host_keys == {"ED25519": f"SHA256:key{name[-1]}"}


def test_one_node_failing_in_a_shared_recreation_run_leaves_the_others_freed(sudo_app, sudo_api, fake_runner):
    # Each node is a host of its own in pool_provision.yml: node-2's failure is node-2's alone.
    reservation_id = reserve(sudo_api, count=3).body["id"]
    fake_runner.failing_hosts = {"node-2@local"}
    assert sudo_api.delete(f"/api/v1/reservations/{reservation_id}").body["state"] == "released"
    recreate, = fake_runner.provision_calls()
    assert recreate["pool_node_indexes"] == [1, 2, 3]
    after = members(sudo_app)
    assert (after["node-1"].state, after["node-2"].state, after["node-3"].state) == (S.FREE, S.QUARANTINED, S.FREE)
    assert "node-account: it broke" in after["node-2"].state_reason


def test_a_rolled_back_reservation_recreates_the_nodes_that_got_the_account(sudo_app, sudo_api, fake_runner):
    fake_runner.failing_hosts = {"node-2"}
    assert reserve(sudo_api, count=2).status == 503
    assert sudo_app.extensions["bunkhouse.reservations"].accounts.renewals.batcher.drain()
    recreate, = fake_runner.provision_calls()
    assert recreate["pool_node_indexes"] == [1]
    after = members(sudo_app)
    assert after["node-1"].state == S.FREE and after["node-2"].state == S.QUARANTINED


def test_the_reconcile_waits_for_a_recreation_in_flight(sudo_app, sudo_api, fake_runner):
    reservation_id = reserve(sudo_api, count=1).body["id"]
    fake_runner.hold = threading.Event()
    service = sudo_app.extensions["bunkhouse.reservations"]
    service.release(reservation_id, wait=False)
    try:
        assert service.accounts.in_flight() == {"node-1"}
        summary = sudo_app.extensions["bunkhouse.reconciler"].at_start()
        assert summary["released"] == [] and summary["cleaned"] == []
    finally:
        fake_runner.hold.set()
    assert service.accounts.renewals.batcher.drain()
    assert members(sudo_app)["node-1"].state == S.FREE
    assert len(fake_runner.provision_calls()) == 1
