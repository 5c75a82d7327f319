"""Seed 003's challenge routes (/api/v1/challenges/...), with its fields: create, list, get,
update, delete (admins), deploy for every team (202), stop, stats, a team's access, the flag
check and a team's reset. Errors carry seed 003's `detail` beside bunkhouse's `error`.

Who sees what (seed 003's roles): admins (Master) everything, with the flags; managers (Admin)
every challenge and team, no flags; users (User) the active challenges with their own team's
instances only, and their own team's access, flag check, reset and renewal."""

from __future__ import annotations

import re

from apiflask import APIBlueprint
from flask import current_app

from bunkhouse.challenges.schemas import (
    ASSIGN_ID,
    AccessOut,
    ChallengeIn,
    ChallengeListOut,
    ChallengeOut,
    ChallengeUpdateIn,
    DeployIn,
    FlagIn,
    FlagOut,
    PageQuery,
    StatsOut,
    StopIn,
)
from bunkhouse.challenges.service import ChallengeService
from bunkhouse.challenges.team_instances import TeamInstances
from bunkhouse.challenges.views import EVERYONE, Scope
from bunkhouse.core.errors import BadRequest, Forbidden, NotFound
from bunkhouse.web.access import admin_only, managers_only, owner_of_new, principal
from bunkhouse.web.errors import seed_error_fields
from bunkhouse.web.ratelimit import flag_checks, resets

bp = APIBlueprint("challenges", __name__, url_prefix="/api/v1/challenges", tag="Challenges")
seed_error_fields("challenges", lambda error: {"detail": error["message"]})

_ID = re.compile(r"^[0-9a-f]{32}$")
# Every route with ids in its path answers this for a malformed one.
MALFORMED_ID = {400: "A malformed id in the path (the field is named), or an invalid body"}
# Seed 003's team-NNN, or a team seed 000's /assign named (letters, digits, _ and -).
_TEAM = re.compile(ASSIGN_ID.regex.pattern)


def service() -> ChallengeService:
    return current_app.extensions["bunkhouse.challenges"]


def _scope() -> Scope:
    caller = principal()
    return EVERYONE if caller.is_manager else Scope(everyone=False, team_id=caller.team_id)


def team_instances() -> TeamInstances:
    return current_app.extensions["bunkhouse.team_instances"]


def _own_team(challenge_id: str, team_id: str, *, admins_only: bool = False) -> bool:
    """The ids checked, then: a user acts on their own team's instance only (and for a change,
    a manager too: only admins change another team's). True when the caller acts as the team."""
    _checked(challenge_id, team_id)
    caller = principal()
    if caller.is_admin:
        return False
    if caller.team_id == team_id:
        return True
    if admins_only or not caller.is_manager:
        raise Forbidden(f"{team_id} is not your team", code="not_your_team", team_id=team_id)
    return False


def _checked(challenge_id: str, team_id: str | None = None) -> None:
    """Ids in the path are checked before anything is looked up: a 400 naming the field."""
    if not _ID.match(challenge_id):
        raise BadRequest("challenge_id must be a challenge's id (32 hexadecimal characters)",
                         code="invalid_challenge_id", field="challenge_id")
    if team_id is not None and not _TEAM.match(team_id):
        raise BadRequest("team_id must be a team id such as team-001 (or a team /assign named: 1-50 letters, "
                         "digits, _ and -)", code="invalid_team_id", field="team_id")


@bp.post("/", strict_slashes=False)
@admin_only
@bp.input(ChallengeIn, arg_name="body")
@bp.output(ChallengeOut, status_code=201)
@bp.doc(summary="Create a challenge (admins)", responses={
    201: "Created (nothing runs until it is deployed)", 400: "Invalid, or its image is not on the allow-list",
    409: "A challenge of that name exists"})
def create_challenge(body):
    made = service().create(body, created_by=owner_of_new())
    role = service().role
    if made["config"].get("pool_min") and role.primary and role.ready:  # its pool is begun at once
        current_app.extensions["bunkhouse.challenge_pools"].top_up(made["id"])  # (else by the primary's round)
    return made, 201


@bp.get("/", strict_slashes=False)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(ChallengeListOut)
@bp.doc(summary="Challenges with their instances (skip/limit): every one for admins and managers; for a user, "
                "the active ones with their team's instance")
def list_challenges(query):
    scope = _scope()
    page = service().list(query["skip"], query["limit"], active_only=not scope.everyone)
    return {**page, "challenges": [scope.of(view) for view in page["challenges"]]}


@bp.get("/<challenge_id>")
@bp.output(ChallengeOut)
@bp.doc(summary="One challenge with its instances (each team's flag for admins; a user sees their team's only)",
        responses={**MALFORMED_ID, 404: "No such challenge (for a user: or not active)"})
def get_challenge(challenge_id: str):
    _checked(challenge_id)
    scope, view = _scope(), service().get(challenge_id, with_flags=principal().is_admin)
    if not (scope.everyone or view["is_active"]):
        raise NotFound(f"no challenge {challenge_id}", code="challenge_not_found", challenge_id=challenge_id)
    return scope.of(view)


@bp.put("/<challenge_id>")
@admin_only
@bp.input(ChallengeUpdateIn, arg_name="body")
@bp.output(ChallengeOut)
@bp.doc(summary="Change a challenge's description, total_teams or is_active (admins)",
        responses={**MALFORMED_ID, 404: "No such challenge",
                   409: "total_teams of a challenge whose teams come with /assign (assign_id)"},
        description="Raising total_teams deploys the new teams' instances if the challenge is deployed; lowering it"
                    " removes the highest team ids first.")
def update_challenge(challenge_id: str, body):
    _checked(challenge_id)
    return service().update(challenge_id, body, actor=principal().name)


@bp.delete("/<challenge_id>")
@admin_only
@bp.doc(summary="Delete a challenge and every instance of it (admins)", responses={
    **MALFORMED_ID, 204: "Deleted, its containers and network gone", 404: "No such challenge",
    503: "Some removal failed: kept"})
def delete_challenge(challenge_id: str):
    _checked(challenge_id)
    service().delete(challenge_id, actor=principal().name)
    return "", 204


@bp.post("/<challenge_id>/deploy")
@admin_only
@bp.input(DeployIn, arg_name="body")
@bp.output(ChallengeOut, status_code=202)
@bp.doc(summary="Deploy one instance per team (202: they go starting -> running as their health checks pass)",
        responses={**MALFORMED_ID, 404: "No such challenge", 409: "The challenge is not active"})
def deploy_challenge(challenge_id: str, body):
    _checked(challenge_id)
    return service().deploy(challenge_id, force_redeploy=body["force_redeploy"], new_flags=body["new_flags"],
                            actor=principal().name), 202


@bp.post("/<challenge_id>/stop")
@admin_only
@bp.input(StopIn, arg_name="body")
@bp.output(ChallengeOut)
@bp.doc(summary="Stop every instance (kept), or remove them with the network (remove_instances)",
        responses={**MALFORMED_ID, 404: "No such challenge"})
def stop_challenge(challenge_id: str, body):
    _checked(challenge_id)
    return service().stop(challenge_id, remove_instances=body["remove_instances"], actor=principal().name)


@bp.get("/<challenge_id>/stats")
@managers_only
@bp.output(StatsOut)
@bp.doc(summary="How many instances run or failed, and each team's host:port (admins and managers)",
        responses={**MALFORMED_ID, 404: "No such challenge"})
def challenge_stats(challenge_id: str):
    _checked(challenge_id)
    return service().stats(challenge_id)


@bp.get("/<challenge_id>/teams/<team_id>/access")
@bp.output(AccessOut)
@bp.doc(summary="Where a team reaches its instance (a user: their own team only)",
        responses={**MALFORMED_ID, 403: "Not your team", 404: "No such challenge (for a user: or not active), or "
                                                                "the team has none"})
def team_access(challenge_id: str, team_id: str):
    return team_instances().access(challenge_id, team_id, by_team=_own_team(challenge_id, team_id))


@bp.post("/<challenge_id>/teams/<team_id>/flag")
@flag_checks
@bp.input(FlagIn, arg_name="body")
@bp.output(FlagOut)
@bp.doc(summary="Check a team's flag (only while its instance runs; at most 10 tries a minute per team; a user: "
                "their own team only)",
        responses={**MALFORMED_ID, 403: "Not your team", 404: "No such challenge (for a user: or not active), or "
                                                                "the team has none",
                   409: "Its instance does not run", 429: "Too many tries for this team"})
def check_flag(challenge_id: str, team_id: str, body):
    by_team = _own_team(challenge_id, team_id)
    return team_instances().check_flag(challenge_id, team_id, body["flag"], actor=principal().name, by_team=by_team)


@bp.post("/<challenge_id>/teams/<team_id>/reset")
@resets
@bp.output(AccessOut, status_code=202)
@bp.doc(summary="Make a team's instance anew from the image, its address and flag kept (admins, or a member of "
                "the team: of a running or failed instance, before its hard end)",
        responses={**MALFORMED_ID, 403: "Not your team", 404: "No such challenge (for a user: or not active), or "
                                                                "the team has none",
                   409: "A team may not reset it now (stopped or removed by an admin, or its hard end passed)",
                   429: "Too many resets for this team"})
def reset_instance(challenge_id: str, team_id: str):
    by_team = _own_team(challenge_id, team_id, admins_only=True)
    return team_instances().reset(challenge_id, team_id, actor=principal().name, by_team=by_team), 202


@bp.post("/<challenge_id>/teams/<team_id>/renew")
@bp.output(AccessOut)
@bp.doc(summary="Move the end of a team's instance a lifetime on from now, never past its hard end (admins, or "
                "a member of the team)",
        responses={**MALFORMED_ID, 403: "Not your team", 404: "No such challenge (for a user: or not active), or "
                                                                "the team has none",
                   409: "The challenge gives no lifetime, or the instance does not run"})
def renew_instance(challenge_id: str, team_id: str):
    by_team = _own_team(challenge_id, team_id, admins_only=True)
    return team_instances().renew(challenge_id, team_id, actor=principal().name, by_team=by_team)
