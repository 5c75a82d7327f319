"""API users and their tokens (/api/v1/users, /api/v1/tokens), and /api/v1/me for anyone.

With BUNKHOUSE_AUTH off every caller is an anonymous admin and no token is asked for: the user
and token routes are refused (403 auth_off), so nobody mints tokens believing they protect
anything. /api/v1/me still answers (it says auth is off)."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, List, Nested, String
from flask import current_app, request

from bunkhouse.core.errors import Forbidden
from bunkhouse.identity.models import ROLES, ApiToken, ApiUser
from bunkhouse.identity.principal import QUOTA_FIELDS, quota_of
from bunkhouse.identity.tokens import Tokens
from bunkhouse.identity.users import API_USER_NAME_PATTERN, ApiUsers
from bunkhouse.web.access import admin_only, auth_enabled, principal
from bunkhouse.web.schemas import PageQuery, next_cursor
from bunkhouse.web.views import iso

bp = APIBlueprint("users", __name__, url_prefix="/api/v1", tag="Users and tokens")


class UserIn(Schema):
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


class UserPatchIn(Schema):
    role = String(metadata={"enum": list(ROLES)})
    max_nodes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})
    max_duration_minutes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})
    max_lease_minutes = Integer(allow_none=True, strict=True, metadata={"minimum": 1})


class QuotaOut(Schema):
    max_nodes = Integer(allow_none=True)
    max_duration_minutes = Integer(allow_none=True)
    max_lease_minutes = Integer(allow_none=True)


class UserOut(Schema):
    name = String()
    role = String()
    created_at = String(metadata={"format": "date-time"})
    quota = Nested(QuotaOut, metadata={"description": "what applies: the user's own values or the defaults"})
    overrides = Nested(QuotaOut, metadata={"description": "the user's own values (null: the default)"})


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


# The routes of this blueprint that still answer with authentication off.
_WITHOUT_AUTH = {"users.me"}


@bp.before_request
def _refuse_without_auth():
    if not auth_enabled() and request.endpoint not in _WITHOUT_AUTH:
        raise Forbidden("authentication is off (BUNKHOUSE_AUTH=off): users and tokens mean nothing while it is, "
                        "every caller is an admin and no token is asked for; turn it on to use them",
                        code="auth_off")


def _users() -> ApiUsers:
    return current_app.extensions["bunkhouse.users"]


def _tokens() -> Tokens:
    return current_app.extensions["bunkhouse.tokens"]


def _user_view(user: ApiUser) -> dict:
    return {"name": user.name, "role": user.role, "created_at": iso(user.created_at),
            "quota": quota_of(user, _users().settings).as_dict(),
            "overrides": {field: getattr(user, field) for field in QUOTA_FIELDS}}


def _token_view(token: ApiToken, secret: str | None = None) -> dict:
    view = {"id": token.id, "user": token.user.name, "label": token.label, "created_at": iso(token.created_at),
            "expires_at": iso(token.expires_at), "revoked_at": iso(token.revoked_at)}
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
@admin_only
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create a user (admins)", responses={403: "Not an admin", 409: "The user exists"})
def create_user(body):
    quota = {field: body[field] for field in QUOTA_FIELDS}
    return _user_view(_users().create(body["name"], body["role"], actor=principal().name, **quota)), 201


@bp.get("/users")
@admin_only
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(UserListOut)
@bp.doc(summary="Users by name, a page at a time (admins)", responses={403: "Not an admin"})
def list_users(query):
    page = _users().page(limit=query["limit"], cursor=query["cursor"])
    return {"users": [_user_view(user) for user in page.rows], "next": page.next}


@bp.get("/users/<name>")
@admin_only
@bp.output(UserOut)
@bp.doc(summary="One user (admins)", responses={403: "Not an admin", 404: "No such user"})
def get_user(name: str):
    return _user_view(_users().get(name))


@bp.patch("/users/<name>")
@admin_only
@bp.input(UserPatchIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(summary="Change a user's role or quota; a quota of null goes back to the default (admins)",
        responses={403: "Not an admin", 404: "No such user"})
def update_user(name: str, body):
    return _user_view(_users().update(name, actor=principal().name, **body))


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
