"""Challenge instances on the real stack: the real service (gunicorn) deploys the demo challenge
(built offline from the node image) for three teams through real challenge_instance.yml runs;
each team's address answers over HTTP with its own page, its flag file holds its own flag, team
A's instance cannot reach team B's (nor the host, nor 169.254.169.254), the flag check knows the
right team's flag, a restart of the service keeps every address, and removal leaves no container
and no network; seed 000's /assign and /remove as written; the janitor ends an instance whose
lifetime is over (a renewal first moves its end); /assign takes a ready member of a challenge's
pool, whose flag file holds the flag the team is given."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

import pytest

from helpers.nodes import tcp_from_container
from helpers.service import port_range, run_by_hand, running_service
from helpers.waiting import wait_for

POOL = "chal"
DEMO = "bunkhouse/demo-challenge:latest"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout.strip()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def challenge_containers(challenge_id: str | None = None) -> list[str]:
    """The challenge instances' containers on the engine (of one challenge, when given)."""
    only = ["--filter", f"label=bunkhouse.challenge={challenge_id}"] if challenge_id else []
    return sorted(docker("ps", "-a", "--filter", "label=bunkhouse.challenge_instance=true", *only,
                         "--format", "{{.Names}}").split())


def challenge_networks() -> list[str]:
    return sorted(docker("network", "ls", "--filter", "label=bunkhouse.challenge_network=true",
                         "--format", "{{.Name}}").split())


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_engine):
    remove_leftovers()
    first = port_range(100)
    with running_service(tmp_path_factory.mktemp("service-chal"), pool=POOL, pool_size=1, BUNKHOUSE_AUTH="on",
                         BUNKHOUSE_CHALLENGE_PORT_FIRST=str(first), BUNKHOUSE_CHALLENGE_PORT_LAST=str(first + 99),
                         BUNKHOUSE_CHALLENGE_SUBNETS="10.213.200.0/22",
                         BUNKHOUSE_MONITOR_INTERVAL="0", BUNKHOUSE_CHALLENGE_JANITOR_SECONDS="1") as server:
        yield server
    remove_leftovers()


def remove_leftovers() -> None:
    """What a failed test left: instances, and networks with their firewall chains (by hand, as an
    operator would: challenge_instance.yml with state absent)."""
    networks = [{"name": name, "subnet": "0.0.0.0/32", "bridge": "bh-ch" + name.rsplit("-", 1)[-1], "state": "absent"}
                for name in challenge_networks()]
    run_by_hand("challenge_instance.yml", {"challenge_instances": [{"name": name, "state": "absent"}
                                                                   for name in challenge_containers()],
                                           "challenge_networks": networks})


@pytest.fixture(scope="module")
def admin(server):
    return server.api.as_((server.instance_dir / "admin-token").read_text().strip())


def instances(admin, challenge_id: str) -> list[dict]:
    return admin.get(f"/api/v1/challenges/{challenge_id}").body["instances"]


@pytest.fixture(scope="module")
def challenge(admin) -> dict:
    created = admin.post("/api/v1/challenges/", {
        "name": "demo-web", "description": "The demo web challenge, for three teams",
        "config": {"challenge_type": "web", "image": DEMO,
                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                 "limits": {"cpu": "500m", "memory": "128Mi"}}},
        "total_teams": 3, "is_active": True})
    assert created.status == 201, created.body
    deployed = admin.post(f"/api/v1/challenges/{created.body['id']}/deploy", {"force_redeploy": False})
    assert deployed.status == 202, deployed.body
    assert wait_for(lambda: {i["status"] for i in instances(admin, created.body["id"])} == {"running"}, 180,
                    interval=0.5), instances(admin, created.body["id"])
    return admin.get(f"/api/v1/challenges/{created.body['id']}").body


@pytest.fixture(scope="module")
def short_lived(admin) -> dict:
    """A challenge whose one instance lives a minute, made first: its end comes while the other
    tests run, and the last one sees the janitor remove it."""
    created = admin.post("/api/v1/challenges/", {
        "name": "short-lived", "description": "One minute, renewed once", "total_teams": 1, "is_active": True,
        "config": {"image": DEMO, "lifetime_minutes": 1}})
    assert created.status == 201, created.body
    base = f"/api/v1/challenges/{created.body['id']}"
    assert admin.post(f"{base}/deploy", {"force_redeploy": False}).status == 202
    assert wait_for(lambda: instances(admin, created.body["id"])[0]["status"] == "running", 120, interval=0.5)
    return {"id": created.body["id"], "base": base, "instance": instances(admin, created.body["id"])[0]}


def test_a_renewal_moves_the_end_within_the_hard_end(admin, short_lived):
    instance = short_lived["instance"]
    time.sleep(1.5)  # so that the renewal's end is a whole second later than the start's
    renewed = admin.post(f"{short_lived['base']}/teams/team-001/renew")
    assert renewed.status == 200 and renewed.body["expires_at"] > instance["expires_at"], renewed.body
    assert renewed.body["ends_at"] == instance["ends_at"]


def test_each_team_reaches_its_own_instance_and_reads_only_its_own_flag(admin, challenge):
    assert challenge["config"]["ports"] == [8080]  # the allow-list entry's, the caller gave none
    for instance in challenge["instances"]:
        access = admin.get(f"/api/v1/challenges/{challenge['id']}/teams/{instance['team_id']}/access").body
        page = json.loads(fetch(access["access_url"]))
        assert page["team"] == instance["team_id"]
        # The bug of the demo challenge reads the flag file: the team's own flag.
        assert fetch(access["access_url"] + "notes?page=../../flag.txt").decode().strip() == instance["flag"]
        owner_and_mode = docker("exec", instance["container_name"], "stat", "-c", "%U %a", "/flag.txt")
        assert owner_and_mode == "root 444"
        inspected = json.loads(docker("inspect", instance["container_name"]))[0]["HostConfig"]
        assert (inspected["NanoCpus"], inspected["Memory"], inspected["CpuShares"]) == (500_000_000, 128 * 1024**2,
                                                                                        102)
        assert inspected["MemoryReservation"] == 64 * 1024**2 and inspected["PidsLimit"] == 128
    assert len({instance["flag"] for instance in challenge["instances"]}) == 3


def test_team_a_cannot_reach_team_b_nor_the_host_nor_the_metadata_address(challenge):
    a, b = challenge["instances"][0], challenge["instances"][1]
    b_address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", b["container_name"])
    gateway = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}", a["container_name"])
    assert b_address and gateway
    assert tcp_from_container(b["container_name"], "127.0.0.1", 8080) == "open"  # B's service runs
    assert "open" not in tcp_from_container(a["container_name"], b_address, 8080)
    assert "refused" in tcp_from_container(a["container_name"], gateway, 22)  # the host's sshd or any port of it
    assert "refused" in tcp_from_container(a["container_name"], "169.254.169.254", 80)


def test_the_flag_check_knows_only_the_right_teams_flag(admin, challenge):
    one, two = challenge["instances"][0], challenge["instances"][1]
    check = f"/api/v1/challenges/{challenge['id']}/teams/{one['team_id']}/flag"
    assert admin.post(check, {"flag": one["flag"]}).body["correct"] is True
    assert admin.post(check, {"flag": two["flag"]}).body["correct"] is False


def test_a_team_invite_and_a_login_show_a_team_its_own_instance_only(admin, challenge):
    """Seed 003's register and login over real HTTP, with an invite onto team-002: the team's user
    reaches its instance at the address its access gives, and nothing of another team's."""
    assert admin.post("/api/v1/teams", {"name": "Second", "id": "team-002"}).status == 201
    code = admin.post("/api/v1/teams/team-002/invites").body["code"]
    anyone = admin.as_(None)
    joined = anyone.post("/api/v1/auth/register", {"username": "bob", "email": "bob@example.com",
                                                   "password": "correct horse battery", "zone": "zone1",
                                                   "invite": code})
    assert joined.status == 201 and joined.body["team_id"] == "team-002", joined.body
    pair = anyone.post("/api/v1/auth/login", {"username": "bob", "password": "correct horse battery"})
    assert pair.status == 200, pair.body
    bob = admin.as_(pair.body["access_token"])
    [seen] = bob.get(f"/api/v1/challenges/{challenge['id']}").body["instances"]
    access = bob.get(f"/api/v1/challenges/{challenge['id']}/teams/team-002/access").body
    assert seen["team_id"] == "team-002" and "flag" not in seen
    assert json.loads(fetch(access["access_url"]))["team"] == "team-002"
    assert bob.get(f"/api/v1/challenges/{challenge['id']}/teams/team-001/access").status == 403
    own = next(row for row in challenge["instances"] if row["team_id"] == "team-002")
    other = next(row for row in challenge["instances"] if row["team_id"] == "team-001")
    base = f"/api/v1/challenges/{challenge['id']}/teams"
    assert bob.post(f"{base}/team-002/flag", {"flag": own["flag"]}).body["correct"] is True
    assert bob.post(f"{base}/team-001/flag", {"flag": other["flag"]}).status == 403
    assert bob.post("/api/v1/auth/logout").body["revoked"] == 2
    assert bob.get(f"/api/v1/challenges/{challenge['id']}").status == 401


def test_a_restart_of_the_service_keeps_every_address(server, admin, challenge):
    before = {i["team_id"]: i["access_url"] for i in challenge["instances"]}
    server.stop()
    server.start()
    after = instances(admin, challenge["id"])
    assert {i["team_id"]: i["access_url"] for i in after} == before
    for instance in after:
        assert json.loads(fetch(instance["access_url"]))["team"] == instance["team_id"]


def test_removal_leaves_no_container_and_no_network(admin, challenge):
    # (The short-lived challenge's instance may still run: each test looks at its own challenge.)
    assert challenge_containers(challenge["id"]) == sorted(i["container_name"] for i in challenge["instances"])
    assert challenge["instances"][0]["network"] in challenge_networks()
    stopped = admin.post(f"/api/v1/challenges/{challenge['id']}/stop", {"remove_instances": True})
    assert stopped.status == 200 and {i["status"] for i in stopped.body["instances"]} == {"removed"}
    assert challenge_containers(challenge["id"]) == []
    assert challenge["instances"][0]["network"] not in challenge_networks()
    assert admin.delete(f"/api/v1/challenges/{challenge['id']}").status == 204
    assert admin.get(f"/api/v1/challenges/{challenge['id']}").status == 404


def test_seed_000s_assign_and_remove_as_written(admin):
    assign = {"team_id": "team1", "challenge_id": "web1", "image": DEMO}
    first = admin.post("/assign", assign)
    assert first.status == 200 and first.body["status"] == "success", first.body
    assert json.loads(fetch(first.body["address"] + "/"))["team"] == "team1"
    assert admin.post("/assign", assign).body == first.body  # the same address again
    refused = admin.post("/assign", {**assign, "image": "nginx:alpine"})
    assert refused.status == 400 and refused.body["status"] == "error"
    removed = admin.post("/remove", {"team_id": "team1", "challenge_id": "web1"})
    assert removed.body["status"] == "success", removed.body
    gone = re.fullmatch(r"Container (bunkhouse-ch-[0-9]+-team1) stopped and removed\.", removed.body["message"])
    assert gone and gone[1] not in challenge_containers()
    again = admin.post("/remove", {"team_id": "team1", "challenge_id": "web1"})
    assert again.status == 404 and again.body["status"] == "error"
    # Its challenge goes with DELETE, network and all.
    made, = [c for c in admin.get("/api/v1/challenges/").body["challenges"] if c["name"].startswith("assign-")]
    network = made["instances"][0]["network"]
    assert admin.delete(f"/api/v1/challenges/{made['id']}").status == 204
    assert network not in challenge_networks()


def test_the_janitor_removes_an_instance_whose_lifetime_is_over(admin, short_lived):
    """At the end of the module, so that the minute has mostly passed while the others ran."""
    base, instance = short_lived["base"], short_lived["instance"]
    assert wait_for(lambda: instances(admin, short_lived["id"])[0]["status"] == "removed", 150, interval=1)
    assert challenge_containers(short_lived["id"]) == []
    assert admin.get(f"{base}/teams/team-001/access").body["access_url"] == instance["access_url"]
    kinds = [row["kind"] for row in admin.get("/api/v1/events?kind=challenge_instance_expired").body["events"]]
    assert kinds == ["challenge_instance_expired"]
    assert admin.delete(base).status == 204
    assert instance["network"] not in challenge_networks()


def test_assign_takes_a_ready_member_of_the_pool(admin):
    created = admin.post("/api/v1/challenges/", {
        "name": "pooled-web", "description": "Two instances kept ready for /assign", "total_teams": 0,
        "is_active": True, "assign_id": "pooled1", "config": {"image": DEMO, "pool_min": 2}})
    assert created.status == 201, created.body
    base = f"/api/v1/challenges/{created.body['id']}"

    def ready() -> list[dict]:
        return [row for row in instances(admin, created.body["id"]) if row["pooled"] and row["status"] == "running"]

    assert wait_for(lambda: len(ready()) == 2, 180, interval=0.5), instances(admin, created.body["id"])
    members = {row["container_name"]: row for row in ready()}
    answer = admin.post("/assign", {"team_id": "teamp", "challenge_id": "pooled1", "image": DEMO})
    assert answer.status == 200, answer.body
    [mine] = [row for row in instances(admin, created.body["id"]) if row["team_id"] == "teamp"]
    assert mine["container_name"] in members and mine["flag"] == members[mine["container_name"]]["flag"]
    assert fetch(answer.body["address"] + "/notes?page=../../flag.txt").decode().strip() == mine["flag"]
    assert wait_for(lambda: len(ready()) == 2, 180, interval=0.5)  # topped up behind the claim
    removed = admin.post("/remove", {"team_id": "teamp", "challenge_id": "pooled1"})
    assert removed.body["message"] == f"Container {mine['container_name']} stopped and removed."
    assert mine["container_name"] not in challenge_containers()
    assert admin.delete(base).status == 204
    assert challenge_containers(created.body["id"]) == [] and mine["network"] not in challenge_networks()
