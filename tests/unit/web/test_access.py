"""Who may call what: deny by default. A route needs a principal unless it is on the one
allow-list; admin routes say so once, and are refused before their body is read."""

from __future__ import annotations

import pytest

from bunkhouse.web.access import PUBLIC, admin_only, is_admin_only, is_managers_only
from helpers.api import make_user


@pytest.fixture
def auth_setting() -> str:
    return "on"


def test_health_and_docs_stay_open(api):
    assert api.get("/openapi.json").status == 200
    assert api.get("/docs").status == 200
    assert api.get("/docs/assets/swagger-ui.css").status == 200
    assert api.get("/healthz").status in (200, 503)


def test_a_route_registered_without_any_access_rule_is_refused_without_a_token(app, admin):
    """A route added anywhere, outside every blueprint, with no rule of its own: it needs a
    principal all the same."""
    app.add_url_rule("/surprise", "surprise", lambda: {"secret": "inside"})
    anonymous = admin.as_(None).get("/surprise")
    assert anonymous.status == 401 and anonymous.error["code"] == "token_missing"
    assert "inside" not in str(anonymous.body)
    assert admin.get("/surprise").body == {"secret": "inside"}


def test_an_admin_route_is_refused_to_a_user_before_its_body_is_read(app, admin):
    def shutdown():
        raise AssertionError("the view ran")

    app.add_url_rule("/api/v1/shutdown", "shutdown", admin_only(shutdown), methods=["POST"])
    alice = admin.as_(make_user(admin, "alice"))
    refused = alice.post("/api/v1/shutdown", {"not": "even valid"})
    assert refused.status == 403 and refused.error["code"] == "admin_only"


def test_every_public_endpoint_exists_and_nothing_else_is_open(app):
    endpoints = set(app.view_functions)
    assert PUBLIC <= endpoints
    admin_routes = {endpoint for endpoint, view in app.view_functions.items() if is_admin_only(view)}
    manager_routes = {endpoint for endpoint, view in app.view_functions.items() if is_managers_only(view)}
    assert {"users.create_token", "events.list_events", "fleet.list_nodes", "fleet.disable_node", "fleet.enable_node",
            "reservations.release_all", "seed.release_all", "challenges.create_challenge"} <= admin_routes
    assert {"users.create_user", "users.list_users", "users.get_user", "users.update_user",
            "seed_users.list_seed_users", "seed_users.put_seed_user", "teams.create_team",
            "teams.create_invite"} <= manager_routes
    assert not (admin_routes | manager_routes) & PUBLIC
