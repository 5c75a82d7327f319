"""Seed 000's /assign and /remove with a fake runner: the address once the instance runs, the
same address again, the image allow-list, bad ids, and seed 000's error fields beside
bunkhouse's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bunkhouse.challenges.models import Challenge

DEMO = "bunkhouse/demo-challenge:latest"


def runs(fake_runner) -> list[dict]:
    return [call[1] for call in fake_runner.calls if call[0] == "challenge_instance.yml"]


def test_assign_answers_the_address_and_the_same_one_again(api, fake_runner):
    first = api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO})
    assert first.status == 200, first.body
    assert first.body["status"] == "success" and first.body["address"].startswith("http://127.0.0.1:")
    again = api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO})
    assert again.body == first.body
    assert len(runs(fake_runner)) == 1  # running already: nothing started twice
    other = api.post("/assign", {"team_id": "team2", "challenge_id": "web1", "image": DEMO})
    assert other.status == 200 and other.body["address"] != first.body["address"]
    started, = runs(fake_runner)[0]["challenge_instances"]
    assert (started["team"], started["ports"][0]["container"]) == ("team1", 8080)  # the allow-list entry's port


def test_remove_stops_and_removes_and_a_second_remove_is_a_404(api, fake_runner):
    address = api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO}).body["address"]
    removed = api.post("/remove", {"team_id": "team1", "challenge_id": "web1"})
    assert removed.status == 200, removed.body
    assert removed.body == {"status": "success", "message": "Container bunkhouse-ch-1-team1 stopped and removed."}
    assert runs(fake_runner)[-1]["challenge_instances"] == [{"name": "bunkhouse-ch-1-team1", "state": "absent"}]
    gone = api.post("/remove", {"team_id": "team1", "challenge_id": "web1"})
    assert gone.status == 404 and gone.body["status"] == "error" and "team1" in gone.body["message"]
    # Assigned again, the team gets the address it had.
    assert api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO}).body["address"] == address


def test_an_image_off_the_allow_list_is_refused_and_nothing_is_made(api, app, fake_runner):
    answer = api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": "nginx:alpine"})
    assert answer.status == 400 and answer.body["status"] == "error"
    assert answer.body["error"]["field"] == "image" and "allow-list" in answer.body["message"]
    with app.extensions["bunkhouse.database"].read() as session:
        assert session.scalar(select(func.count()).select_from(Challenge)) == 0
    assert runs(fake_runner) == []


@pytest.mark.parametrize("field, value", [
    ("team_id", "team 1"), ("team_id", "team'1"), ("team_id", "../etc"), ("team_id", "é"), ("team_id", "t" * 10240),
    ("challenge_id", "web 1"), ("challenge_id", '"web"'), ("challenge_id", ".."), ("challenge_id", ""),
])
def test_bad_ids_are_a_400_naming_the_field(api, fake_runner, field, value):
    body = {"team_id": "team1", "challenge_id": "web1", "image": DEMO, field: value}
    answer = api.post("/assign", body)
    assert answer.status == 400, answer.body
    assert answer.body["status"] == "error" and field in str(answer.body["error"])
    assert runs(fake_runner) == []


def test_another_image_for_the_same_challenge_is_a_409(api, app):
    assert api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO}).status == 200
    app.extensions["bunkhouse.challenges"].allow_list.images["bunkhouse/other:latest"] = \
        app.extensions["bunkhouse.challenges"].allow_list.images[DEMO].__class__("bunkhouse/other:latest", (80,))
    answer = api.post("/assign", {"team_id": "team2", "challenge_id": "web1", "image": "bunkhouse/other:latest"})
    assert answer.status == 409 and answer.body["error"]["code"] == "other_image"


def test_an_instance_that_fails_to_start_is_a_503_and_assign_tries_it_again(api, fake_runner):
    fake_runner.failing_hosts = {"bunkhouse-ch-1-team1"}
    failed = api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO})
    assert failed.status == 503 and failed.body["status"] == "error"
    fake_runner.failing_hosts = set()
    assert api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO}).status == 200


def test_a_challenge_assign_made_is_not_deployed_for_numbered_teams(api, app):
    assert api.post("/assign", {"team_id": "team1", "challenge_id": "web1", "image": DEMO}).status == 200
    challenge_id = api.get("/api/v1/challenges/").body["challenges"][0]["id"]
    answer = api.post(f"/api/v1/challenges/{challenge_id}/deploy", {})
    assert answer.status == 409 and answer.body["error"]["code"] == "assigned_challenge"
