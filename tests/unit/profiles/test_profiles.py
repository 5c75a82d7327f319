"""Profiles and named containers over the real app, database, batcher and transitions, with a
fake runner whose pool_member.yml runs change a fake engine's containers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import update

from bunkhouse.config import Config
from bunkhouse.fleet import transitions
from bunkhouse.fleet.engines import MemberInfo
from bunkhouse.fleet.models import Container, Power
from helpers.api import Api
from helpers.unit_app import close, make_app, unit_environment
from helpers.waiting import wait_for

FILE = {
    "pools": {"hot": {"ttl_seconds": 0}, "warm": {"ttl_seconds": 0}, "cold": {"ttl_seconds": 0}},
    "containers": [
        {"name": "core", "image": "bunkhouse/tool:latest", "pool": "hot", "ports": [8080]},
        {"name": "nmap", "image": "bunkhouse/tool:latest", "pool": "warm", "ports": [8080],
         "health_check": {"command": ["test", "-f", "/tmp/ready"]}},
        {"name": "amass", "image": "bunkhouse/tool:latest", "pool": "cold"},
    ],
    "profile_mappings": {"red_team_operator": ["nmap", "amass"], "blue": ["core"]},
}


@pytest.fixture
def containers_file(tmp_path):
    path = tmp_path / "containers.yml"
    path.write_text(yaml.safe_dump(FILE))
    return path


@pytest.fixture
def app(tmp_path, database_url, fake_runner, fake_engine, containers_file):
    config = Config.from_environ(unit_environment(tmp_path, database_url,
                                                  BUNKHOUSE_CONTAINERS_FILE=str(containers_file)))
    fake_runner.on_run = fake_engine.apply_member_run
    app = make_app(config, fake_runner, fake_engine)
    app.extensions["bunkhouse.lifecycle"].profile_jobs.load_file()
    yield app
    close(app)


@pytest.fixture
def named(app):
    return app.extensions["bunkhouse.profiles"].named


def member_runs(runner) -> list[list[dict]]:
    return [call[1]["pool_member_containers"] for call in runner.calls if call[0] == "pool_member.yml"]


def power(named, name):
    row = named.rows([name]).get(name)
    return row.power if row else None  # None: no row (a retired container, removed)


def settled(named, *names):
    return wait_for(lambda: all(power(named, name) not in (Power.STARTING, Power.STOPPING, Power.REMOVING)
                                for name in names), 10)


def test_prepare_starts_the_profile_in_one_run_then_it_is_ready(api, named, fake_runner):
    answer = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"})
    assert answer.status == 200
    body = answer.body
    assert body["all_ready"] is False
    assert {name: entry["status"] for name, entry in body["containers"].items()} == {"nmap": "starting",
                                                                                      "amass": "starting"}
    # Nothing measured yet: each container's start timeout bounds the wait.
    assert body["estimated_wait_seconds"] == 120
    assert wait_for(lambda: api.get("/api/v1/containers/status/red_team_operator").body["ready"], 10)
    runs = member_runs(fake_runner)
    assert len(runs) == 1 and sorted(item["name"] for item in runs[0]) == ["amass", "nmap"]
    status = api.get("/api/v1/containers/status/red_team_operator").body
    assert status["containers"]["nmap"]["status"] == "running" and status["containers"]["nmap"]["healthy"]
    assert status["containers"]["nmap"]["pool"] == "warm"
    assert status["containers"]["nmap"]["addresses"]["8080"].startswith("127.0.0.1:")
    # Ready now: a second prepare answers at once, with no run, and the measured start time is kept.
    again = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body
    assert again["all_ready"] is True and again["estimated_wait_seconds"] == 0
    assert len(member_runs(fake_runner)) == 1
    assert named.rows(["nmap"])["nmap"].start_seconds is not None


def test_unknown_names_are_404s_in_both_error_shapes(api):
    for answer, code, name in [
        (api.post("/api/v1/containers/prepare", {"profile_id": "purple"}), "profile_not_found", "purple"),
        (api.get("/api/v1/containers/status/purple"), "profile_not_found", "purple"),
        (api.post("/api/v1/containers/start", {"container_name": "zap"}), "container_not_found", "zap"),
        (api.post("/api/v1/containers/stop", {"container_name": "zap"}), "container_not_found", "zap"),
        (api.get("/api/v1/containers/pools/lukewarm"), "pool_not_found", "lukewarm"),
    ]:
        assert answer.status == 404
        assert answer.error["code"] == code
        assert name in answer.body["detail"] and answer.body["detail"] == answer.error["message"]


def test_a_start_of_a_container_already_starting_is_the_same_start(api, named, fake_runner):
    fake_runner.hold = threading.Event()
    first = api.post("/api/v1/containers/start", {"container_name": "nmap"})
    second = api.post("/api/v1/containers/start", {"container_name": "nmap"})
    assert (first.status, second.status) == (202, 202)
    assert first.body == second.body and first.body["message"] == "Container nmap is starting"
    fake_runner.hold.set()
    settled(named, "nmap")
    assert power(named, "nmap") == Power.RUNNING
    assert len(member_runs(fake_runner)) == 1


def test_stop_refuses_a_held_container_naming_the_lease(api, named):
    lease = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body["lease"]
    settled(named, "nmap")
    refused = api.post("/api/v1/containers/stop", {"container_name": "nmap", "force": False})
    assert refused.status == 409 and refused.error["code"] == "container_held"
    assert refused.error["lease_id"] == lease["id"] and lease["id"] in refused.body["detail"]
    assert power(named, "nmap") == Power.RUNNING
    assert api.delete(f"/api/v1/containers/leases/{lease['id']}").body["end_reason"] == "released"
    stopped = api.post("/api/v1/containers/stop", {"container_name": "nmap"})
    assert stopped.status == 200 and stopped.body["message"] == "Container nmap stopped successfully"
    assert power(named, "nmap") == Power.STOPPED


def test_after_release_the_warm_one_stops_and_the_cold_one_goes(api, app, named):
    lease = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body["lease"]
    settled(named, "nmap", "amass")
    jobs = app.extensions["bunkhouse.lifecycle"].profile_jobs
    jobs.round()  # held: nothing moves (the hot one, not in the profile, is started)
    settled(named, "nmap", "amass", "core")
    assert (power(named, "nmap"), power(named, "amass"), power(named, "core")) == (Power.RUNNING,) * 3
    api.delete(f"/api/v1/containers/leases/{lease['id']}")
    jobs.round()
    settled(named, "nmap", "amass")
    assert power(named, "nmap") == Power.STOPPED  # warm, ttl 0: stopped, kept
    assert power(named, "amass") == Power.ABSENT  # cold: removed
    assert power(named, "core") == Power.RUNNING  # hot: kept running
    again = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body
    assert again["containers"]["nmap"]["status"] == "starting"
    assert wait_for(lambda: api.get("/api/v1/containers/status/red_team_operator").body["ready"], 10)


def test_an_expired_lease_ends_on_the_round(api, app, named):
    lease = api.post("/api/v1/containers/prepare", {"profile_id": "blue", "lease_seconds": 1}).body["lease"]
    service = app.extensions["bunkhouse.profiles"]
    service.clock = lambda: service.lease(lease["id"]).ends_at
    assert service.end_due() == [lease["id"]]
    assert api.get(f"/api/v1/containers/leases/{lease['id']}").body["end_reason"] == "expired"
    assert named.holders(["core"]) == {}


def test_reload_changes_exactly_what_the_file_changed(api, named, fake_runner, containers_file):
    api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"})
    settled(named, "nmap", "amass")
    changed = {**FILE, "containers": [FILE["containers"][0], FILE["containers"][1],
                                      {"name": "zap", "image": "bunkhouse/tool:latest", "pool": "warm"}],
               "profile_mappings": {"red_team_operator": ["nmap", "zap"]}}
    containers_file.write_text(yaml.safe_dump(changed))
    answer = api.post("/api/v1/containers/reload-config", {"strategy": "immediate"})
    assert answer.status == 200, answer.body
    assert (answer.body["added"], answer.body["removed"], answer.body["changed"]) == (["zap"], ["amass"], [])
    settled(named, "amass")
    assert "amass" not in named.rows()  # removed now (immediate), though a lease held it
    assert power(named, "nmap") == Power.RUNNING and power(named, "zap") == Power.ABSENT
    assert api.get("/api/v1/containers/status/red_team_operator").body["containers"].keys() == {"nmap", "zap"}


def test_an_invalid_file_is_refused_and_the_old_one_stays(api, named, containers_file):
    containers_file.write_text(yaml.safe_dump({**FILE, "pools": {"hot": {"ttl_seconds": -1}}}))
    answer = api.post("/api/v1/containers/reload-config")
    assert answer.status == 400 and answer.error["code"] == "invalid_containers_file"
    assert "pools.hot: ttl_seconds" in answer.body["detail"]
    assert set(named.catalog.containers) == {"core", "nmap", "amass"}
    assert api.get("/api/v1/containers/pools/warm").body["containers"] == ["nmap"]


def test_pools_metrics_and_health_in_seed_004_shapes(api, named):
    api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"})
    settled(named, "nmap", "amass")
    pool = api.get("/api/v1/containers/pools/warm").body
    assert pool == {"pool_type": "warm", "description": pool["description"], "containers": ["nmap"],
                    "active_count": 1, "total_count": 1, "health_check_interval": 60, "ttl_seconds": 0}
    metrics = api.get("/api/v1/containers/metrics").body
    assert metrics["total_starts"] == 2 and metrics["total_failures"] == 0
    assert metrics["active_containers"] == 2
    assert metrics["pool_distribution"] == {"hot": 0, "warm": 1, "cold": 1}
    health = api.get("/api/v1/containers/health")
    assert health.status == 200 and health.body["status"] == "healthy" and health.body["active_containers"] == 2


def test_a_failed_start_is_counted_and_said(api, named, fake_engine):
    fake_engine.failing_members.add("nmap")
    api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"})
    settled(named, "nmap", "amass")
    assert power(named, "nmap") == Power.FAILED and power(named, "amass") == Power.RUNNING
    status = api.get("/api/v1/containers/status/red_team_operator").body
    assert status["ready"] is False and status["containers"]["nmap"]["status"] == "failed"
    assert api.get("/api/v1/containers/metrics").body["total_failures"] == 1


def test_health_is_503_with_detail_when_the_file_did_not_load(tmp_path, database_url, fake_runner, fake_engine):
    bad = tmp_path / "bad.yml"
    bad.write_text("containers: [unclosed")
    config = Config.from_environ(unit_environment(tmp_path, database_url, BUNKHOUSE_CONTAINERS_FILE=str(bad)))
    app = make_app(config, fake_runner, fake_engine)
    try:
        app.extensions["bunkhouse.lifecycle"].profile_jobs.load_file()
        answer = Api(app.test_client()).get("/api/v1/containers/health")
        assert answer.status == 503 and "is not valid YAML" in answer.body["detail"]
    finally:
        close(app)


def test_a_start_cut_short_by_a_restart_is_read_back_from_the_engine(named, fake_engine, database):
    with database.write() as session:
        transitions.power(session, ["nmap", "amass"], Power.STARTING, expected=[Power.ABSENT])
    # nmap's container came up before the process died; amass's never did.
    fake_engine.members["nmap"] = MemberInfo("nmap", True, True, {"8080": 40123}, "d1")
    assert named.reconcile() == {"nmap": Power.RUNNING, "amass": Power.ABSENT}
    row = named.rows(["nmap"])["nmap"]
    assert (row.endpoints, row.healthy, row.spec_digest, row.port) == ({"8080": 40123}, True, "d1", 40123)


def test_a_forced_stop_takes_the_container_from_its_leases(api, app, named):
    lease = api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"}).body["lease"]
    settled(named, "nmap", "amass")
    assert api.post("/api/v1/containers/stop", {"container_name": "nmap", "force": True}).status == 200
    assert named.holders(["nmap", "amass"]) == {"amass": [lease["id"]]}
    app.extensions["bunkhouse.lifecycle"].profile_jobs.round()
    settled(named, "nmap")
    assert power(named, "nmap") == Power.STOPPED  # not started again: nobody holds it now



def test_a_file_that_does_not_load_decides_nothing(api, app, named, fake_runner, containers_file):
    api.post("/api/v1/containers/prepare", {"profile_id": "blue"})
    settled(named, "core")
    jobs = app.extensions["bunkhouse.lifecycle"].profile_jobs
    containers_file.write_text("containers: [unclosed")
    jobs.load_file()  # as a restart with a broken file would
    runs = len(member_runs(fake_runner))
    jobs.round()
    assert len(member_runs(fake_runner)) == runs  # nothing removed as "no longer in the file"
    assert power(named, "core") == Power.RUNNING
    assert api.get("/api/v1/containers/health").status == 503


def test_a_health_checked_container_is_ready_only_once_healthy(api, named, database):
    api.post("/api/v1/containers/prepare", {"profile_id": "red_team_operator"})
    settled(named, "nmap", "amass")
    with database.write() as session:
        transitions.power(session, ["nmap"], Power.RUNNING, expected=[Power.RUNNING], healthy=None)
    status = api.get("/api/v1/containers/status/red_team_operator").body
    assert status["ready"] is False and status["containers"]["nmap"]["healthy"] is False


def test_a_hold_taken_first_wins_over_the_rounds_stop(named, database):
    named.acquire(["nmap"], "lease-1")
    settled(named, "nmap")
    with database.write() as session:  # the round decided to stop it, but a prepare got in first
        assert transitions.power(session, ["nmap"], Power.STOPPING, expected=[Power.RUNNING], unheld=True) == []
    assert power(named, "nmap") == Power.RUNNING


def test_a_container_a_run_left_in_flight_is_read_back(app, named, database):
    with database.write() as session:
        transitions.power(session, ["amass"], Power.STARTING, expected=[Power.ABSENT])
        session.execute(update(Container).where(Container.name == "amass")
                        .values(updated_at=named.clock() - timedelta(hours=1)))
    named.round()
    assert power(named, "amass") == Power.ABSENT  # the engine has no such container


def test_stopping_a_container_that_is_starting_is_a_409(api, named, fake_runner):
    fake_runner.hold = threading.Event()
    api.post("/api/v1/containers/start", {"container_name": "nmap"})
    answer = api.post("/api/v1/containers/stop", {"container_name": "nmap", "force": True})
    fake_runner.hold.set()
    assert answer.status == 409 and answer.error["code"] == "container_busy"
