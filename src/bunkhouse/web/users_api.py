"""API users and their tokens (/api/v1/users, /api/v1/tokens), and /api/v1/me for anyone.
Users are managed by admins and managers (only an admin touches an admin); tokens for someone
else are made by admins only. A user is addressed by name or by id.

With BUNKHOUSE_AUTH off every caller is an anonymous admin and no token is asked for: the user
and token routes are refused (403 auth_off), so nobody mints tokens believing they protect
anything. /api/v1/me still answers (it says auth is off)."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from flask import current_app

from bunkhouse.core.errors import Forbidden
from bunkhouse.identity.models import ROLES, ApiToken, ApiUser
from bunkhouse.identity.principal import QUOTA_FIELDS, quota_of
from bunkhouse.identity.tokens import Tokens
from bunkhouse.identity.users import API_USER_NAME_PATTERN, ZONE_PATTERN, ApiUsers, check_grant
from bunkhouse.web.access import admin_only, auth_enabled, managers_only, principal, refuse_without_auth
from bunkhouse.web.schemas import PageQuery, next_cursor
from bunkhouse.web.views import iso

bp = APIBlueprint("users", __name__, url_prefix="/api/v1", tag="Users and tokens")


class UserIn(Schema):  # and ProfileIn's fields (below)
    name = String(required=True, metadata={"description": "API user name", "example": "alice",
                                            "pattern": API_USER_NAME_PATTERN})
    role = String(load_default="user", metadata={"enum": list(ROLES)})
    max_nodes = Integer(load_default=None, allow_none=True, strict=True,
                        metadata={"description": "nodes held at once (null: BUNKHOUSE_USER_MAX_NODES)", "minimum": 1})
    max_duration_minutes = Integer(load_default=None, allow_none=True, strict=True,
                                   metadata={"description": "longest lease asked for (null: the default)",
                                             "minimum": 1})
    max_lease_minutes = Integer(load_default=None, allow_none=True, strict=True,
                                metadata={"description": "longest lease with extensions (null: the default)",
                                          "minimum": 1})


class ProfileIn(Schema):
    email = String(allow_none=True, metadata={"format": "email", "maxLength": 254})
    zone = String(allow_none=True, metadata={"pattern": ZONE_PATTERN})
    team_id = String(allow_none=True, metadata={"description": "the user's team, e.g. team-001 (null: none)"})
    is_active = Boolean(truthy={True}, falsy={False},
                        metadata={"description": "false: every token of the user stops working"})
    password = String(metadata={"minLength": 8, "maxLength": 1024, "description": "a login password "
                                                                                  "(/api/v1/auth/login)"})


class UserPatchIn(ProfileIn):
    role = String(metadata={"enum": list(ROLES)})
    max_nodes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})
    max_duration_minutes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})
    max_lease_minutes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})


class QuotaOut(Schema):
    max_nodes = Integer(allow_none=True)
    max_duration_minutes = Integer(allow_none=True)
    max_lease_minutes = Integer(allow_none=True)


class UserOut(Schema):
    id = String(metadata={"description": "the user's id (addresses the user like the name)"})
    name = String()
    username = String(metadata={"description": "the name (seed 003's field)"})
    role = String(metadata={"enum": list(ROLES)})
    email = String(allow_none=True)
    zone = String(allow_none=True)
    team_id = String(allow_none=True)
    is_active = Boolean()
    has_password = Boolean(metadata={"description": "may log in with a password"})
    created_at = String(metadata={"format": "date-time"})
    quota = Nested(QuotaOut, metadata={"description": "what applies: the user's own values or the defaults"})
    overrides = Nested(QuotaOut, metadata={"description": "the user's own values (null: the default)"})


class UserCreateIn(UserIn, ProfileIn):
    pass


class UserListOut(Schema):
    users = List(Nested(UserOut))
    next = next_cursor()


class TokenIn(Schema):
    label = String(load_default="", metadata={"maxLength": 128})
    expires_in_days = Integer(load_default=None, allow_none=True, strict=True, metadata={"minimum": 1,
                                                                                          "maximum": 3650})


class TokenOut(Schema):
    id = String()
    user = String()
    kind = String(metadata={"enum": ["api", "access", "refresh"], "description": "api: made for a user or a "
                                                                                "script; access, refresh: a login's"})
    label = String()
    created_at = String(metadata={"format": "date-time"})
    expires_at = String(allow_none=True, metadata={"format": "date-time"})
    revoked_at = String(allow_none=True, metadata={"format": "date-time"})
    token = String(metadata={"description": "the token itself: only in the answer that made it"})


class TokenListOut(Schema):
    tokens = List(Nested(TokenOut))
    next = next_cursor()


class MeOut(Schema):
    name = String()
    role = String()
    quota = Nested(QuotaOut)
    auth = String(metadata={"description": "on, or off (then everyone is an anonymous admin)"})


# /api/v1/me still answers with authentication off.
refuse_without_auth(bp, allowed=frozenset({"users.me"}))


def _users() -> ApiUsers:
    return current_app.extensions["bunkhouse.users"]


def _tokens() -> Tokens:
    return current_app.extensions["bunkhouse.tokens"]


def _user_view(user: ApiUser) -> dict:
    return {"id": str(user.id), "name": user.name, "username": user.name, "role": user.role, "email": user.email,
            "zone": user.zone, "team_id": user.team_id, "is_active": user.is_active,
            "has_password": user.password_hash is not None, "created_at": iso(user.created_at),
            "quota": quota_of(user, _users().settings).as_dict(),
            "overrides": {field: getattr(user, field) for field in QUOTA_FIELDS}}


def _token_view(token: ApiToken, secret: str | None = None) -> dict:
    view = {"id": token.id, "user": token.user.name, "kind": token.kind, "label": token.label,
            "created_at": iso(token.created_at), "expires_at": iso(token.expires_at),
            "revoked_at": iso(token.revoked_at)}
    if secret is not None:
        view["token"] = secret
    return view


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="Who the token belongs to, and their quota")
def me():
    caller = principal()
    return {"name": caller.name, "role": caller.role, "auth": "on" if auth_enabled() else "off",
            "quota": caller.quota.as_dict()}


@bp.post("/users")
@managers_only
@bp.input(UserCreateIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create a user (admins and managers; only an admin makes an admin or sets a quota)",
        responses={403: "Not an admin or a manager", 404: "No such team", 409: "The user or the email exists"})
def create_user(body):
    check_grant(principal(), None, body["role"], quota=any(body[field] is not None for field in QUOTA_FIELDS))
    quota = {field: body.pop(field) for field in QUOTA_FIELDS}
    name, role = body.pop("name"), body.pop("role")
    return _user_view(_users().create(name, role, actor=principal().name, profile=body, **quota)), 201


@bp.get("/users")
@managers_only
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(UserListOut)
@bp.doc(summary="Users by name, a page at a time (admins and managers)", responses={403: "Not an admin or a manager"})
def list_users(query):
    page = _users().page(limit=query["limit"], cursor=query["cursor"])
    return {"users": [_user_view(user) for user in page.rows], "next": page.next}


@bp.get("/users/<user_ref>")
@managers_only
@bp.output(UserOut)
@bp.doc(summary="One user, by name or id (admins and managers; seed 003's GET /users/{user_id})",
        responses={403: "Not an admin or a manager", 404: "No such user"})
def get_user(user_ref: str):
    return _user_view(_users().find(user_ref))


@bp.patch("/users/<user_ref>")
@managers_only
@bp.input(UserPatchIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(summary="Change a user's role, quota, profile, team or password; a quota of null goes back to the default"
                " (admins and managers; only an admin touches an admin or a quota)",
        responses={403: "Not an admin or a manager, or a manager touching an admin or a quota",
                   404: "No such user or team", 409: "Another user has that email"})
def update_user(user_ref: str, body):
    user = _users().find(user_ref)
    check_grant(principal(), user.role, body.get("role"), target=user.name,
                deactivating=body.get("is_active") is False, quota=any(field in body for field in QUOTA_FIELDS),
                team="team_id" in body)
    return _user_view(_users().update(user.name, actor=principal().name, **body))


@bp.post("/users/<name>/tokens")
@admin_only
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(summary="Make a token for a user: the answer is the only place it is ever shown (admins)",
        responses={403: "Not an admin", 404: "No such user"})
def create_token(name: str, body):
    token, secret = _tokens().create(name, actor=principal().name, label=body["label"],
                                     expires_in_days=body["expires_in_days"])
    return _token_view(token, secret), 201


@bp.get("/users/<name>/tokens")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(TokenListOut)
@bp.doc(summary="A user's tokens, oldest first, without the tokens themselves (admins, or the user)",
        responses={403: "Someone else's tokens", 404: "No such user"})
def list_tokens(name: str, query):
    caller = principal()
    if not caller.is_admin and caller.name != name:
        raise Forbidden("you may list your own tokens only", code="not_owner")
    page = _tokens().page_of(name, limit=query["limit"], cursor=query["cursor"])
    return {"tokens": [_token_view(token) for token in page.rows], "next": page.next}


@bp.delete("/tokens/<token_id>")
@bp.output(TokenOut)
@bp.doc(summary="Revoke a token at once (admins, or the token's user); idempotent",
        responses={403: "Someone else's token", 404: "No such token"})
def revoke_token(token_id: str):
    caller = principal()
    token = _tokens().get(token_id)
    if not caller.is_admin and token.user.name != caller.name:
        raise Forbidden("you may revoke your own tokens only", code="not_owner")
    return _token_view(_tokens().revoke(token_id, actor=caller.name))
