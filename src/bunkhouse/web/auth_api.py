"""Seed 003's login routes, /api/v1/auth/...: register, login, refresh, and bunkhouse's logout.

register, login and refresh are open (access.PUBLIC): register reads a token itself when one is
sent (an admin or a manager registering someone). Failed logins are rate-limited per user name
and address, per user name and per client address (ratelimit.login_failures_*). With BUNKHOUSE_AUTH off they are refused
(403 auth_off), like the user routes. Errors carry seed 003's `detail` beside bunkhouse's `error`."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from flask import current_app, request

from bunkhouse.core.errors import BadRequest
from bunkhouse.identity.logins import USERNAME_MAX, USERNAME_MIN, Logins
from bunkhouse.identity.models import ROLE_OF_SEED_NAME, SEED_ROLE_NAMES
from bunkhouse.identity.passwords import PASSWORD_MAX, PASSWORD_MIN
from bunkhouse.identity.users import API_USER_NAME_PATTERN, ZONE_PATTERN
from bunkhouse.web.access import principal, refuse_without_auth, tokens
from bunkhouse.web.errors import seed_error_fields
from bunkhouse.web.ratelimit import login_failures_per_address, login_failures_per_name, login_failures_per_user
from bunkhouse.web.seed_users import SeedUserOut, seed_user_view
from bunkhouse.web.views import iso

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Login (seed 003)")
seed_error_fields("auth", lambda error: {"detail": error["message"]})

OPEN_ENDPOINTS = frozenset({"auth.register", "auth.login", "auth.refresh"})


class RegisterIn(Schema):
    username = String(required=True, metadata={"pattern": API_USER_NAME_PATTERN, "minLength": USERNAME_MIN,
                                               "maxLength": USERNAME_MAX, "example": "john_doe"})
    email = String(required=True, metadata={"format": "email", "maxLength": 254, "example": "john@example.com"})
    password = String(required=True, metadata={"minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX})
    zone = String(load_default=None, metadata={"pattern": ZONE_PATTERN, "example": "zone1"})
    invite = String(load_default=None, metadata={"description": "a team invite's code: registers onto its team"})
    role = String(load_default=None, metadata={"enum": list(SEED_ROLE_NAMES.values()),
                                               "description": "Master, Admin or User (default); only an admin or "
                                                              "a manager's token may give one"})
    team_id = String(load_default=None, metadata={"description": "the team (an admin or a manager's token only)"})


class LoginIn(Schema):
    username = String(required=True, metadata={"maxLength": 64})
    password = String(required=True, metadata={"maxLength": PASSWORD_MAX})


class RefreshIn(Schema):
    refresh_token = String(required=True, metadata={"maxLength": 200})


class TokenPairOut(Schema):
    access_token = String(metadata={"description": "Authorization: Bearer <access_token>, for "
                                                   "BUNKHOUSE_ACCESS_TOKEN_MINUTES"})
    refresh_token = String(metadata={"description": "trades itself once for a new pair at /auth/refresh"})
    token_type = String(metadata={"example": "bearer"})
    expires_in = Integer(metadata={"description": "seconds the access token works"})
    refresh_expires_at = String(metadata={"format": "date-time", "description": "the login's end"})


class LogoutOut(Schema):
    revoked = Integer(metadata={"description": "tokens revoked: the login's access and refresh tokens"})


def _logins() -> Logins:
    return current_app.extensions["bunkhouse.logins"]


refuse_without_auth(bp)


def _pair_view(pair: dict) -> dict:
    return {**pair, "refresh_expires_at": iso(pair["refresh_expires_at"])}


@bp.post("/register")
@bp.input(RegisterIn, arg_name="body")
@bp.output(SeedUserOut, status_code=201)
@bp.doc(summary="Register a user (an invite, an admin or manager's token, or BUNKHOUSE_SELF_REGISTRATION on)",
        responses={201: "Registered", 401: "A token was sent and is not valid",
                   403: "Registration is closed, the invite is not good, or the token may not give that role",
                   404: "No such team", 409: "The user name or email is taken"})
def register(body):
    header = request.headers.get("Authorization")
    caller = tokens().authenticate(header) if header else None
    if body["role"] is not None:
        if body["role"] not in ROLE_OF_SEED_NAME:
            raise BadRequest("role must be Master, Admin or User", code="invalid_role", field="role")
        body["role"] = ROLE_OF_SEED_NAME[body["role"]]
    return seed_user_view(_logins().register(body, caller=caller)), 201


@bp.post("/login")
@login_failures_per_user
@login_failures_per_name
@login_failures_per_address
@bp.input(LoginIn, arg_name="body")
@bp.output(TokenPairOut)
@bp.doc(summary="Log in with a password: an access token and a refresh token",
        responses={401: "Wrong user name or password, or the user is deactivated",
                   429: "Too many failed logins for this user or from this address"})
def login(body):
    return _pair_view(_logins().login(body["username"], body["password"]))


@bp.post("/refresh")
@bp.input(RefreshIn, arg_name="body")
@bp.output(TokenPairOut)
@bp.doc(summary="Trade a refresh token for a new pair (each refresh token works once)",
        responses={401: "Not a refresh token, the login ended, or it was used already (the login is revoked)"})
def refresh(body):
    return _pair_view(_logins().refresh(body["refresh_token"]))


@bp.post("/logout")
@bp.output(LogoutOut)
@bp.doc(summary="Revoke this login (its access and refresh tokens); with an API token, that token")
def logout():
    return {"revoked": _logins().logout(principal())}
