"""With BUNKHOUSE_AUTH off, API users and tokens mean nothing (every caller is an anonymous
admin): their routes are refused with 403 auth_off, so nobody mints a token believing it
protects anything. /api/v1/me still says who the caller is, and that auth is off."""

from __future__ import annotations

import pytest

from bunkhouse.identity.models import ApiToken, ApiUser


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/users", {"name": "alice"}),
    ("GET", "/api/v1/users", None),
    ("GET", "/api/v1/users/alice", None),
    ("PATCH", "/api/v1/users/alice", {"max_nodes": 3}),
    ("POST", "/api/v1/users/alice/tokens", {"label": "laptop"}),
    ("GET", "/api/v1/users/alice/tokens", None),
    ("DELETE", "/api/v1/tokens/0123456789ab", None),
])
def test_user_and_token_routes_are_refused_while_auth_is_off(api, database, method, path, body):
    answer = api.request(method, path, body)
    assert answer.status == 403 and answer.error["code"] == "auth_off"
    assert "BUNKHOUSE_AUTH" in answer.error["message"] and "mean nothing" in answer.error["message"]
    with database.read() as session:
        assert session.query(ApiUser).count() == 0 and session.query(ApiToken).count() == 0


def test_me_still_answers_and_says_auth_is_off(api):
    me = api.get("/api/v1/me")
    assert me.status == 200 and me.body["auth"] == "off" and me.body["role"] == "admin"
