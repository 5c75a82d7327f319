"""Seed 003's logins and users through the HTTP API (fake runner): register (closed by default,
by an admin or manager, with a one-time team invite, or self-registration), login with a
password, refresh (each refresh token once; a replay revokes the login), logout, the failed-login
limit, deactivation, the manager's limits, seed 003's user routes and /health. The real-stack
test is tests/integration/challenges/test_challenges_service.py (a team's user and its instance)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from bunkhouse.identity.models import ApiToken, ApiUser
from helpers.api import Api, make_user

PASSWORD = "correct horse battery"


@pytest.fixture
def auth_setting() -> str:
    return "on"


def registration(username="john_doe", **more) -> dict:
    return {"username": username, "email": f"{username}@example.com", "password": PASSWORD, "zone": "zone1", **more}


def login(api: Api, username="john_doe", password=PASSWORD):
    return api.as_(None).post("/api/v1/auth/login", {"username": username, "password": password})


def user_names(admin: Api) -> list[str]:
    return [user["username"] for user in admin.get("/api/v1/users/").body]


def test_registration_is_closed_by_default_and_makes_nothing(api, admin):
    answer = api.post("/api/v1/auth/register", registration())
    assert answer.status == 403 and answer.error["code"] == "registration_closed"
    assert answer.body["detail"] == answer.error["message"]  # seed 003's error field
    assert "john_doe" not in user_names(admin)


def test_an_admin_registers_a_user_in_seed_003s_shape_and_they_log_in(admin):
    answer = admin.post("/api/v1/auth/register", registration(role="Admin"))
    assert answer.status == 201, answer.body
    assert {key: answer.body[key] for key in ("username", "email", "role", "is_active", "zone")} == \
        {"username": "john_doe", "email": "john_doe@example.com", "role": "Admin", "is_active": True, "zone": "zone1"}
    pair = login(admin)
    assert pair.status == 200, pair.body
    assert pair.body["token_type"] == "bearer" and pair.body["expires_in"] == 15 * 60
    me = admin.as_(pair.body["access_token"]).get("/api/v1/me")
    assert (me.status, me.body["name"], me.body["role"]) == (200, "john_doe", "manager")
    # The refresh token only refreshes: it does not call the API.
    refused = admin.as_(pair.body["refresh_token"]).get("/api/v1/me")
    assert refused.status == 401 and refused.error["code"] == "token_invalid"


def test_the_password_is_stored_as_an_argon2id_hash_only(app, admin):
    assert admin.post("/api/v1/auth/register", registration()).status == 201
    with app.extensions["bunkhouse.database"].read() as session:
        stored = session.scalar(select(ApiUser.password_hash).where(ApiUser.name == "john_doe"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize("username,password", [("john_doe", "wrong password"), ("nobody", PASSWORD)])
def test_a_wrong_password_or_an_unknown_user_get_the_same_401(admin, username, password):
    assert admin.post("/api/v1/auth/register", registration()).status == 201
    answer = login(admin, username, password)
    assert answer.status == 401 and answer.error["code"] == "invalid_credentials"
    assert answer.error["message"] == "wrong user name or password"


def test_a_team_invite_registers_onto_its_team_once(api, admin):
    team = admin.post("/api/v1/teams", {"name": "Red Herrings"})
    assert team.status == 201 and team.body["id"] == "team-001"
    invite = admin.post("/api/v1/teams/team-001/invites")
    assert invite.status == 201 and invite.body["code"].startswith("bki_")
    joined = api.post("/api/v1/auth/register", registration(invite=invite.body["code"]))
    assert joined.status == 201, joined.body
    assert (joined.body["team_id"], joined.body["role"]) == ("team-001", "User")
    again = api.post("/api/v1/auth/register", registration("jane_doe", invite=invite.body["code"]))
    assert again.status == 403 and again.error["code"] == "invite_used"
    forged = api.post("/api/v1/auth/register", registration("jane_doe", invite=invite.body["code"][:-2] + "xx"))
    assert forged.status == 403 and forged.error["code"] == "invite_invalid"
    assert admin.get("/api/v1/teams/team-001").body["members"] == ["john_doe"]
    # Without a manager's token, an invite gives no role and no other team.
    climbing = api.post("/api/v1/auth/register", registration("eve", invite=admin.post(
        "/api/v1/teams/team-001/invites").body["code"], role="Master"))
    assert climbing.status == 403 and climbing.error["code"] == "managers_only"
    assert "eve" not in user_names(admin)


def test_invites_are_listed_without_codes_and_an_unused_one_is_revoked(api, admin):
    admin.post("/api/v1/teams", {"name": "Red Herrings"})
    used, unused = (admin.post("/api/v1/teams/team-001/invites").body for _ in range(2))
    assert api.post("/api/v1/auth/register", registration(invite=used["code"])).status == 201
    listed = admin.get("/api/v1/teams/team-001/invites")
    assert listed.status == 200 and {row["id"] for row in listed.body["invites"]} == {used["id"], unused["id"]}
    assert not any("code" in row for row in listed.body["invites"])
    assert {row["id"]: row["used_by"] for row in listed.body["invites"]}[used["id"]] == "john_doe"
    assert admin.delete(f"/api/v1/teams/team-001/invites/{unused['id']}").status == 204
    refused = api.post("/api/v1/auth/register", registration("jane_doe", invite=unused["code"]))
    assert refused.status == 403 and refused.error["code"] == "invite_invalid"
    kept = admin.delete(f"/api/v1/teams/team-001/invites/{used['id']}")
    assert kept.status == 409 and kept.error["code"] == "invite_used"
    for missing in (unused["id"], "../../etc", "f" * 16):
        assert admin.delete(f"/api/v1/teams/team-001/invites/{missing}").status == 404


def test_a_taken_name_leaves_the_invite_unspent(api, admin):
    admin.post("/api/v1/teams", {"name": "Blue"})
    assert admin.post("/api/v1/auth/register", registration()).status == 201
    code = admin.post("/api/v1/teams/team-001/invites").body["code"]
    taken = api.post("/api/v1/auth/register", registration(invite=code, email="other@example.com"))
    assert taken.status == 409 and taken.error["code"] == "user_exists"
    assert api.post("/api/v1/auth/register", registration("jane_doe", invite=code)).status == 201


@pytest.mark.parametrize("field,value", [
    ("username", "john doe"), ("username", "jo"), ("username", "j'; drop table users; --"), ("username", "../x"),
    ("username", "x" * 10000), ("username", "jöhn"), ("email", "not-an-address"), ("email", "a@b"),
    ("password", "short"), ("zone", "z"), ("zone", "zone 1"), ("invite", "bki_x"),
])
def test_bad_registration_input_is_a_400_naming_the_field_and_makes_nothing(admin, field, value):
    answer = admin.post("/api/v1/auth/register", registration(**{field: value}))
    assert answer.status == (403 if field == "invite" else 400), answer.body  # an unknown invite is refused
    assert answer.error.get("field") == field, answer.body
    assert user_names(admin) == ["admin"]


def test_self_registration_when_the_setting_is_on(app, api, admin, unit_config, monkeypatch):
    monkeypatch.setattr(app.extensions["bunkhouse.logins"], "settings",
                        type(unit_config.logins)(self_registration=True))
    answer = api.post("/api/v1/auth/register", registration())
    assert answer.status == 201 and (answer.body["role"], answer.body["team_id"]) == ("User", None)


def test_refresh_trades_a_refresh_token_once_and_a_replay_revokes_the_login(admin):
    admin.post("/api/v1/auth/register", registration())
    first = login(admin).body
    second = admin.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status == 200, second.body
    assert admin.as_(second.body["access_token"]).get("/api/v1/me").status == 200
    replay = admin.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert replay.status == 401 and replay.error["code"] == "token_revoked"
    # The replay revoked the whole login: the pair the first refresh made works no more.
    for token in (second.body["access_token"], first["access_token"]):
        assert admin.as_(token).get("/api/v1/me").error["code"] == "token_revoked"
    assert admin.post("/api/v1/auth/refresh", {"refresh_token": second.body["refresh_token"]}).status == 401
    assert admin.post("/api/v1/auth/refresh", {"refresh_token": "bkh_0123456789ab_" + "x" * 40}).status == 401


def test_the_same_refresh_token_sent_twice_at_once_makes_one_pair_at_most(app, admin):
    """Eight requests at once with one refresh token (on PostgreSQL they really overlap): one
    spends it, the others are replays, and the replays revoke the pair the one made."""
    admin.post("/api/v1/auth/register", registration())
    token = login(admin).body["refresh_token"]
    start = threading.Barrier(8)

    def refresh(_):
        client = app.test_client()
        start.wait()
        return client.post("/api/v1/auth/refresh", json={"refresh_token": token})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(refresh, range(8)))
    made = [answer.get_json() for answer in answers if answer.status_code == 200]
    assert len(made) == 1 and sorted(answer.status_code for answer in answers) == [200] + [401] * 7
    assert admin.as_(made[0]["access_token"]).get("/api/v1/me").error["code"] == "token_revoked"


def test_logout_revokes_the_login_and_nothing_else(app, admin):
    admin.post("/api/v1/auth/register", registration())
    kept, ended = login(admin).body, login(admin).body
    answer = admin.as_(ended["access_token"]).post("/api/v1/auth/logout")
    assert answer.status == 200 and answer.body == {"revoked": 2}
    assert admin.as_(ended["access_token"]).get("/api/v1/me").status == 401
    assert admin.post("/api/v1/auth/refresh", {"refresh_token": ended["refresh_token"]}).status == 401
    assert admin.as_(kept["access_token"]).get("/api/v1/me").status == 200
    with app.extensions["bunkhouse.database"].read() as session:
        kinds = sorted(row.kind for row in session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_not(None))))
    assert kinds == ["access", "refresh"]


def test_failed_logins_are_limited_per_user_name_and_a_right_password_then_waits(admin):
    for name in ("john_doe", "jane_doe"):
        admin.post("/api/v1/auth/register", registration(name))
    assert login(admin).status == 200  # successes do not count
    for _ in range(5):
        assert login(admin, password="wrong password").status == 401
    limited = login(admin)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "failed logins" in limited.error["message"]
    # Another user from the same address is not locked out by john_doe's failures.
    assert login(admin, "jane_doe").status == 200


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(app, admin):
    admin.post("/api/v1/auth/register", registration())
    client = app.test_client()

    def from_address(address: str, password: str) -> int:
        return client.post("/api/v1/auth/login", json={"username": "john_doe", "password": password},
                           environ_base={"REMOTE_ADDR": address}).status_code

    assert [from_address("192.0.2.7", "wrong password") for _ in range(5)] == [401] * 5
    assert from_address("192.0.2.7", PASSWORD) == 429
    assert from_address("192.0.2.8", PASSWORD) == 200  # the real user, from their own address


def test_the_same_registration_four_times_at_once_makes_one_user(app, admin):
    start = threading.Barrier(4)
    headers = {"Authorization": f"Bearer {admin.token}"}

    def register(_):
        client = app.test_client()
        start.wait()
        return client.post("/api/v1/auth/register", json=registration(), headers=headers).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(register, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert user_names(admin).count("john_doe") == 1


@pytest.mark.parametrize("username", ["john\x00doe", "x" * 10000, "Ünïcode", "john doe", ""])
def test_a_name_no_user_can_have_is_a_wrong_login(admin, username):
    answer = login(admin, username)
    assert answer.status == 401 and answer.error["code"] == "invalid_credentials", answer.body


def test_a_deactivated_user_cannot_log_in_and_their_tokens_stop(admin):
    user = admin.post("/api/v1/auth/register", registration()).body
    access = login(admin).body["access_token"]
    changed = admin.put(f"/api/v1/users/{user['id']}", {"is_active": False})
    assert changed.status == 200 and changed.body["is_active"] is False
    assert admin.as_(access).get("/api/v1/me").error["code"] == "token_revoked"  # the deactivation ended it
    assert login(admin).error["code"] == "user_inactive"
    # Active again, they log in anew: the old login stays ended.
    assert admin.put(f"/api/v1/users/{user['id']}", {"is_active": True}).status == 200
    assert admin.as_(access).get("/api/v1/me").error["code"] == "token_revoked"
    assert login(admin).status == 200


def test_a_new_password_ends_the_users_logins(admin):
    user = admin.post("/api/v1/auth/register", registration()).body
    pair = login(admin).body
    assert admin.put(f"/api/v1/users/{user['id']}", {"password": "another good password"}).status == 200
    assert admin.as_(pair["access_token"]).get("/api/v1/me").error["code"] == "token_revoked"
    assert admin.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}).status == 401
    assert login(admin, password="another good password").status == 200


def test_a_manager_manages_users_but_never_an_admin(admin):
    admin.post("/api/v1/auth/register", registration("manny", role="Admin"))
    manager = admin.as_(login(admin, "manny").body["access_token"])
    made = manager.post("/api/v1/auth/register", registration("pat"))
    assert made.status == 201 and made.body["role"] == "User"
    for answer in (manager.post("/api/v1/auth/register", registration("root_wannabe", role="Master")),
                   manager.put("/api/v1/users/pat", {"role": "Master"}),
                   manager.put("/api/v1/users/admin", {"zone": "elsewhere"}),
                   manager.post("/api/v1/users", {"name": "boss", "role": "admin"}),
                   manager.request("PATCH", "/api/v1/users/manny", {"max_nodes": 500}),
                   manager.post("/api/v1/users", {"name": "greedy", "max_nodes": 500})):
        assert answer.status == 403 and answer.error["code"] == "admin_only", answer.body
    assert manager.post("/api/v1/users/pat/tokens", {}).error["code"] == "admin_only"
    admin.post("/api/v1/teams", {"name": "Red"})
    joining = manager.put("/api/v1/users/manny", {"team_id": "team-001"})  # to act as that team
    assert joining.status == 403 and joining.error["code"] == "not_yourself"
    assert manager.get("/api/v1/events").error["code"] == "admin_only"
    # Nobody lowers their own role or deactivates themself.
    mine = manager.put("/api/v1/users/manny", {"role": "User"})
    assert mine.status == 403 and mine.error["code"] == "not_yourself"
    assert sorted(user_names(admin)) == ["admin", "manny", "pat"]


def test_seed_003s_user_routes_by_id_or_name(admin):
    user = admin.post("/api/v1/auth/register", registration()).body
    listed = admin.get("/api/v1/users/")
    assert listed.status == 200 and [row["username"] for row in listed.body] == ["admin", "john_doe"]
    assert admin.get("/api/v1/users/?skip=1&limit=1").body == [user]
    for ref in (user["id"], "john_doe"):
        seen = admin.get(f"/api/v1/users/{ref}")
        assert seen.status == 200 and (seen.body["id"], seen.body["username"]) == (user["id"], "john_doe")
    admin.post("/api/v1/teams", {"name": "Green", "id": "team-007"})
    changed = admin.put(f"/api/v1/users/{user['id']}", {"email": "new@example.com", "role": "Admin",
                                                        "zone": "new_zone", "team_id": "team-007"})
    assert changed.status == 200, changed.body
    assert {key: changed.body[key] for key in ("email", "role", "zone", "team_id")} == \
        {"email": "new@example.com", "role": "Admin", "zone": "new_zone", "team_id": "team-007"}
    assert admin.put("/api/v1/users/john_doe", {"role": "Boss"}).error["field"] == "role"
    assert admin.put("/api/v1/users/john_doe", {"team_id": "team-099"}).status == 404
    assert admin.put("/api/v1/users/nobody", {"zone": "zone1"}).status == 404
    admin.post("/api/v1/auth/register", registration("jane_doe"))
    taken = admin.put("/api/v1/users/jane_doe", {"email": "new@example.com"})
    assert taken.status == 409 and taken.error["code"] == "email_exists"


def test_a_user_sees_no_one_else(admin):
    admin.post("/api/v1/auth/register", registration())
    user = admin.as_(login(admin).body["access_token"])
    for path in ("/api/v1/users/", "/api/v1/users/admin", "/api/v1/teams"):
        assert user.get(path).error["code"] == "managers_only"


def test_a_team_with_members_is_kept_and_an_empty_one_deleted(admin):
    admin.post("/api/v1/teams", {"name": "Kept"})
    admin.post("/api/v1/teams", {"name": "Gone"})
    admin.post("/api/v1/auth/register", registration(team_id="team-001"))
    assert admin.delete("/api/v1/teams/team-001").error["code"] == "team_not_empty"
    assert admin.delete("/api/v1/teams/team-002").status == 204
    assert [team["id"] for team in admin.get("/api/v1/teams").body["teams"]] == ["team-001"]
    assert admin.post("/api/v1/teams", {"name": "Kept"}).status == 409
    assert admin.post("/api/v1/teams", {"name": "x", "id": "team 1"}).error["field"] == "id"


def test_seed_003s_health(api):
    answer = api.as_(None).get("/health")
    assert answer.status == 200 and answer.body["status"] == "healthy"
    assert answer.body["timestamp"].endswith("Z")


def test_with_authentication_off_logins_are_refused(unit_config, tmp_path):
    from bunkhouse.config import Config
    from helpers.fakes import FakeEngine, FakeRunner
    from helpers.unit_app import close, make_app, unit_environment
    app = make_app(Config.from_environ(unit_environment(tmp_path / "off", BUNKHOUSE_AUTH="off")), FakeRunner(),
                   FakeEngine(["node-1"]))
    try:
        answer = Api(app.test_client()).post("/api/v1/auth/login", {"username": "a", "password": PASSWORD})
        assert answer.status == 403 and answer.error["code"] == "auth_off"
    finally:
        close(app)


def test_make_user_tokens_still_work_beside_logins(admin):
    token = make_user(admin, "scripted")
    assert admin.as_(token).get("/api/v1/me").body["name"] == "scripted"
    # An API token's logout revokes that token only.
    assert admin.as_(token).post("/api/v1/auth/logout").body == {"revoked": 1}
    assert admin.as_(token).get("/api/v1/me").status == 401


def later(hours: float):
    from datetime import timedelta

    from bunkhouse.core.model import utcnow
    return lambda: utcnow() + timedelta(hours=hours)


def test_an_invite_expires_after_its_hours(app, api, admin, monkeypatch):
    admin.post("/api/v1/teams", {"name": "Late"})
    code = admin.post("/api/v1/teams/team-001/invites").body["code"]
    monkeypatch.setattr(app.extensions["bunkhouse.teams"], "clock", later(73))
    answer = api.post("/api/v1/auth/register", registration(invite=code))
    assert answer.status == 403 and answer.error["code"] == "invite_expired"


def test_an_access_token_ends_after_its_minutes_and_a_refresh_token_after_its_hours(app, admin, monkeypatch):
    admin.post("/api/v1/auth/register", registration())
    pair = login(admin).body
    monkeypatch.setattr(app.extensions["bunkhouse.tokens"], "clock", later(0.26))  # 15.6 minutes on
    assert admin.as_(pair["access_token"]).get("/api/v1/me").error["code"] == "token_expired"
    renewed = admin.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert renewed.status == 200
    monkeypatch.setattr(app.extensions["bunkhouse.logins"], "clock", later(169))
    ended = admin.post("/api/v1/auth/refresh", {"refresh_token": renewed.body["refresh_token"]})
    assert ended.status == 401 and ended.error["code"] == "token_expired"
