"""Lifetimes of challenge instances (fake runner, a clock the test moves): an instance of a
challenge with `lifetime_minutes` ends that long after its start, a renewal moves the end a
lifetime on from now but never past the hard end, the janitor removes what is over (keeping the
team's address and flag), and an admin's deploy after the hard end begins a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers.challenges import challenge_body, deployed

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


def z(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def challenges(app):
    return app.extensions["bunkhouse.challenges"]


@pytest.fixture
def janitor(app):
    return app.extensions["bunkhouse.lifecycle"].challenge_jobs.lifetimes


@pytest.fixture
def clock(app, challenges, janitor) -> Clock:
    clock = Clock()
    challenges.deployer.clock = janitor.clock = app.extensions["bunkhouse.team_instances"].clock = clock
    return clock


@pytest.fixture
def game(api, challenges, clock) -> dict:
    return deployed(api, challenges, config={"lifetime_minutes": 30})


def access(api, game, team="team-001"):
    return api.get(f"/api/v1/challenges/{game['id']}/teams/{team}/access")


def renew(api, game, team="team-001"):
    return api.post(f"/api/v1/challenges/{game['id']}/teams/{team}/renew")


def test_each_running_instance_gets_an_end_and_a_hard_end_of_four_lifetimes(api, game):
    assert game["config"]["lifetime_minutes"] == 30 and game["config"]["max_lifetime_minutes"] == 120
    assert {(row["expires_at"], row["ends_at"]) for row in game["instances"]} == {(z(30), z(120))}
    assert (access(api, game).body["expires_at"], access(api, game).body["ends_at"]) == (z(30), z(120))


def test_a_renewal_moves_the_end_a_lifetime_on_from_now_never_past_the_hard_end(api, game, clock):
    clock.at(20)
    answer = renew(api, game)
    assert answer.status == 200 and answer.body["expires_at"] == z(50)
    assert renew(api, game).body["expires_at"] == z(50)  # again at once: the same end
    clock.at(110)
    assert renew(api, game).body["expires_at"] == z(120)
    clock.at(5)  # a renewal never brings the end nearer
    assert renew(api, game).body["expires_at"] == z(120)
    assert access(api, game, "team-002").body["expires_at"] == z(30)


def test_the_janitor_removes_what_is_over_and_keeps_the_address(api, game, clock, janitor, challenges):
    clock.at(20)
    renew(api, game, "team-002")
    clock.at(29)
    assert janitor.end_expired() == []
    clock.at(31)
    ended = janitor.end_expired()
    assert challenges.deployer.idle(10)
    statuses = {row["team_id"]: row["status"] for row in api.get(f"/api/v1/challenges/{game['id']}").body["instances"]}
    assert statuses == {"team-001": "removed", "team-002": "running", "team-003": "removed"}
    assert len(ended) == 2 and janitor.end_expired() == []
    assert access(api, game).body["access_url"] == game["instances"][0]["access_url"]
    late = renew(api, game)
    assert late.status == 409 and late.error["code"] == "instance_not_running"
    kinds = [row["kind"] for row in api.get("/api/v1/events?kind=challenge_instance_expired").body["events"]]
    assert kinds == ["challenge_instance_expired"] * 2


def test_a_deploy_after_the_hard_end_begins_a_new_lifetime(api, game, clock, janitor, challenges):
    clock.at(121)
    janitor.end_expired()
    assert challenges.deployer.idle(10)
    assert api.post(f"/api/v1/challenges/{game['id']}/deploy", {"force_redeploy": False}).status == 202
    assert challenges.deployer.idle(10)
    assert (access(api, game).body["status"], access(api, game).body["ends_at"]) == ("running", z(121 + 120))


def test_a_challenge_without_a_lifetime_runs_until_stopped(api, challenges, clock, janitor):
    game = deployed(api, challenges)
    assert {(row["expires_at"], row["ends_at"]) for row in game["instances"]} == {(None, None)}
    answer = renew(api, game)
    assert answer.status == 409 and answer.error["code"] == "no_lifetime"
    clock.at(100000)
    assert janitor.end_expired() == []


@pytest.mark.parametrize(("config", "field"), [
    ({"max_lifetime_minutes": 60}, "config.max_lifetime_minutes"),
    ({"lifetime_minutes": 1441}, "config.lifetime_minutes"),
    ({"lifetime_minutes": 30, "max_lifetime_minutes": 29}, "config.max_lifetime_minutes"),
    ({"lifetime_minutes": 30, "max_lifetime_minutes": 1441}, "config.max_lifetime_minutes"),
    ({"lifetime_minutes": "30"}, "lifetime_minutes"),
    ({"lifetime_minutes": 0}, "lifetime_minutes"),
])
def test_a_lifetime_out_of_bounds_is_a_400_naming_it(api, config, field):
    answer = api.post("/api/v1/challenges/", challenge_body(config=config))
    assert answer.status == 400 and field in str(answer.body), answer.body
    assert api.get("/api/v1/challenges/").body["total"] == 0


def test_a_removal_the_janitor_could_not_make_leaves_the_instances_failed_not_stuck(api, game, clock, janitor,
                                                                                    challenges, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the engine is gone")

    monkeypatch.setattr(challenges.deployer, "apply", broken)
    clock.at(31)
    assert len(janitor.end_expired()) == 3
    rows = api.get(f"/api/v1/challenges/{game['id']}").body["instances"]
    assert {row["status"] for row in rows} == {"failed"} and "the engine is gone" in rows[0]["error"]
    monkeypatch.undo()
    assert len(janitor.end_expired()) == 3  # the next round takes them again
    assert challenges.deployer.idle(10)
