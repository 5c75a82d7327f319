"""Admin routes of the JSON API (/api/v1): users and their tokens, the event log, release_all.
Also /api/v1/me, for anyone, and a user's own tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from apiflask import APIBlueprint
from flask import current_app
from sqlalchemy import select

from bunkhouse.access import accounts, principal, require_admin
from bunkhouse.auth import quota_of
from bunkhouse.errors import Forbidden
from bunkhouse.models import Event, Token, User
from bunkhouse.presenters import iso
from bunkhouse.schemas import (
    EventListOut,
    EventQuery,
    MeOut,
    ReleasedOut,
    TokenIn,
    TokenListOut,
    TokenOut,
    UserIn,
    UserListOut,
    UserOut,
    UserPatchIn,
)

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1", tag="Users, tokens and audit")

_QUOTA_FIELDS = ("max_nodes", "max_duration_minutes", "max_lease_minutes")


def _user_view(user: User) -> dict:
    quota = quota_of(user, accounts().config)
    return {
        "name": user.name,
        "role": user.role,
        "created_at": iso(user.created_at),
        "quota": {field: getattr(quota, field) for field in _QUOTA_FIELDS},
        "overrides": {field: getattr(user, field) for field in _QUOTA_FIELDS},
    }


def _token_view(token: Token, secret: str | None = None) -> dict:
    view = {
        "id": token.id,
        "user": token.user.name,
        "label": token.label,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
    }
    if secret is not None:
        view["token"] = secret
    return view


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="Who the token belongs to, and their quota")
def me():
    caller = principal()
    return {"name": caller.name, "role": caller.role, "auth": "on" if accounts().config.auth else "off",
            "quota": {field: getattr(caller.quota, field) for field in _QUOTA_FIELDS}}


@bp.post("/users")
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create a user (admins)", responses={403: "Not an admin", 409: "The user exists"})
def create_user(body):
    actor = require_admin().name
    quota = {field: body[field] for field in _QUOTA_FIELDS}
    return _user_view(accounts().create_user(body["name"], body["role"], actor=actor, **quota)), 201


@bp.get("/users")
@bp.output(UserListOut)
@bp.doc(summary="Every user (admins)", responses={403: "Not an admin"})
def list_users():
    require_admin()
    return {"users": [_user_view(user) for user in accounts().users()]}


@bp.get("/users/<name>")
@bp.output(UserOut)
@bp.doc(summary="One user (admins)", responses={403: "Not an admin", 404: "No such user"})
def get_user(name: str):
    require_admin()
    return _user_view(accounts().user(name))


@bp.patch("/users/<name>")
@bp.input(UserPatchIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(summary="Change a user's role or quota; a quota of null goes back to the default (admins)",
        responses={403: "Not an admin", 404: "No such user"})
def update_user(name: str, body):
    actor = require_admin().name
    return _user_view(accounts().update_user(name, actor=actor, **body))


@bp.post("/users/<name>/tokens")
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(summary="Make a token for a user: the answer is the only place it is ever shown (admins)",
        responses={403: "Not an admin", 404: "No such user"})
def create_token(name: str, body):
    actor = require_admin().name
    token, secret = accounts().create_token(name, actor=actor, label=body["label"],
                                            expires_in_days=body["expires_in_days"])
    return _token_view(token, secret), 201


@bp.get("/users/<name>/tokens")
@bp.output(TokenListOut)
@bp.doc(summary="A user's tokens, without the tokens themselves (admins, or the user)",
        responses={403: "Someone else's tokens", 404: "No such user"})
def list_tokens(name: str):
    caller = principal()
    if not caller.is_admin and caller.name != name:
        raise Forbidden("you may list your own tokens only", code="not_owner")
    return {"tokens": [_token_view(token) for token in accounts().tokens(name)]}


@bp.delete("/tokens/<token_id>")
@bp.output(TokenOut)
@bp.doc(summary="Revoke a token at once (admins, or the token's user); idempotent",
        responses={403: "Someone else's token", 404: "No such token"})
def revoke_token(token_id: str):
    caller = principal()
    token = accounts().token(token_id)
    if not caller.is_admin and token.user.name != caller.name:
        raise Forbidden("you may revoke your own tokens only", code="not_owner")
    return _token_view(accounts().revoke_token(token_id, actor=caller.name))


@bp.post("/release_all")
@bp.output(ReleasedOut)
@bp.doc(summary="Release every current reservation (admins)", responses={403: "Not an admin"})
def release_all():
    actor = require_admin().name
    return {"released": current_app.extensions["bunkhouse"].release_all(actor=actor)}


@bp.get("/events")
@bp.input(EventQuery, location="query", arg_name="query")
@bp.output(EventListOut)
@bp.doc(summary="The audit log, oldest first, filtered (admins)", responses={403: "Not an admin"})
def list_events(query):
    require_admin()
    statement = select(Event).order_by(Event.id)
    filters = {"kind": Event.kind, "actor": Event.actor, "reservation_id": Event.reservation_id,
               "node": Event.node_name}
    for field, column in filters.items():
        if query.get(field):
            statement = statement.where(column == query[field])
    if query.get("since"):
        statement = statement.where(Event.at >= _aware(query["since"]))
    if query.get("until"):
        statement = statement.where(Event.at < _aware(query["until"]))
    if query.get("after_id") is not None:
        statement = statement.where(Event.id > query["after_id"])
    limit = query["limit"]
    with accounts().sessions() as session:
        events = list(session.scalars(statement.limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return {
        "events": [{"id": event.id, "at": iso(event.at), "kind": event.kind, "actor": event.actor,
                    "reservation_id": event.reservation_id, "node": event.node_name, "detail": event.detail}
                   for event in events],
        "next_after_id": events[-1].id if more else None,
    }


def _aware(moment: datetime) -> datetime:
    """A time without an offset is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
