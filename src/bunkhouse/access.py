"""Who may call what: the HTTP side of authentication (auth.py holds users and tokens).

Every route of the JSON API and of the seed's routes needs a bearer token, except when
BUNKHOUSE_AUTH is off; /healthz, /openapi.json and /docs stay open. Admin-only routes call
require_admin(); routes on one reservation call check_owner().
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from bunkhouse.auth import ANONYMOUS, Accounts, Principal
from bunkhouse.errors import Forbidden, Unauthorized
from bunkhouse.models import Reservation
from bunkhouse.ratelimit import RateLimiter

# Blueprints whose routes need a token.
PROTECTED_BLUEPRINTS = {"api_v1", "admin", "seed"}
# Routes for admins only. Checked before the request body is even validated, so a user learns
# nothing from them but 403 (the routes also call require_admin() themselves).
ADMIN_ENDPOINTS = {
    "admin.create_user", "admin.list_users", "admin.get_user", "admin.update_user", "admin.create_token",
    "admin.list_events", "admin.release_all", "api_v1.list_nodes", "api_v1.disable_node", "api_v1.enable_node",
    "seed.release_all",
}


def init_access(app: Flask, accounts: Accounts, limiter: RateLimiter) -> None:
    app.extensions["bunkhouse.accounts"] = accounts
    app.extensions["bunkhouse.limiter"] = limiter

    @app.before_request
    def _authenticate():
        if not accounts.config.auth:
            g.principal = ANONYMOUS
        elif request.blueprint in PROTECTED_BLUEPRINTS:
            g.principal = accounts.authenticate(request.headers.get("Authorization"))
            if request.endpoint in ADMIN_ENDPOINTS:
                require_admin()


def principal() -> Principal:
    """The caller of this request. Only routes that went through _authenticate have one; with
    authentication on, anything else is refused rather than treated as anonymous."""
    caller = g.get("principal")
    if caller is not None:
        return caller
    if accounts().config.auth:
        raise Unauthorized("this route needs a token: send Authorization: Bearer <token>", code="token_missing")
    return ANONYMOUS


def accounts() -> Accounts:
    return current_app.extensions["bunkhouse.accounts"]


def require_admin() -> Principal:
    caller = principal()
    if not caller.is_admin:
        raise Forbidden("this route is for admins", code="admin_only")
    return caller


def check_owner(reservation: Reservation) -> Reservation:
    """The reservation, if the caller may see and change it: an admin, or its owner."""
    caller = principal()
    if not caller.is_admin and reservation.owner != caller.name:
        raise Forbidden("this reservation belongs to someone else", code="not_owner")
    return reservation


def check_rate() -> None:
    """Count one reservation request against the caller's rate limit (429 when over)."""
    caller = principal()
    key = caller.name if accounts().config.auth else f"address:{request.remote_addr}"
    current_app.extensions["bunkhouse.limiter"].check(key)


def owner_filter() -> str | None:
    """Whose reservations the caller may list: None for all (admins), else their own."""
    caller = principal()
    return None if caller.is_admin else caller.name
