"""Seed 003's user routes, beside bunkhouse's own (users_api.py): `GET /api/v1/users/` (its
trailing slash; bunkhouse's list is /api/v1/users) and `PUT /api/v1/users/{user_id}`, a user
addressed by id or by name, with seed 003's fields and its role names (Master, Admin, User).
`GET /api/v1/users/{user_id}` is bunkhouse's route, whose answer carries these fields too.
For admins and managers (seed 003's Master and Admin); only an admin touches an admin."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Integer, String
from apiflask.validators import Range
from flask import current_app

from bunkhouse.core.errors import BadRequest
from bunkhouse.identity.models import ROLE_OF_SEED_NAME, SEED_ROLE_NAMES, ApiUser
from bunkhouse.identity.passwords import PASSWORD_MAX
from bunkhouse.identity.users import ZONE_PATTERN, ApiUsers, check_grant
from bunkhouse.web.access import managers_only, principal, refuse_without_auth
from bunkhouse.web.errors import seed_error_fields
from bunkhouse.web.views import iso

bp = APIBlueprint("seed_users", __name__, url_prefix="/api/v1", tag="Users (seed 003)")
seed_error_fields("seed_users", lambda error: {"detail": error["message"]})
refuse_without_auth(bp)


class SeedUserOut(Schema):
    id = String(metadata={"description": "the user's id (seed 003's user_id)"})
    username = String()
    email = String(allow_none=True)
    role = String(metadata={"enum": list(SEED_ROLE_NAMES.values())})
    is_active = Boolean()
    zone = String(allow_none=True)
    team_id = String(allow_none=True)
    created_at = String(metadata={"format": "date-time"})


class SeedUserPutIn(Schema):
    email = String(metadata={"format": "email", "maxLength": 254})
    role = String(metadata={"enum": list(SEED_ROLE_NAMES.values())})
    is_active = Boolean(truthy={True}, falsy={False})
    zone = String(allow_none=True, metadata={"pattern": ZONE_PATTERN})
    team_id = String(allow_none=True, metadata={"description": "the user's team (null: none)"})
    password = String(metadata={"maxLength": PASSWORD_MAX, "description": "a new login password"})


class SeedListQuery(Schema):
    skip = Integer(load_default=0, validate=Range(min=0, max=1_000_000))
    limit = Integer(load_default=100, validate=Range(min=1, max=1000))


def seed_user_view(user: ApiUser) -> dict:
    return {"id": str(user.id), "username": user.name, "email": user.email,
            "role": SEED_ROLE_NAMES.get(user.role, user.role), "is_active": user.is_active, "zone": user.zone,
            "team_id": user.team_id, "created_at": iso(user.created_at)}


def _users() -> ApiUsers:
    return current_app.extensions["bunkhouse.users"]


@bp.get("/users/")
@managers_only
@bp.input(SeedListQuery, location="query", arg_name="query")
@bp.output(SeedUserOut(many=True))
@bp.doc(summary="Every user, seed 003's shape (skip/limit; admins and managers)",
        responses={403: "Not an admin or a manager"})
def list_seed_users(query):
    return [seed_user_view(user) for user in _users().slice(query["skip"], query["limit"])]


@bp.put("/users/<user_ref>")
@managers_only
@bp.input(SeedUserPutIn, arg_name="body")
@bp.output(SeedUserOut)
@bp.doc(summary="Change a user's email, role, is_active, zone, team or password (by id or name; admins and "
                "managers)", responses={403: "Not an admin or a manager, or a manager touching an admin",
                                        404: "No such user or team", 409: "Another user has that email"})
def put_seed_user(user_ref: str, body):
    user = _users().find(user_ref)
    if "role" in body:
        if body["role"] not in ROLE_OF_SEED_NAME:
            raise BadRequest("role must be Master, Admin or User", code="invalid_role", field="role")
        body["role"] = ROLE_OF_SEED_NAME[body["role"]]
    check_grant(principal(), user.role, body.get("role"), target=user.name,
                deactivating=body.get("is_active") is False, team="team_id" in body)
    return seed_user_view(_users().update(user.name, actor=principal().name, **body))
