"""Challenges with a fake runner: seed 003's create/list/get/update/delete, deploy for N teams,
stop, stats, access, the flag check; the allow-list, the resource maxima and bad input; flags
and environment values never in the database in plaintext (tests/integration/challenges runs
the real stack)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bunkhouse.challenges.resources import bytes_of, cpus_of
from helpers.challenges import DEMO, deployed
from helpers.challenges import challenge_body as body
from helpers.waiting import wait_for


@pytest.fixture
def challenges(app):
    return app.extensions["bunkhouse.challenges"]


def instance_runs(fake_runner) -> list[dict]:
    return [call[1] for call in fake_runner.calls if call[0] == "challenge_instance.yml"]


def test_create_answers_seed_003s_fields_and_maps_resources_onto_docker(api):
    answer = api.post("/api/v1/challenges/", body())
    assert answer.status == 201, answer.body
    challenge = answer.body
    assert (challenge["name"], challenge["status"], challenge["instances"], challenge["total_teams"]) == \
        ("demo-web", "pending", [], 3)
    resources = challenge["config"]["resources"]
    assert (resources["cpus"], resources["memory"]) == (0.5, 512 * 1024**2)
    assert (resources["cpu_shares"], resources["memory_reservation"]) == (102, 128 * 1024**2)
    # FLAG in environment_vars asks for each team's own flag there, never the value written.
    assert challenge["config"]["flag_in_environment"] is True
    assert api.get("/api/v1/challenges/?skip=0&limit=100").body["total"] == 1
    assert api.get(f"/api/v1/challenges/{challenge['id']}").body["name"] == "demo-web"


def test_deploy_makes_one_instance_per_team_in_one_run_each_with_its_own_ports_and_flag(api, challenges, fake_runner):
    challenge = deployed(api, challenges)
    teams = [instance["team_id"] for instance in challenge["instances"]]
    assert teams == ["team-001", "team-002", "team-003"]
    assert {instance["status"] for instance in challenge["instances"]} == {"running"}
    assert challenge["status"] == "running"
    run, = instance_runs(fake_runner)
    assert [item["state"] for item in run["challenge_instances"]] == ["started"] * 3
    assert run["challenge_networks"][0]["state"] == "present"
    ports = [instance["ports"]["8080"] for instance in challenge["instances"]]
    flags = [instance["flag"] for instance in challenge["instances"]]
    assert len(set(ports)) == 3 and len(set(flags)) == 3 and all(flag.startswith("CTF{") for flag in flags)
    # Each run's input has the team's own flag, in its file and (asked for) its environment.
    by_team = {item["team"]: item for item in run["challenge_instances"]}
    assert by_team["team-002"]["flag"] == flags[1] == by_team["team-002"]["environment"]["FLAG"]
    assert by_team["team-002"]["environment"]["SECRET_KEY"] == "challenge-secret-key-123"
    assert by_team["team-001"]["cpus"] == 0.5 and by_team["team-001"]["memory_reservation"] == 128 * 1024**2
    stats = api.get(f"/api/v1/challenges/{challenge['id']}/stats").body
    assert (stats["total_instances"], stats["running_instances"], stats["failed_instances"]) == (3, 3, 0)
    assert stats["ip_allocation"]["team-001"] == f"127.0.0.1:{ports[0]}"
    access = api.get(f"/api/v1/challenges/{challenge['id']}/teams/team-003/access").body
    assert access == {"team_id": "team-003", "public_ip": "127.0.0.1", "access_url": f"http://127.0.0.1:{ports[2]}/",
                      "ports": [ports[2]], "status": "running", "created_at": access["created_at"],
                      "expires_at": None, "ends_at": None}


def test_no_flag_nor_environment_value_is_in_the_database_in_plaintext(api, challenges, app):
    challenge = deployed(api, challenges)
    flags = [instance["flag"] for instance in challenge["instances"]]
    with app.extensions["bunkhouse.database"].read() as session:
        dump = " ".join(str(row) for table in ("challenges", "challenge_instances")
                        for row in session.execute(text(f"SELECT * FROM {table}")).all())
    assert "challenge-secret-key-123" not in dump
    assert not any(flag in dump or flag[4:-1] in dump for flag in flags)


def test_a_redeploy_keeps_addresses_and_flags_and_new_flags_changes_only_the_flags(api, challenges, fake_runner):
    first = deployed(api, challenges)
    path = f"/api/v1/challenges/{first['id']}/deploy"
    assert api.post(path, {"force_redeploy": True}).status == 202 and challenges.deployer.idle(10)
    again = api.get(f"/api/v1/challenges/{first['id']}").body
    assert [i["ports"] for i in again["instances"]] == [i["ports"] for i in first["instances"]]
    assert [i["flag"] for i in again["instances"]] == [i["flag"] for i in first["instances"]]
    assert [item["state"] for item in instance_runs(fake_runner)[-1]["challenge_instances"]] == ["recreated"] * 3
    # The image was made sure of once, before the first run that started it; not at start, not again.
    images = [call[1] for call in fake_runner.calls if call[0] == "challenge_images.yml"]
    assert images == [{"challenge_images": [{"image": DEMO, "build": "images/demo-challenge"}]}]
    assert api.post(path, {"force_redeploy": True, "new_flags": True}).status == 202 and challenges.deployer.idle(10)
    renewed = api.get(f"/api/v1/challenges/{first['id']}").body
    assert [i["ports"] for i in renewed["instances"]] == [i["ports"] for i in first["instances"]]
    assert not set(i["flag"] for i in renewed["instances"]) & set(i["flag"] for i in first["instances"])


def test_the_flag_check_is_right_only_for_the_teams_own_flag_and_is_rate_limited(api, challenges):
    challenge = deployed(api, challenges)
    one, two = challenge["instances"][0], challenge["instances"][1]
    check = f"/api/v1/challenges/{challenge['id']}/teams/team-001/flag"
    assert api.post(check, {"flag": one["flag"]}).body == {"team_id": "team-001", "correct": True}
    assert api.post(check, {"flag": two["flag"]}).body["correct"] is False  # another team's
    for _ in range(8):
        assert api.post(check, {"flag": "CTF{guess}"}).status == 200
    limited = api.post(check, {"flag": one["flag"]})
    assert limited.status == 429 and limited.body["error"]["code"] == "rate_limited"
    # Another team has its own budget.
    assert api.post(f"/api/v1/challenges/{challenge['id']}/teams/team-002/flag", {"flag": two["flag"]}).body[
        "correct"] is True
    events = api.get("/api/v1/events?kind=flag_checked").body["events"]
    assert len(events) == 11 and "flag" not in str(events).lower().replace("flag_checked", "")


def test_stop_remove_then_deploy_gives_each_team_the_same_address(api, challenges, fake_runner):
    challenge = deployed(api, challenges)
    stopped = api.post(f"/api/v1/challenges/{challenge['id']}/stop", {"remove_instances": True})
    assert stopped.status == 200 and {i["status"] for i in stopped.body["instances"]} == {"removed"}
    removal = instance_runs(fake_runner)[-1]
    assert [item["state"] for item in removal["challenge_instances"]] == ["absent"] * 3
    assert [network["state"] for network in removal["challenge_networks"]] == ["absent"]
    refused = api.post(f"/api/v1/challenges/{challenge['id']}/teams/team-001/flag",
                       {"flag": challenge["instances"][0]["flag"]})
    assert refused.status == 409 and refused.body["error"]["code"] == "instance_not_running"
    assert api.post(f"/api/v1/challenges/{challenge['id']}/deploy", {}).status == 202 and challenges.deployer.idle(10)
    again = api.get(f"/api/v1/challenges/{challenge['id']}").body
    assert [i["ports"] for i in again["instances"]] == [i["ports"] for i in challenge["instances"]]
    assert {i["status"] for i in again["instances"]} == {"running"}


def test_update_lowers_total_teams_from_the_highest_and_raises_it_with_new_instances(api, challenges, fake_runner):
    challenge = deployed(api, challenges)
    lowered = api.put(f"/api/v1/challenges/{challenge['id']}", {"total_teams": 1})
    assert lowered.status == 200 and [i["team_id"] for i in lowered.body["instances"]] == ["team-001"]
    assert [item["name"].rsplit("-", 2)[-2:] for item in instance_runs(fake_runner)[-1]["challenge_instances"]] == \
        [["team", "003"], ["team", "002"]]
    raised = api.put(f"/api/v1/challenges/{challenge['id']}", {"total_teams": 2, "description": "Now for two teams"})
    assert raised.status == 200 and challenges.deployer.idle(10)
    now = api.get(f"/api/v1/challenges/{challenge['id']}").body
    assert [i["team_id"] for i in now["instances"]] == ["team-001", "team-002"]
    assert now["description"] == "Now for two teams" and now["instances"][1]["status"] == "running"


def test_delete_removes_every_instance_and_the_network_then_the_challenge(api, challenges, fake_runner):
    challenge = deployed(api, challenges)
    assert api.delete(f"/api/v1/challenges/{challenge['id']}").status == 204
    removal = instance_runs(fake_runner)[-1]
    assert sorted(item["state"] for item in removal["challenge_instances"]) == ["absent"] * 3
    assert removal["challenge_networks"][0]["state"] == "absent"
    assert api.get(f"/api/v1/challenges/{challenge['id']}").status == 404
    assert api.delete(f"/api/v1/challenges/{challenge['id']}").status == 404


def test_an_instance_that_fails_its_start_is_failed_with_why(api, challenges, fake_runner):
    fake_runner.failing_hosts = {"bunkhouse-ch-1-team-002"}
    challenge = deployed(api, challenges)
    statuses = {i["team_id"]: (i["status"], i["error"]) for i in challenge["instances"]}
    assert statuses["team-002"][0] == "failed" and "bunkhouse-ch-1-team-002" in statuses["team-002"][1]
    assert statuses["team-001"] == ("running", None)
    assert challenge["status"] == "partial"
    fake_runner.failing_hosts = set()
    assert api.post(f"/api/v1/challenges/{challenge['id']}/deploy", {}).status == 202 and challenges.deployer.idle(10)
    assert [item["team"] for item in instance_runs(fake_runner)[-1]["challenge_instances"]] == ["team-002"]


@pytest.mark.parametrize("change, field", [
    ({"config": {"image": "nginx:alpine"}}, "config.image"),
    ({"config": {"ports": [8080, 8080]}}, "config.ports"),
    ({"config": {"ports": [70000]}}, "config"),
    ({"config": {"resources": {"limits": {"cpu": "4"}}}}, "config.resources.limits.cpu"),
    ({"config": {"resources": {"limits": {"memory": "64Gi"}}}}, "config.resources.limits.memory"),
    ({"config": {"resources": {"limits": {"memory": "lots"}}}}, "config.resources.limits.memory"),
    ({"config": {"resources": {"requests": {"cpu": "900m"}}}}, "config.resources.requests.cpu"),
    ({"name": "has spaces"}, "name"),
    ({"name": "quote'd"}, "name"),
    ({"name": "a" * 10240}, "name"),
    ({"name": "défi"}, "name"),
    ({"name": ".."}, "name"),
    ({"total_teams": 100000}, "total_teams"),
    ({"config": {"flag_format": "CTF"}}, "config"),
])
def test_bad_input_is_a_400_naming_the_field_and_makes_nothing(api, fake_runner, change, field):
    answer = api.post("/api/v1/challenges/", body(**change))
    assert answer.status == 400, answer.body
    assert field in str(answer.body["error"]), answer.body
    assert "detail" in answer.body  # seed 003's field beside bunkhouse's
    assert api.get("/api/v1/challenges/").body["total"] == 0
    assert instance_runs(fake_runner) == []


@pytest.mark.parametrize("path, field", [
    ("/api/v1/challenges/not-an-id", "challenge_id"),
    ("/api/v1/challenges/..%2F..%2Fetc/stats", "challenge_id"),
    ("/api/v1/challenges/" + "0" * 32 + "/teams/team 1/access", "team_id"),
    ("/api/v1/challenges/" + "0" * 32 + "/teams/..%2Fteam-001/access", "team_id"),
])
def test_ids_in_the_path_are_checked_before_any_lookup(api, path, field):
    answer = api.get(path)
    assert answer.status in (400, 404), answer.body
    if answer.status == 400:
        assert answer.body["error"]["field"] == field


def test_an_unknown_challenge_or_team_is_a_404_naming_it(api, challenges):
    assert api.get("/api/v1/challenges/" + "0" * 32).body["error"]["code"] == "challenge_not_found"
    challenge = api.post("/api/v1/challenges/", body()).body
    missing = api.get(f"/api/v1/challenges/{challenge['id']}/teams/team-009/access")
    assert missing.status == 404 and missing.body["error"]["code"] == "instance_not_found"


def test_a_deploy_cut_short_by_a_restart_is_done_again_at_start(api, challenges, app):
    challenge = api.post("/api/v1/challenges/", body(total_teams=2)).body
    challenges.deployer.submit = lambda changes: None  # this process dies before its run
    assert api.post(f"/api/v1/challenges/{challenge['id']}/deploy", {}).status == 202
    del challenges.deployer.submit
    assert sorted(app.extensions["bunkhouse.lifecycle"].challenge_jobs.resume().values()) == ["recreated"] * 2
    assert challenges.deployer.idle(10)
    assert {i["status"] for i in api.get(f"/api/v1/challenges/{challenge['id']}").body["instances"]} == {"running"}


def test_kubernetes_quantities_map_onto_docker():
    assert (cpus_of("500m", "f"), cpus_of("0.25", "f"), cpus_of(1, "f")) == (0.5, 0.25, 1.0)
    assert (bytes_of("512Mi", "f"), bytes_of("128M", "f"), bytes_of("1g", "f")) == (512 * 1024**2, 128 * 10**6,
                                                                                   1024**3)


@pytest.mark.parametrize("left, change, ends", [
    ("starting", "recreated", "running"), ("stopping", "stopped", "stopped"), ("removing", "absent", "removed")])
def test_a_run_cut_short_by_a_restart_is_done_again_at_start(api, challenges, app, fake_runner, left, change, ends):
    challenge = deployed(api, challenges, total_teams=1)
    with app.extensions["bunkhouse.database"].write() as session:
        session.execute(text(f"UPDATE challenge_instances SET status = '{left}'"))
    assert list(app.extensions["bunkhouse.lifecycle"].challenge_jobs.resume().values()) == [change]
    assert challenges.deployer.idle(10)
    assert instance_runs(fake_runner)[-1]["challenge_instances"][0]["state"] == change
    assert [i["status"] for i in api.get(f"/api/v1/challenges/{challenge['id']}").body["instances"]] == [ends]


def test_a_network_made_by_a_run_is_not_made_again_until_a_run_fails_or_it_is_removed(api, challenges,
                                                                                         fake_runner):
    challenge = deployed(api, challenges)
    base = f"/api/v1/challenges/{challenge['id']}"

    def redeploy() -> list[dict]:
        assert api.post(f"{base}/deploy", {"force_redeploy": True}).status == 202
        assert challenges.deployer.idle(10)
        return instance_runs(fake_runner)[-1]["challenge_networks"]

    assert redeploy() == []  # made by the first run
    fake_runner.failing_hosts.add(challenge["instances"][0]["container_name"])
    assert [network["state"] for network in redeploy()] == []  # this run fails ...
    fake_runner.failing_hosts.clear()
    assert [network["state"] for network in redeploy()] == ["present"]  # ... so the next makes it again
    assert redeploy() == []
    assert api.post(f"{base}/stop", {"remove_instances": True}).status == 200
    assert [network["state"] for network in redeploy()] == ["present"]  # removed with the instances


def test_a_change_someone_waits_for_takes_the_standby_run_and_another_is_started(api, challenges, fake_runner):
    challenge = deployed(api, challenges)
    assert wait_for(lambda: challenges.deployer.standbys._standby is not None, 10)
    standby, started = challenges.deployer.standbys._standby, fake_runner.standbys_started
    assert api.post(f"/api/v1/challenges/{challenge['id']}/stop", {"remove_instances": True}).status == 200
    assert standby.used and not standby.cancelled
    assert instance_runs(fake_runner)[-1]["challenge_instances"][0]["state"] == "absent"
    assert wait_for(lambda: fake_runner.standbys_started > started, 10)
