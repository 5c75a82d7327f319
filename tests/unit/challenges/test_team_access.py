"""Who sees which challenge instance (seed 003's roles, fake runner): a user sees the active
challenges with their own team's instance only, no flags, and gets their own team's access,
flag check and reset, never another team's; a manager sees every team, without flags; stats
are for admins and managers."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bunkhouse.challenges.models import ChallengeInstance
from helpers.api import Api
from helpers.challenges import challenge_body, deployed

PASSWORD = "correct horse battery"


@pytest.fixture
def auth_setting() -> str:
    return "on"


@pytest.fixture
def challenges(app):
    return app.extensions["bunkhouse.challenges"]


def logged_in(admin: Api, name: str, **more) -> Api:
    made = admin.post("/api/v1/auth/register", {"username": name, "email": f"{name}@example.com",
                                                "password": PASSWORD, **more})
    assert made.status == 201, made.body
    pair = admin.as_(None).post("/api/v1/auth/login", {"username": name, "password": PASSWORD})
    return admin.as_(pair.body["access_token"])


@pytest.fixture
def game(admin, challenges) -> dict:
    for number in (1, 2):
        assert admin.post("/api/v1/teams", {"name": f"Team {number}"}).status == 201
    return deployed(admin, challenges)


def test_a_user_sees_their_teams_instance_only_and_no_flag(admin, game):
    alice = logged_in(admin, "alice", team_id="team-002")
    listed = alice.get("/api/v1/challenges/")
    assert listed.status == 200 and listed.body["total"] == 1
    [challenge] = listed.body["challenges"]
    assert [row["team_id"] for row in challenge["instances"]] == ["team-002"]
    seen = alice.get(f"/api/v1/challenges/{game['id']}").body
    assert [row["team_id"] for row in seen["instances"]] == ["team-002"]
    assert "flag" not in seen["instances"][0]
    access = alice.get(f"/api/v1/challenges/{game['id']}/teams/team-002/access")
    assert access.status == 200 and access.body["access_url"] == game["instances"][1]["access_url"]
    for path in ("teams/team-001/access", "stats"):
        refused = alice.get(f"/api/v1/challenges/{game['id']}/{path}")
        assert refused.status == 403, refused.body
    other = alice.get(f"/api/v1/challenges/{game['id']}/teams/team-001/access")
    assert other.error["code"] == "not_your_team" and other.body["detail"]


def test_a_user_checks_and_resets_only_their_own_team(admin, game, challenges):
    alice = logged_in(admin, "alice", team_id="team-002")
    flags = {row["team_id"]: row["flag"] for row in game["instances"]}
    base = f"/api/v1/challenges/{game['id']}/teams"
    assert alice.post(f"{base}/team-002/flag", {"flag": flags["team-002"]}).body["correct"] is True
    assert alice.post(f"{base}/team-002/flag", {"flag": flags["team-001"]}).body["correct"] is False
    stolen = alice.post(f"{base}/team-001/flag", {"flag": flags["team-001"]})
    assert stolen.status == 403 and stolen.error["code"] == "not_your_team"
    assert alice.post(f"{base}/team-001/reset").error["code"] == "not_your_team"
    reset = alice.post(f"{base}/team-002/reset")
    assert reset.status == 202, reset.body
    assert challenges.deployer.idle(10)


def test_a_user_without_a_team_sees_the_challenges_but_no_instance(admin, game):
    loner = logged_in(admin, "loner")
    [challenge] = loner.get("/api/v1/challenges/").body["challenges"]
    assert challenge["instances"] == []
    assert loner.get(f"/api/v1/challenges/{game['id']}/teams/team-001/access").status == 403


def test_a_user_does_not_see_inactive_challenges(admin, game):
    alice = logged_in(admin, "alice", team_id="team-001")
    assert admin.put(f"/api/v1/challenges/{game['id']}", {"is_active": False}).status == 200
    assert alice.get("/api/v1/challenges/").body == {"challenges": [], "total": 0}
    assert alice.get(f"/api/v1/challenges/{game['id']}").status == 404


def test_a_manager_sees_every_team_without_flags_and_cannot_deploy(admin, game):
    manny = logged_in(admin, "manny", role="Admin")
    seen = manny.get(f"/api/v1/challenges/{game['id']}").body
    assert [row["team_id"] for row in seen["instances"]] == ["team-001", "team-002", "team-003"]
    assert not any("flag" in row for row in seen["instances"])
    assert manny.get(f"/api/v1/challenges/{game['id']}/stats").status == 200
    assert manny.get(f"/api/v1/challenges/{game['id']}/teams/team-003/access").status == 200
    for answer in (manny.post(f"/api/v1/challenges/{game['id']}/deploy", {"force_redeploy": True}),
                   manny.post("/api/v1/challenges/", challenge_body(name="other"))):
        assert answer.status == 403 and answer.error["code"] == "admin_only"


def test_a_team_resets_only_a_running_or_failed_instance_of_an_active_challenge(admin, game, challenges):
    alice = logged_in(admin, "alice", team_id="team-002")
    base = f"/api/v1/challenges/{game['id']}"
    assert admin.post(f"{base}/stop", {"remove_instances": False}).status == 200
    stopped = alice.post(f"{base}/teams/team-002/reset")
    assert stopped.status == 409 and stopped.error["code"] == "instance_not_running"
    assert admin.get(f"{base}/teams/team-002/access").body["status"] == "stopped"  # the admin's stop holds
    assert admin.post(f"{base}/deploy", {"force_redeploy": False}).status == 202
    assert challenges.deployer.idle(10)
    assert admin.put(base, {"is_active": False}).status == 200
    for answer in (alice.get(f"{base}/teams/team-002/access"), alice.post(f"{base}/teams/team-002/reset"),
                   alice.post(f"{base}/teams/team-002/flag", {"flag": "CTF{x}"})):
        assert answer.status == 404 and answer.error["code"] == "challenge_not_found", answer.body
    assert admin.get(f"{base}/teams/team-002/access").status == 200  # an admin still sees it


def test_a_teams_resets_are_limited_and_an_admins_are_not(admin, game, challenges):
    alice = logged_in(admin, "alice", team_id="team-002")
    reset = f"/api/v1/challenges/{game['id']}/teams/team-002/reset"
    for _ in range(3):
        assert alice.post(reset).status == 202
        assert challenges.deployer.idle(10)
    limited = alice.post(reset)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "resets" in limited.error["message"]
    assert admin.post(reset).status == 202
    assert challenges.deployer.idle(10)


def test_a_user_sees_their_teams_status_and_not_who_made_the_challenge(app, admin, game):
    alice = logged_in(admin, "alice", team_id="team-002")
    base = f"/api/v1/challenges/{game['id']}"
    with app.extensions["bunkhouse.database"].write() as session:  # another team's instance failed
        session.execute(update(ChallengeInstance).where(ChallengeInstance.team_id == "team-001")
                        .values(status="failed"))
    assert admin.get(base).body["status"] == "partial"
    seen = alice.get(base).body
    assert seen["status"] == "running" and seen["created_by"] is None
    assert admin.get(base).body["created_by"] == "admin"
