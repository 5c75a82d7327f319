"""Pools of ready instances for seed 000's /assign (fake runner): a challenge made ahead with an
assign_id and config.pool_min keeps that many members started; /assign hands one to the team
at once (no run starts the team's instance; its flag is the member's, bound to the team), the
pool is topped up behind it, two teams at once never get the same member, an empty pool falls
back to a start of the team's own, and bad pool settings are a 400 naming the field."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bunkhouse.challenges.models import ChallengeInstance
from helpers.challenges import DEMO, challenge_body


def runs(fake_runner) -> list[list[dict]]:
    return [call[1]["challenge_instances"] for call in fake_runner.calls if call[0] == "challenge_instance.yml"]


@pytest.fixture
def challenges(app):
    return app.extensions["bunkhouse.challenges"]


def pooled_body(pool_min=2, **config) -> dict:
    return challenge_body(assign_id="web1", total_teams=0, config={"environment_vars": {}, "pool_min": pool_min,
                                                                   **config})


@pytest.fixture
def pool(api, challenges) -> dict:
    made = api.post("/api/v1/challenges/", pooled_body())
    assert made.status == 201, made.body
    assert challenges.deployer.idle(10)
    return api.get(f"/api/v1/challenges/{made.body['id']}").body


def assign(api, team="team1"):
    return api.post("/assign", {"team_id": team, "challenge_id": "web1", "image": DEMO})


def test_a_pool_keeps_its_members_started_each_with_its_own_flag(pool, fake_runner):
    members = pool["instances"]
    assert pool["assign_id"] == "web1" and len(members) == 2
    assert all(row["pooled"] and row["status"] == "running" and row["team_id"].startswith("pool.") for row in members)
    assert len({row["flag"] for row in members}) == 2 and len({row["access_url"] for row in members}) == 2
    started = [item for run in runs(fake_runner) for item in run]
    assert sorted(item["name"] for item in started) == sorted(row["container_name"] for row in members)
    assert {item["team"] for item in started} == {""}  # made for nobody: no team file


def test_assign_hands_a_ready_member_to_the_team_at_once(api, pool, fake_runner, challenges):
    before = len(runs(fake_runner))
    answer = assign(api)
    assert answer.status == 200, answer.body
    member = next(row for row in pool["instances"] if row["access_url"].rstrip("/") == answer.body["address"])
    assert challenges.deployer.idle(10)
    assert all(item["state"] == "started" and item["name"] != member["container_name"]
               for run in runs(fake_runner)[before:] for item in run)  # only the pool's new member
    now = {row["team_id"]: row for row in api.get(f"/api/v1/challenges/{pool['id']}").body["instances"]}
    assert now["team1"]["flag"] == member["flag"] and now["team1"]["container_name"] == member["container_name"]
    assert now["team1"]["pooled"] is False
    assert sum(row["pooled"] and row["status"] == "running" for row in now.values()) == 2  # topped up
    assert assign(api).body == answer.body  # the same address again
    removed = api.post("/remove", {"team_id": "team1", "challenge_id": "web1"})
    assert removed.body["message"] == f"Container {member['container_name']} stopped and removed."
    assert runs(fake_runner)[-1] == [{"name": member["container_name"], "state": "absent"}]
    kinds = [row["detail"] for row in api.get("/api/v1/events?kind=challenge_assigned").body["events"]]
    assert kinds[0]["from_pool"] is True


def test_two_teams_at_once_never_get_the_same_member(app, pool, challenges):
    start = threading.Barrier(2)

    def claim(team):
        client = app.test_client()
        start.wait()
        return client.post("/assign", json={"team_id": team, "challenge_id": "web1", "image": DEMO}).get_json()

    with ThreadPoolExecutor(2) as threads:
        answers = list(threads.map(claim, ["team1", "team2"]))
    addresses = {answer["address"] for answer in answers}
    assert len(addresses) == 2
    assert addresses == {row["access_url"].rstrip("/") for row in pool["instances"]}
    assert challenges.deployer.idle(10)


def test_an_empty_pool_falls_back_to_a_start_of_the_teams_own(app, api, pool, fake_runner, challenges):
    with app.extensions["bunkhouse.database"].write() as session:
        session.execute(update(ChallengeInstance).values(status="failed"))
    answer = assign(api, "team7")
    assert answer.status == 200, answer.body
    assert any(item["team"] == "team7" for run in runs(fake_runner) for item in run)
    assert answer.body["address"] not in {row["access_url"].rstrip("/") for row in pool["instances"]}
    assert challenges.deployer.idle(10)


def test_a_pool_that_fails_never_holds_more_rows_than_its_min(app, api, pool, fake_runner, challenges):
    """A broken image or an admin's stop: the members are made anew (after a while), never
    added to, so no row and no port is taken past pool_min."""
    pools = app.extensions["bunkhouse.challenge_pools"]
    with app.extensions["bunkhouse.database"].write() as session:
        session.execute(update(ChallengeInstance).values(status="failed"))
    assert pools.top_up() == {}  # they failed just now: not retried at once, nothing added
    pools.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
    assert sorted(pools.top_up().values()) == ["recreated", "recreated"]
    assert challenges.deployer.idle(10)
    rows = api.get(f"/api/v1/challenges/{pool['id']}").body["instances"]
    assert len(rows) == 2 and {row["status"] for row in rows} == {"running"}


def test_a_claimed_members_lifetime_begins_at_the_claim(api, challenges):
    made = api.post("/api/v1/challenges/", pooled_body(1, lifetime_minutes=30))
    assert challenges.deployer.idle(10)
    [member] = api.get(f"/api/v1/challenges/{made.body['id']}").body["instances"]
    assert member["expires_at"] is None
    assert assign(api).status == 200
    rows = {row["team_id"]: row for row in api.get(f"/api/v1/challenges/{made.body['id']}").body["instances"]}
    assert rows["team1"]["expires_at"] is not None and rows["team1"]["ends_at"] is not None
    assert challenges.deployer.idle(10)


@pytest.mark.parametrize(("body", "field"), [
    (challenge_body(config={"pool_min": 2, "environment_vars": {}}), "config.pool_min"),  # no assign_id
    (pooled_body(51), "config.pool_min"),
    (pooled_body(2, environment_vars={"FLAG": "x"}), "config.pool_min"),
    (pooled_body(2, flag_in_environment=True), "config.pool_min"),
    ({**pooled_body(), "total_teams": 3}, "total_teams"),
    ({**pooled_body(), "assign_id": "web 1"}, "assign_id"),
    ({**pooled_body(), "assign_id": "x" * 10240}, "assign_id"),
])
def test_bad_pool_settings_are_a_400_naming_the_field(api, fake_runner, body, field):
    answer = api.post("/api/v1/challenges/", body)
    assert answer.status == 400 and field in str(answer.body), answer.body
    assert api.get("/api/v1/challenges/").body["total"] == 0 and runs(fake_runner) == []


def test_an_assign_id_is_one_challenges(api, pool):
    again = api.post("/api/v1/challenges/", {**pooled_body(), "name": "another"})
    assert again.status == 409 and again.error["field"] == "assign_id"


def test_an_inactive_challenge_gets_no_new_instance_from_assign(api, pool, fake_runner):
    assert api.put(f"/api/v1/challenges/{pool['id']}", {"is_active": False}).status == 200
    before = len(runs(fake_runner))
    answer = assign(api)
    assert answer.status == 409 and answer.body["status"] == "error" and answer.error["code"] == "challenge_inactive"
    assert len(runs(fake_runner)) == before
