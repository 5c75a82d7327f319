"""Tokens, roles, ownership, quotas, the rate limit and the audit log, through the HTTP API
(fake provisioner; the real-stack test is in tests/integration/test_service_auth.py)."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest

from bunkhouse.auth import hash_token
from bunkhouse.models import Token
from bunkhouse.ratelimit import RateLimiter, TooManyRequests


@pytest.fixture
def auth_setting() -> str:
    return "on"


@pytest.fixture
def admin_token(app, unit_config) -> str:
    # create_app made the first admin and wrote its token to a 0600 file.
    path = unit_config.admin_token_file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return path.read_text().strip()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_user(client, admin_token, name, **fields) -> str:
    created = client.post("/api/v1/users", json={"name": name, **fields}, headers=bearer(admin_token))
    assert created.status_code == 201, created.json
    made = client.post(f"/api/v1/users/{name}/tokens", json={"label": "test"}, headers=bearer(admin_token))
    assert made.status_code == 201, made.json
    return made.json["token"]


def reserve(client, token, username="alice", count=1, duration=30):
    return client.post("/api/v1/reservations", headers=bearer(token),
                       json={"username": username, "password": "pw-123456", "count": count,
                             "duration_minutes": duration})


@pytest.mark.parametrize("headers,code", [
    ({}, "token_missing"),
    ({"Authorization": "Bearer nonsense"}, "token_invalid"),
    ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "token_invalid"),
    ({"Authorization": "Bearer bkh_000000000000_" + "x" * 43}, "token_invalid"),
])
def test_no_token_or_a_bad_one_gets_401(client, headers, code):
    response = client.get("/api/v1/reservations", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_health_and_docs_stay_open(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)


def test_tokens_are_stored_hashed_and_shown_once(app, client, admin_token, service):
    token = make_user(client, admin_token, "alice")
    with service.sessions() as session:
        rows = session.query(Token).all()
    assert all(token not in (row.token_hash, row.id) for row in rows)
    assert any(row.token_hash == hash_token(token) for row in rows)
    listed = client.get("/api/v1/users/alice/tokens", headers=bearer(admin_token)).json["tokens"]
    assert len(listed) == 1 and "token" not in listed[0]


def test_a_user_cannot_touch_another_users_reservation(client, admin_token):
    alice = make_user(client, admin_token, "alice")
    bob = make_user(client, admin_token, "bob")
    mine = reserve(client, alice)
    assert mine.status_code == 201, mine.json
    reservation_id = mine.json["id"]

    for method, path, body in [
        ("get", f"/api/v1/reservations/{reservation_id}", None),
        ("post", f"/api/v1/reservations/{reservation_id}/extend", {"minutes": 10}),
        ("delete", f"/api/v1/reservations/{reservation_id}", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=bearer(bob))
        assert response.status_code == 403, (method, path, response.json)
        assert response.json["error"]["code"] == "not_owner"
    assert client.get("/api/v1/reservations", headers=bearer(bob)).json["reservations"] == []
    # Still alice's and active: bob changed nothing.
    seen = client.get(f"/api/v1/reservations/{reservation_id}", headers=bearer(alice))
    assert seen.status_code == 200 and seen.json["state"] == "active" and seen.json["extended_minutes"] == 0
    # The admin sees everyone's.
    assert [r["id"] for r in client.get("/api/v1/reservations", headers=bearer(admin_token)).json["reservations"]] \
        == [reservation_id]


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/users"), ("post", "/api/v1/users"), ("get", "/api/v1/events"),
    ("get", "/api/v1/nodes"), ("post", "/api/v1/release_all"), ("get", "/release_all"),
    ("post", "/api/v1/users/alice/tokens"), ("patch", "/api/v1/users/alice"),
])
def test_a_user_cannot_call_admin_routes(client, admin_token, method, path):
    alice = make_user(client, admin_token, "alice")
    response = getattr(client, method)(path, json={"name": "mallory", "role": "admin"}, headers=bearer(alice))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "admin_only"
    assert "mallory" not in [user["name"] for user in
                             client.get("/api/v1/users", headers=bearer(admin_token)).json["users"]]


def test_a_revoked_token_stops_working_at_once(client, admin_token):
    alice = make_user(client, admin_token, "alice")
    assert client.get("/api/v1/me", headers=bearer(alice)).json["name"] == "alice"
    token_id = alice.split("_")[1]
    revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin_token))
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    response = client.get("/api/v1/me", headers=bearer(alice))
    assert response.status_code == 401 and response.json["error"]["code"] == "token_revoked"


def test_an_expired_token_is_refused(client, admin_token, service, monkeypatch):
    made = client.post("/api/v1/users", json={"name": "alice"}, headers=bearer(admin_token))
    assert made.status_code == 201
    token = client.post("/api/v1/users/alice/tokens", json={"expires_in_days": 1},
                        headers=bearer(admin_token)).json["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    accounts = client.application.extensions["bunkhouse.accounts"]
    later = service.clock() + timedelta(days=2)
    monkeypatch.setattr(accounts, "clock", lambda: later)
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401 and response.json["error"]["code"] == "token_expired"


def test_a_user_may_revoke_their_own_token_but_not_others(client, admin_token):
    alice = make_user(client, admin_token, "alice")
    bob = make_user(client, admin_token, "bob")
    assert client.delete(f"/api/v1/tokens/{bob.split('_')[1]}", headers=bearer(alice)).status_code == 403
    assert client.get("/api/v1/me", headers=bearer(bob)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{alice.split('_')[1]}", headers=bearer(alice)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(alice)).status_code == 401


def test_node_quota_counts_what_the_user_holds(client, admin_token, unit_config):
    alice = make_user(client, admin_token, "alice", max_nodes=3)
    assert reserve(client, alice, count=2).status_code == 201
    over = reserve(client, alice, count=2)
    assert over.status_code == 403
    assert over.json["error"]["code"] == "quota_nodes"
    assert over.json["error"]["limit"] == 3 and over.json["error"]["held"] == 2
    assert reserve(client, alice, count=1).status_code == 201


def test_duration_and_lease_quotas(client, admin_token, unit_config):
    alice = make_user(client, admin_token, "alice", max_duration_minutes=60, max_lease_minutes=90)
    too_long = reserve(client, alice, duration=61)
    assert too_long.status_code == 403 and too_long.json["error"]["code"] == "quota_duration"
    assert too_long.json["error"]["limit"] == 60
    ok = reserve(client, alice, duration=60)
    assert ok.status_code == 201
    extend = client.post(f"/api/v1/reservations/{ok.json['id']}/extend", json={"minutes": 31},
                         headers=bearer(alice))
    assert extend.status_code == 403 and extend.json["error"]["code"] == "quota_lease"
    assert client.post(f"/api/v1/reservations/{ok.json['id']}/extend", json={"minutes": 30},
                       headers=bearer(alice)).status_code == 200


def test_default_quota_applies_to_users_and_an_admin_can_override_it(client, admin_token, unit_config):
    alice = make_user(client, admin_token, "alice")
    me = client.get("/api/v1/me", headers=bearer(alice)).json
    assert me["quota"]["max_nodes"] == unit_config.user_max_nodes
    changed = client.patch("/api/v1/users/alice", json={"max_nodes": 1}, headers=bearer(admin_token))
    assert changed.status_code == 200 and changed.json["quota"]["max_nodes"] == 1
    assert reserve(client, alice, count=2).json["error"]["code"] == "quota_nodes"
    back = client.patch("/api/v1/users/alice", json={"max_nodes": None}, headers=bearer(admin_token))
    assert back.json["quota"]["max_nodes"] == unit_config.user_max_nodes


def test_reservation_requests_are_rate_limited_with_retry_after(client, admin_token, unit_config):
    alice = make_user(client, admin_token, "alice", max_nodes=100)
    answers = [reserve(client, alice, username=f"u{index}") for index in range(unit_config.rate_limit_per_minute + 1)]
    assert [answer.status_code for answer in answers[:-1]] == [201] * unit_config.rate_limit_per_minute
    limited = answers[-1]
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Per caller: another user is not limited by alice's requests.
    bob = make_user(client, admin_token, "bob")
    assert reserve(client, bob, username="bob").status_code == 201


def test_rate_limiter_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(TooManyRequests) as raised:
        limiter.check("a")
    assert raised.value.headers["Retry-After"] == "30"
    now[0] = 30.0
    limiter.check("a")


def test_the_event_log_names_actors_and_filters(client, admin_token):
    alice = make_user(client, admin_token, "alice")
    reservation = reserve(client, alice).json
    assert client.delete(f"/api/v1/reservations/{reservation['id']}", headers=bearer(alice)).status_code == 200
    events = client.get("/api/v1/events", headers=bearer(admin_token)).json["events"]
    kinds = [(event["kind"], event["actor"]) for event in events]
    assert ("user_created", "admin") in kinds and ("token_created", "admin") in kinds
    assert ("reserve_requested", "alice") in kinds and ("release_requested", "alice") in kinds
    only = client.get(f"/api/v1/events?reservation_id={reservation['id']}&actor=alice",
                      headers=bearer(admin_token)).json["events"]
    assert only and all(e["reservation_id"] == reservation["id"] and e["actor"] == "alice" for e in only)
    page = client.get("/api/v1/events?limit=2", headers=bearer(admin_token)).json
    assert len(page["events"]) == 2 and page["next_after_id"] == page["events"][-1]["id"]
    after = client.get(f"/api/v1/events?limit=2&after_id={page['next_after_id']}", headers=bearer(admin_token)).json
    assert after["events"][0]["id"] > page["next_after_id"]
    bad = client.get("/api/v1/events?since=yesterday", headers=bearer(admin_token))
    assert bad.status_code == 400


def test_no_secret_reaches_the_event_log(client, admin_token, service):
    alice = make_user(client, admin_token, "alice")
    reserve(client, alice)
    everything = str(client.get("/api/v1/events?limit=1000", headers=bearer(admin_token)).json)
    assert alice not in everything and admin_token not in everything
    assert alice.split("_")[2] not in everything and "pw-123456" not in everything


def test_seed_routes_follow_the_same_rules(client, admin_token):
    assert client.get("/available").status_code == 401
    alice = make_user(client, admin_token, "alice", max_nodes=1)
    assert client.get("/available", headers=bearer(alice)).status_code == 200
    made = client.get("/reserve?username=alice&password=pw-123456&count=1", headers=bearer(alice))
    assert made.status_code == 201
    over = client.get("/reserve?username=alice&password=pw-123456&count=1", headers=bearer(alice))
    assert over.status_code == 403 and over.json["error"]["code"] == "quota_nodes"
    assert client.get("/release_all", headers=bearer(alice)).status_code == 403
    assert client.get("/release_all", headers=bearer(admin_token)).status_code == 200


def test_every_admin_endpoint_exists(app):
    from bunkhouse.access import ADMIN_ENDPOINTS

    assert ADMIN_ENDPOINTS <= set(app.view_functions)


def test_the_command_line_makes_users_and_tokens_the_api_accepts(client, admin_token, unit_config,
                                                                 monkeypatch, capsys):
    from bunkhouse import cli

    monkeypatch.setenv("BUNKHOUSE_INSTANCE_DIR", str(unit_config.instance_dir))
    monkeypatch.setenv("BUNKHOUSE_DATABASE_URL", unit_config.database_url)
    assert cli.main(["users", "add", "carol", "--max-nodes", "2"]) == 0
    capsys.readouterr()
    assert cli.main(["tokens", "create", "carol", "--label", "laptop"]) == 0
    token = capsys.readouterr().out.strip()
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["name"] == "carol" and me.json["quota"]["max_nodes"] == 2
    assert cli.main(["users", "add", "carol"]) == 1  # exists: a clear error, not a traceback
    assert cli.main(["tokens", "revoke", token.split("_")[1]]) == 0
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_an_event_id_beyond_the_id_column_is_a_400_not_a_crash(client, admin_token):
    # Found by the schemathesis run: SQLite cannot compare a bigger integer.
    response = client.get(f"/api/v1/events?after_id={2 ** 31}", headers=bearer(admin_token))
    assert response.status_code == 400
    assert client.get(f"/api/v1/events?after_id={2 ** 31 - 1}", headers=bearer(admin_token)).status_code == 200
