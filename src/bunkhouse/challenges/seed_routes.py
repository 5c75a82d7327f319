"""Seed 000's routes, as written: POST /assign {team_id, challenge_id, image} answers
{"status": "success", "address": "http://<host>:<port>"}; POST /remove {team_id, challenge_id}
answers {"status": "success", "message": "Container ... stopped and removed."}. Errors carry
seed 000's {"status": "error", "message": ...} beside bunkhouse's `error`. Admins only: they
start containers."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length
from flask import current_app

from bunkhouse.challenges.assign import Assignments
from bunkhouse.challenges.schemas import ASSIGN_ID
from bunkhouse.web.access import admin_only, principal
from bunkhouse.web.errors import seed_error_fields

bp = APIBlueprint("challenge_seed", __name__, tag="Seed 000: team containers")
seed_error_fields("challenge_seed", lambda error: {"status": "error", "message": error["message"]})

_ID = ASSIGN_ID


class AssignIn(Schema):
    team_id = String(required=True, validate=_ID, metadata={"example": "team1"})
    challenge_id = String(required=True, validate=_ID, metadata={"example": "web1"})
    image = String(required=True, validate=Length(1, 200), metadata={
        "example": "bunkhouse/demo-challenge:latest", "description": "on the operator's allow-list"})


class RemoveIn(Schema):
    team_id = String(required=True, validate=_ID)
    challenge_id = String(required=True, validate=_ID)


class AssignOut(Schema):
    status = String(metadata={"example": "success"})
    address = String(metadata={"example": "http://127.0.0.1:23000"})


class RemoveOut(Schema):
    status = String(metadata={"example": "success"})
    message = String()


def assignments() -> Assignments:
    return current_app.extensions["bunkhouse.assignments"]


@bp.post("/assign")
@admin_only
@bp.input(AssignIn, arg_name="body")
@bp.output(AssignOut)
@bp.doc(summary="Give a team its own container of a challenge (seed 000); the same address if it has one",
        responses={400: "Invalid, or the image is not on the allow-list",
                   404: "The challenge was deleted while the instance was made",
                   409: "The challenge runs another image, or is not active",
                   503: "Its instance did not come up in time, or failed: ask again"})
def assign(body):
    address = assignments().assign(body["team_id"], body["challenge_id"], body["image"], actor=principal().name)
    return {"status": "success", "address": address}


@bp.post("/remove")
@admin_only
@bp.input(RemoveIn, arg_name="body")
@bp.output(RemoveOut)
@bp.doc(summary="Stop and remove a team's container of a challenge (seed 000)",
        responses={404: "The team has no container of that challenge", 503: "The removal failed: ask again"})
def remove(body):
    name = assignments().remove(body["team_id"], body["challenge_id"], actor=principal().name)
    return {"status": "success", "message": f"Container {name} stopped and removed."}
