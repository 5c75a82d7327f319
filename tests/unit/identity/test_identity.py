"""Tokens, roles, ownership, quotas, the rate limit and the audit log, through the HTTP API
(fake runner; the real-stack test is tests/integration/reservations/test_service_auth.py)."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest

from bunkhouse.identity.models import ApiToken
from bunkhouse.identity.tokens import hash_token
from helpers.api import Api, make_user, reserve, token_id, token_secret


@pytest.fixture
def auth_setting() -> str:
    return "on"


@pytest.fixture
def admin_token(app, unit_config) -> str:
    # create_app made the first admin and wrote its token to a 0600 file.
    path = unit_config.admin_token_file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return path.read_text().strip()


@pytest.fixture
def admin(api, admin_token) -> Api:
    return api.as_(admin_token)


def book(api: Api, username="alice", count=1, duration=30):
    return reserve(api, username=username, password="pw-123456", count=count, duration=duration)


@pytest.mark.parametrize("token,code", [
    (None, "token_missing"),
    ("nonsense", "token_invalid"),
    ("bkh_000000000000_" + "x" * 43, "token_invalid"),
])
def test_no_token_or_a_bad_one_gets_401(api, token, code):
    answer = api.as_(token).get("/api/v1/reservations")
    assert answer.status == 401 and answer.error["code"] == code
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_basic_header_gets_401(client):
    response = client.get("/api/v1/reservations", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status_code == 401 and response.json["error"]["code"] == "token_invalid"


def test_tokens_are_stored_hashed_and_shown_once(admin, database):
    token = make_user(admin, "alice")
    with database.read() as session:
        rows = session.query(ApiToken).all()
    assert all(token not in (row.token_hash, row.id) for row in rows)
    assert any(row.token_hash == hash_token(token) for row in rows)
    listed = admin.get("/api/v1/users/alice/tokens").body
    assert len(listed["tokens"]) == 1 and "token" not in listed["tokens"][0] and listed["next"] is None


def test_a_user_cannot_touch_another_users_reservation(admin):
    alice = admin.as_(make_user(admin, "alice"))
    bob = admin.as_(make_user(admin, "bob"))
    mine = book(alice)
    assert mine.status == 201, mine.body
    reservation_id = mine.body["id"]
    for method, path, body in [
        ("GET", f"/api/v1/reservations/{reservation_id}", None),
        ("POST", f"/api/v1/reservations/{reservation_id}/extend", {"minutes": 10}),
        ("DELETE", f"/api/v1/reservations/{reservation_id}", None),
    ]:
        answer = bob.request(method, path, body)
        assert answer.status == 403 and answer.error["code"] == "not_owner", (method, path, answer.body)
    assert bob.get("/api/v1/reservations").body["reservations"] == []
    # Still alice's and active: bob changed nothing.
    seen = alice.get(f"/api/v1/reservations/{reservation_id}")
    assert seen.status == 200 and seen.body["state"] == "active" and seen.body["extended_minutes"] == 0
    # The admin sees everyone's.
    assert [r["id"] for r in admin.get("/api/v1/reservations").body["reservations"]] == [reservation_id]


@pytest.mark.parametrize("method,path,code", [
    ("GET", "/api/v1/users", "managers_only"), ("POST", "/api/v1/users", "managers_only"),
    ("GET", "/api/v1/events", "admin_only"), ("GET", "/api/v1/nodes", "admin_only"),
    ("POST", "/api/v1/release_all", "admin_only"), ("GET", "/release_all", "admin_only"),
    ("POST", "/api/v1/users/alice/tokens", "admin_only"), ("PATCH", "/api/v1/users/alice", "managers_only"),
    ("POST", "/api/v1/nodes/node-1/disable", "admin_only"), ("POST", "/api/v1/nodes/node-1/enable", "admin_only"),
])
def test_a_user_cannot_call_admin_routes(admin, method, path, code):
    alice = admin.as_(make_user(admin, "alice"))
    answer = alice.request(method, path, {"name": "mallory", "role": "admin"})
    assert answer.status == 403 and answer.error["code"] == code
    assert "mallory" not in [user["name"] for user in admin.get("/api/v1/users").body["users"]]
    assert admin.get("/api/v1/nodes").body["nodes"][0]["state"] == "free"


def test_a_revoked_token_stops_working_at_once(admin):
    token = make_user(admin, "alice")
    alice = admin.as_(token)
    assert alice.get("/api/v1/me").body["name"] == "alice"
    revoked = admin.delete(f"/api/v1/tokens/{token_id(token)}")
    assert revoked.status == 200 and revoked.body["revoked_at"]
    answer = alice.get("/api/v1/me")
    assert answer.status == 401 and answer.error["code"] == "token_revoked"


def test_an_expired_token_is_refused(app, admin, service, monkeypatch):
    assert admin.post("/api/v1/users", {"name": "alice"}).status == 201
    token = admin.post("/api/v1/users/alice/tokens", {"expires_in_days": 1}).body["token"]
    assert admin.as_(token).get("/api/v1/me").status == 200
    tokens = app.extensions["bunkhouse.tokens"]
    later = service.clock() + timedelta(days=2)
    monkeypatch.setattr(tokens, "clock", lambda: later)
    answer = admin.as_(token).get("/api/v1/me")
    assert answer.status == 401 and answer.error["code"] == "token_expired"


def test_a_user_may_revoke_their_own_token_but_not_others(admin):
    alice_token, bob_token = make_user(admin, "alice"), make_user(admin, "bob")
    alice, bob = admin.as_(alice_token), admin.as_(bob_token)
    assert alice.delete(f"/api/v1/tokens/{token_id(bob_token)}").status == 403
    assert bob.get("/api/v1/me").status == 200
    assert alice.delete(f"/api/v1/tokens/{token_id(alice_token)}").status == 200
    assert alice.get("/api/v1/me").status == 401


def test_node_quota_counts_what_the_user_holds(admin):
    alice = admin.as_(make_user(admin, "alice", max_nodes=3))
    assert book(alice, count=2).status == 201
    over = book(alice, count=2)
    assert over.status == 403 and over.error["code"] == "quota_nodes"
    assert over.error["limit"] == 3 and over.error["held"] == 2
    assert book(alice, count=1).status == 201


def test_duration_and_lease_quotas(admin):
    alice = admin.as_(make_user(admin, "alice", max_duration_minutes=60, max_lease_minutes=90))
    too_long = book(alice, duration=61)
    assert too_long.status == 403 and too_long.error["code"] == "quota_duration" and too_long.error["limit"] == 60
    ok = book(alice, duration=60)
    assert ok.status == 201
    extend = alice.post(f"/api/v1/reservations/{ok.body['id']}/extend", {"minutes": 31})
    assert extend.status == 403 and extend.error["code"] == "quota_lease"
    assert alice.post(f"/api/v1/reservations/{ok.body['id']}/extend", {"minutes": 30}).status == 200


def test_default_quota_applies_to_users_and_an_admin_can_override_it(admin, unit_config):
    alice = admin.as_(make_user(admin, "alice"))
    assert alice.get("/api/v1/me").body["quota"]["max_nodes"] == unit_config.auth.user_max_nodes
    changed = admin.request("PATCH", "/api/v1/users/alice", {"max_nodes": 1})
    assert changed.status == 200 and changed.body["quota"]["max_nodes"] == 1
    assert book(alice, count=2).error["code"] == "quota_nodes"
    back = admin.request("PATCH", "/api/v1/users/alice", {"max_nodes": None})
    assert back.body["quota"]["max_nodes"] == unit_config.auth.user_max_nodes


@pytest.mark.parametrize("body,code", [
    ({"name": "Bad Name"}, "invalid_name"),
    ({"name": "alice\n"}, "invalid_name"),
    ({"name": "alice\nbob"}, "invalid_name"),
    ({"name": "carol", "role": "root"}, "invalid_role"),
    ({"name": "carol", "max_nodes": 0}, "invalid_max_nodes"),
    ({"name": "carol", "max_nodes": "two"}, "invalid_max_nodes"),
])
def test_a_users_fields_each_have_one_code(admin, body, code):
    """Whether the schema or the service catches it, a field's rule answers one code."""
    answer = admin.post("/api/v1/users", body)
    assert answer.status == 400 and answer.error["code"] == code


def test_reservation_requests_are_rate_limited_with_retry_after(admin, unit_config):
    alice = admin.as_(make_user(admin, "alice", max_nodes=100))
    limit = unit_config.auth.rate_limit_per_minute
    answers = [book(alice, username=f"u{index}") for index in range(limit + 1)]
    assert [answer.status for answer in answers[:-1]] == [201] * limit
    limited = answers[-1]
    assert limited.status == 429 and limited.error["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1 and limited.error["retry_after_seconds"] >= 1
    # Per caller: another user is not limited by alice's requests.
    bob = admin.as_(make_user(admin, "bob"))
    assert book(bob, username="bob").status == 201
    # The seed route shares alice's budget.
    assert alice.get("/reserve?username=zed&password=pw-123456").status == 429


def test_the_event_log_names_actors_and_filters(admin):
    alice = admin.as_(make_user(admin, "alice"))
    reservation = book(alice).body
    assert alice.delete(f"/api/v1/reservations/{reservation['id']}").status == 200
    events = admin.get("/api/v1/events").body["events"]
    kinds = [(event["kind"], event["actor"]) for event in events]
    assert ("user_created", "admin") in kinds and ("token_created", "admin") in kinds
    assert ("reserve_requested", "alice") in kinds and ("release_requested", "alice") in kinds
    only = admin.get(f"/api/v1/events?reservation_id={reservation['id']}&actor=alice").body["events"]
    assert only and all(e["reservation_id"] == reservation["id"] and e["actor"] == "alice" for e in only)
    page = admin.get("/api/v1/events?limit=2").body
    assert len(page["events"]) == 2 and page["next_after_id"] == page["events"][-1]["id"]
    after = admin.get(f"/api/v1/events?limit=2&after_id={page['next_after_id']}").body
    assert after["events"][0]["id"] > page["next_after_id"]
    assert admin.get("/api/v1/events?since=yesterday").status == 400


def test_no_secret_reaches_the_event_log(admin, admin_token):
    token = make_user(admin, "alice")
    book(admin.as_(token))
    everything = str(admin.get("/api/v1/events?limit=1000").body)
    for secret in (token, admin_token, token_secret(token), token_secret(admin_token), "pw-123456"):
        assert secret not in everything


def test_seed_routes_follow_the_same_rules(api, admin):
    assert api.get("/available").status == 401
    alice = admin.as_(make_user(admin, "alice", max_nodes=1))
    assert alice.get("/available").status == 200
    assert alice.get("/reserve?username=alice&password=pw-123456&count=1").status == 201
    over = alice.get("/reserve?username=alice&password=pw-123456&count=1")
    assert over.status == 403 and over.error["code"] == "quota_nodes"
    assert alice.get("/release_all").status == 403
    assert admin.get("/release_all").status == 200


def test_the_command_line_makes_users_and_tokens_the_api_accepts(admin, unit_config, monkeypatch, capsys):
    from bunkhouse.cli import commands

    monkeypatch.setenv("BUNKHOUSE_INSTANCE_DIR", str(unit_config.instance_dir))
    monkeypatch.setenv("BUNKHOUSE_DATABASE_URL", unit_config.database_url)
    assert commands.main(["users", "add", "carol", "--max-nodes", "2"]) == 0
    capsys.readouterr()
    assert commands.main(["tokens", "create", "carol", "--label", "laptop"]) == 0
    token = capsys.readouterr().out.strip()
    me = admin.as_(token).get("/api/v1/me")
    assert me.status == 200 and me.body["name"] == "carol" and me.body["quota"]["max_nodes"] == 2
    assert commands.main(["users", "add", "carol"]) == 1  # exists: a clear error, not a traceback
    assert commands.main(["users", "list"]) == 0 and "carol" in capsys.readouterr().out
    assert commands.main(["tokens", "revoke", token_id(token)]) == 0
    assert admin.as_(token).get("/api/v1/me").status == 401


def test_an_event_id_beyond_the_id_column_is_a_400_not_a_crash(admin):
    # Found by the schemathesis run: SQLite cannot compare a bigger integer.
    assert admin.get(f"/api/v1/events?after_id={2 ** 31}").status == 400
    assert admin.get(f"/api/v1/events?after_id={2 ** 31 - 1}").status == 200


def test_users_and_tokens_come_a_page_at_a_time(admin):
    for name in ("carol", "bob", "dave"):
        assert admin.post("/api/v1/users", {"name": name}).status == 201
    first = admin.get("/api/v1/users?limit=2").body
    second = admin.get(f"/api/v1/users?limit=2&cursor={first['next']}").body
    assert [u["name"] for u in first["users"] + second["users"]] == ["admin", "bob", "carol", "dave"]
    assert second["next"] is None
    for label in ("one", "two", "three"):
        admin.post("/api/v1/users/bob/tokens", {"label": label})
    tokens = admin.get("/api/v1/users/bob/tokens?limit=2").body
    rest = admin.get(f"/api/v1/users/bob/tokens?cursor={tokens['next']}").body
    assert [t["label"] for t in tokens["tokens"] + rest["tokens"]] == ["one", "two", "three"]


def test_a_user_name_is_matched_whole():
    from bunkhouse.core.errors import BadRequest
    from bunkhouse.identity.users import check_name

    check_name("alice")
    for name in ("alice\n", "alice\r\n", "\nalice", "alice\x00"):
        with pytest.raises(BadRequest):
            check_name(name)
