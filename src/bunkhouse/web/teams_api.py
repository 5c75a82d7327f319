"""Teams of users and their one-time invites (/api/v1/teams), for admins and managers. A team's
id is the team id challenge instances carry (team-001): its members see its instances."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import List, Nested, String
from flask import current_app

from bunkhouse.identity.teams import TEAM_ID_PATTERN, TEAM_NAME_PATTERN, Teams
from bunkhouse.web.access import managers_only, principal, refuse_without_auth
from bunkhouse.web.views import iso

bp = APIBlueprint("teams", __name__, url_prefix="/api/v1/teams", tag="Teams")
refuse_without_auth(bp)


class TeamIn(Schema):
    name = String(required=True, metadata={"pattern": TEAM_NAME_PATTERN, "example": "Red Herrings"})
    id = String(load_default=None, metadata={"pattern": TEAM_ID_PATTERN, "description": "default: the next free "
                                                                                       "team-NNN"})


class TeamOut(Schema):
    id = String()
    name = String()
    created_at = String(metadata={"format": "date-time"})
    members = List(String(), metadata={"description": "user names"})


class TeamListOut(Schema):
    teams = List(Nested(TeamOut))


class InviteOut(Schema):
    id = String()
    team_id = String()
    code = String(metadata={"description": "register with it once (POST /api/v1/auth/register, invite): only in "
                                           "this answer"})
    expires_at = String(metadata={"format": "date-time"})


class InviteListItem(Schema):
    id = String()
    team_id = String()
    created_by = String()
    created_at = String(metadata={"format": "date-time"})
    expires_at = String(metadata={"format": "date-time"})
    used_at = String(allow_none=True, metadata={"format": "date-time"})
    used_by = String(allow_none=True)


class InviteListOut(Schema):
    invites = List(Nested(InviteListItem))


def _teams() -> Teams:
    return current_app.extensions["bunkhouse.teams"]


def _view(team: dict) -> dict:
    return {**team, "created_at": iso(team["created_at"])}


@bp.post("")
@managers_only
@bp.input(TeamIn, arg_name="body")
@bp.output(TeamOut, status_code=201)
@bp.doc(summary="Make a team (admins and managers)", responses={403: "Not an admin or a manager",
                                                                 409: "A team of that id or name exists"})
def create_team(body):
    return _view(_teams().create(body["name"], team_id=body["id"], actor=principal().name)), 201


@bp.get("")
@managers_only
@bp.output(TeamListOut)
@bp.doc(summary="Every team with its members (admins and managers)", responses={403: "Not an admin or a manager"})
def list_teams():
    return {"teams": [_view(team) for team in _teams().list()]}


@bp.get("/<team_id>")
@managers_only
@bp.output(TeamOut)
@bp.doc(summary="One team with its members", responses={400: "A malformed team id", 403: "Not an admin or a manager",
                                                         404: "No such team"})
def get_team(team_id: str):
    return _view(_teams().get(team_id))


@bp.delete("/<team_id>")
@managers_only
@bp.doc(summary="Delete an empty team and its invites", responses={
    204: "Deleted", 400: "A malformed team id", 403: "Not an admin or a manager", 404: "No such team",
    409: "It has members"})
def delete_team(team_id: str):
    _teams().delete(team_id, actor=principal().name)
    return "", 204


@bp.post("/<team_id>/invites")
@managers_only
@bp.output(InviteOut, status_code=201)
@bp.doc(summary="A one-time invite onto this team (valid BUNKHOUSE_INVITE_HOURS; the code is shown once)",
        responses={400: "A malformed team id", 403: "Not an admin or a manager", 404: "No such team"})
def create_invite(team_id: str):
    invite = _teams().invite(team_id, actor=principal().name)
    return {**invite, "expires_at": iso(invite["expires_at"])}, 201


@bp.get("/<team_id>/invites")
@managers_only
@bp.output(InviteListOut)
@bp.doc(summary="The team's invites, used or not (never their codes)",
        responses={400: "A malformed team id", 403: "Not an admin or a manager", 404: "No such team"})
def list_invites(team_id: str):
    return {"invites": [{**row, **{key: iso(row[key]) for key in ("created_at", "expires_at", "used_at")}}
                        for row in _teams().invites(team_id)]}


@bp.delete("/<team_id>/invites/<invite_id>")
@managers_only
@bp.doc(summary="Revoke an unused invite: its code registers nobody",
        responses={204: "Revoked", 400: "A malformed team id", 403: "Not an admin or a manager",
                   404: "No such team or invite", 409: "It was used (kept as a record)"})
def revoke_invite(team_id: str, invite_id: str):
    _teams().revoke_invite(team_id, invite_id, actor=principal().name)
    return "", 204
