"""The monitor's decisions, with a fake engine and a fake SSH probe (the real-stack test is
tests/integration/reservations/test_background_jobs.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bunkhouse.core.events import Event
from bunkhouse.fleet import hands, transitions
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.fleet.monitor import Monitor
from bunkhouse.reservations.passwords import verify_password
from helpers.api import reserve
from helpers.waiting import wait_for


@pytest.fixture
def monitor(fleet, fake_engine) -> Monitor:
    return Monitor(fleet, 60, probe=fake_engine.probe)


def states(fleet) -> dict[str, str]:
    return {node.name: node.state for node in fleet.members()}


def reserved(api, username="alice", count=1) -> dict:
    answer = reserve(api, username=username, password="pw-123456", count=count)
    assert answer.status == 201, answer.body
    return answer.body


def test_one_failure_is_not_enough_two_in_a_row_quarantine(fleet, monitor, fake_engine):
    fake_engine.bad_ssh = {"node-3"}
    assert monitor.round()["failing"] == ["node-3"]
    assert states(fleet)["node-3"] == S.FREE
    assert monitor.round()["quarantined"] == ["node-3"]
    assert states(fleet)["node-3"] == S.QUARANTINED


def test_a_passing_probe_resets_the_count(fleet, monitor, fake_engine):
    fake_engine.bad_ssh = {"node-3"}
    monitor.round()
    fake_engine.bad_ssh = set()
    monitor.round()
    fake_engine.bad_ssh = {"node-3"}
    monitor.round()
    assert states(fleet)["node-3"] == S.FREE


def test_a_dead_reserved_node_is_replaced_with_the_same_account(api, database, monitor, fake_engine, fake_runner):
    body = reserved(api)
    lost = body["nodes"][0]["name"]
    fake_engine.running[lost] = False
    monitor.round()
    monitor.round()
    view = api.get(f"/api/v1/reservations/{body['id']}").body
    by_name = {node["name"]: node for node in view["nodes"]}
    assert by_name[lost]["state"] == "lost" and "container not running" in by_name[lost]["lost_reason"]
    replacement = by_name[lost]["replaced_by"]
    assert replacement and by_name[replacement]["state"] == S.RESERVED
    assert view["state"] == "active" and view["ends_at"] == body["ends_at"]
    # The replacement got the same account, with the same password.
    change = fake_runner.account_changes()[-1][replacement]
    assert change["name"] == "alice" and verify_password("pw-123456", change["password_hash"])
    with database.read() as session:
        kinds = [event.kind for event in session.scalars(select(Event).where(Event.lease_id == body["id"]))]
    assert "quarantined" in kinds and "replaced" in kinds


def test_with_no_free_node_the_reservation_says_which_node_is_lost(api, database, monitor, fake_engine):
    body = reserved(api, count=10)  # the whole pool
    lost = body["nodes"][4]["name"]
    fake_engine.running[lost] = False
    monitor.round()
    monitor.round()
    view = api.get(f"/api/v1/reservations/{body['id']}").body
    lost_view = next(node for node in view["nodes"] if node["name"] == lost)
    assert lost_view["state"] == "lost" and lost_view["replaced_by"] is None
    with database.read() as session:
        assert session.scalar(select(Event).where(Event.kind == "node_lost")).container == lost


def test_a_quarantined_node_comes_back_recreated_after_backoff(fleet, database, monitor, fake_engine, fake_runner):
    fake_engine.running["node-2"] = False
    monitor.round()
    monitor.round()
    assert states(fleet)["node-2"] == S.QUARANTINED
    assert monitor.round()["still_down"] == ["node-2"]  # still down: tried again, backoff grows
    node = fleet.member("node-2")
    assert node.next_probe_at > fleet.clock()
    fake_engine.running["node-2"] = True
    assert monitor.round()["recovered"] == []  # not due before its backoff ends
    with database.write() as session:
        session.execute(update(Container).where(Container.name == "node-2")
                        .values(next_probe_at=node.next_probe_at - timedelta(hours=1)))
    assert monitor.round()["recovered"] == ["node-2"]
    assert states(fleet)["node-2"] == S.FREE and fleet.member("node-2").host_keys == {"ED25519": "SHA256:new-node-2"}
    recreate = [call for call in fake_runner.calls if call[0] == "pool_provision.yml"][-1][1]
    assert recreate["pool_node_state"] == "recreated" and recreate["pool_node_indexes"] == [2]


def test_a_quarantined_node_whose_container_is_gone_is_recreated(fleet, monitor, fake_engine, fake_runner):
    assert fleet.quarantine("node-2", "probe: broken", actor="test", expected_state=S.FREE, expected_holder=None)
    del fake_engine.running["node-2"]  # a recreation that failed half-way removed it
    fake_runner.on_run = fake_engine.apply_node_run
    assert monitor.round()["recovered"] == ["node-2"]
    assert states(fleet)["node-2"] == S.FREE and fake_engine.running["node-2"] is True


def test_a_disabled_node_stays_out_whatever_the_probe_says(api, fleet, monitor):
    answer = api.post("/api/v1/nodes/node-4/disable", {"reason": "flaky disk"})
    assert answer.status == 200 and answer.body["state"] == S.DISABLED
    for _ in range(3):
        monitor.round()
    assert states(fleet)["node-4"] == S.DISABLED
    # Never handed out: reserve the whole rest of the pool, then one more is refused.
    reserved(api, count=9)
    assert reserve(api, username="bob", password="pw-123456").status == 409
    enabled = api.post("/api/v1/nodes/node-4/enable")
    assert enabled.status == 200 and enabled.body["state"] == S.FREE


def test_a_node_in_use_cannot_be_disabled(api):
    body = reserved(api)
    answer = api.post(f"/api/v1/nodes/{body['nodes'][0]['name']}/disable", {})
    assert answer.status == 409 and answer.error["code"] == "node_in_use"


def test_an_engine_that_does_not_answer_decides_nothing(fleet, monitor, fake_engine):
    fake_engine.down = True
    for _ in range(3):
        assert monitor.round()["quarantined"] == []
    assert set(states(fleet).values()) == {S.FREE}


def test_reserving_while_the_engine_is_down_is_503_and_changes_nothing(api, fleet, fake_engine, fake_runner):
    fake_engine.down = True
    answer = reserve(api, password="pw-123456")
    assert answer.status == 503 and answer.error["code"] == "engine_down"
    assert set(states(fleet).values()) == {S.FREE} and fake_runner.account_calls() == []
    fake_engine.down = False
    assert reserve(api, password="pw-123456").status == 201


def test_a_replacement_finished_after_the_release_is_taken_back(api, app, fleet, database, fake_runner):
    body = reserved(api)
    lost = body["nodes"][0]["name"]
    with database.write() as session:
        transitions.quarantine(session, [lost], "test", holder=body["id"], states=[S.RESERVED], actor="test")
    fake_runner.delay = 0.5  # the replacement's account run takes a while ...
    spare = app.extensions["bunkhouse.replacements"].node_lost(lost, body["id"], "test", wait=False)
    # ... and the reservation ends meanwhile.
    assert api.delete(f"/api/v1/reservations/{body['id']}").status == 200
    assert wait_for(lambda: states(fleet)[spare] == S.FREE, timeout=10)
    assert fake_runner.account_changes()[-1][spare] == {"name": "alice", "state": "absent", "owner": body["id"]}


def test_after_an_engine_outage_one_round_passes_before_nodes_are_judged(fleet, monitor, fake_engine):
    fake_engine.down = True
    monitor.round()
    fake_engine.down = False
    fake_engine.running["node-1"] = False  # still starting after the engine came back
    assert monitor.round()["failing"] == []
    fake_engine.running["node-1"] = True
    monitor.round()
    monitor.round()
    assert states(fleet)["node-1"] == S.FREE


def test_a_node_claimed_after_the_round_looked_is_not_quarantined(api, service, fleet, monitor, fake_engine):
    """The round reads the states, probes, then decides. A node reserved in between (after it
    was seen free and failing) belongs to its new reservation: the quarantine is guarded by the
    state and holder the round saw, and leaves it alone."""
    fake_engine.bad_ssh = {"node-1"}
    monitor.round()  # node-1 fails once while free
    claimed = {}
    probe = monitor.probe

    def probe_then_claim(name, keys):
        problem = probe(name, keys)
        if name == "node-1" and not claimed:
            claimed.update(reserved(api))  # node-1 is handed out while the round is under way
        return problem

    monitor.probe = probe_then_claim
    assert monitor.round()["quarantined"] == []
    assert claimed["nodes"][0]["name"] == "node-1"
    assert states(fleet)["node-1"] == S.RESERVED
    assert service.get(claimed["id"]).state == "active"


def test_a_held_node_whose_sshd_fails_gets_it_restarted_in_place_not_recreated(api, fleet, monitor, fake_engine,
                                                                              fake_runner):
    body = reserved(api)
    held = body["nodes"][0]["name"]
    fake_engine.bad_ssh = {held}
    assert monitor.round()["failing"] == [held]
    assert monitor.round()["sshd_restarted"] == [held]
    restarts = [call for call in fake_runner.calls if call[0] == "pool_sshd_restart.yml"]
    assert restarts == [("pool_sshd_restart.yml", {"sshd_nodes": [held]}, [])]
    assert states(fleet)[held] == S.RESERVED
    assert not [call for call in fake_runner.calls if call[0] == "pool_provision.yml"]
    # The restart mended it: the count starts again.
    fake_engine.bad_ssh = set()
    assert monitor.round()["passing"] and states(fleet)[held] == S.RESERVED


def test_a_held_node_whose_sshd_stays_down_after_its_restart_is_replaced(api, fleet, monitor, fake_engine):
    held = reserved(api)["nodes"][0]["name"]
    fake_engine.bad_ssh = {held}
    for _ in range(3):
        monitor.round()
    assert states(fleet)[held] == S.RESERVED
    assert monitor.round()["quarantined"] == [held]


def test_most_of_an_engines_nodes_failing_together_is_the_engines_fault(fleet, monitor, fake_engine):
    """A host fault (port forwarding, the engine) fails every node at once: no node is judged,
    /healthz names the engine, and the nodes are judged one by one once it clears."""
    fake_engine.bad_ssh = {f"node-{index}" for index in range(1, 8)}  # 7 of 10
    for _ in range(3):
        outcome = monitor.round()
        assert sorted(outcome["held_back"]) == sorted(fake_engine.bad_ssh) and not outcome["quarantined"]
    assert set(states(fleet).values()) == {S.FREE}
    assert "7 of its 10 nodes" in monitor.suspect_engines["local"]
    fake_engine.bad_ssh = {"node-1", "node-2"}  # below the mass failure line: judged as usual
    monitor.round()
    assert monitor.suspect_engines == {}
    assert monitor.round()["quarantined"] == ["node-1", "node-2"]


def test_a_few_failing_nodes_are_judged_even_when_they_are_most_of_a_small_pool(fleet, monitor, fake_engine):
    for index in range(4, 11):  # a pool of 3 in service
        hands.disable(fleet, f"node-{index}", "out", actor="test")
    fake_engine.bad_ssh = {"node-1", "node-2"}  # 2 of 3: most of them, but too few to blame the engine
    monitor.round()
    assert monitor.round()["quarantined"] == ["node-1", "node-2"]
    assert monitor.suspect_engines == {}


def test_healthz_says_when_an_engines_nodes_fail_together(api, app, fake_engine):
    monitor = app.extensions["bunkhouse.lifecycle"].monitor
    fake_engine.bad_ssh = {f"node-{index}" for index in range(1, 8)}
    monitor.round()
    answer = api.get("/healthz")
    assert answer.status == 503 and answer.body["status"] == "degraded"
    assert answer.body["nodes"]["ok"] is False and "engine local: 7 of its 10 nodes" in answer.body["nodes"]["error"]
    fake_engine.bad_ssh = set()
    monitor.round()
    assert api.get("/healthz").body["nodes"] == {"ok": True}
