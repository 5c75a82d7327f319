"""The routes of seed 002 (../shared/seeds/002_*.txt), kept so that its curl examples work
unchanged: GET /reserve, /available, /reservations, /release_all, with its field names. Same
rules and error codes as the JSON API (a bearer token, quotas, the rate limit; /release_all
is for admins); a field at fault is named as these routes call it (`duration`). Errors carry
seed 002's own `status` and `message` beside bunkhouse's `error`. The password in /reserve's
query string is never logged (web/access_log.py)."""

from __future__ import annotations

from flask import Blueprint, request

from bunkhouse.core.errors import ApiError, BadRequest
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.reservations import rules
from bunkhouse.reservations.api import service
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.views import view
from bunkhouse.web.access import admin_only, owner_filter, owner_of_new, principal
from bunkhouse.web.errors import seed_error_fields
from bunkhouse.web.ratelimit import reservation_requests
from bunkhouse.web.views import iso

bp = Blueprint("seed", __name__)
# The JSON API's names for this route's fields.
_FIELDS = {"duration_minutes": "duration"}

seed_error_fields("seed", lambda error: {"status": "error", "message": error["message"]})


@bp.get("/reserve")
@reservation_requests
def reserve():
    args = request.args
    if not args.get("username"):
        raise BadRequest("username is required", code="invalid_username", field="username")
    if "password" not in args:
        raise BadRequest("password is required", code="invalid_password", field="password")
    count = rules.parse_int(args.get("count"), "count", "invalid_count", 1)
    duration = rules.parse_int(args.get("duration"), "duration", "invalid_duration",
                               service().settings.default_duration_minutes)
    caller = principal()
    try:
        reservation = service().reserve(args["username"], args["password"], count, duration, actor=caller.name,
                                        owner=owner_of_new(), quota=caller.quota)
    except ApiError as error:
        raise error.renamed(_FIELDS) from None
    shown = view(service(), reservation)
    containers = [node["name"] for node in shown["nodes"]]
    return {
        "status": "success" if reservation.state == R.ACTIVE else "pending",
        "message": f"Reserved {len(containers)} container(s) for {reservation.username} until {shown['ends_at']}",
        "reservation_id": reservation.id,
        "username": reservation.username,
        "containers": containers,
        "expiration_time": shown["ends_at"],
        "nodes": shown["nodes"],
    }, 201 if reservation.state == R.ACTIVE else 202


@bp.get("/available")
def available():
    nodes = service().fleet.members()
    return {"available": [node.name for node in nodes if node.state == S.FREE],
            "reserved": [node.name for node in nodes if node.state == S.RESERVED]}


@bp.get("/reservations")
def reservations():
    now = service().clock()
    rows = []
    for reservation in service().all(states=(R.ACTIVE,), owner=owner_filter()):
        remaining = max(0.0, (reservation.ends_at - now).total_seconds() / 60)
        for held in reservation.held:
            rows.append({"username": reservation.username, "container": held.node_name,
                         "expiration_time": iso(reservation.ends_at),
                         "time_remaining": f"{remaining:.1f} minutes remaining", "reservation_id": reservation.id})
    return {"reservations": rows}


@bp.get("/release_all")
@admin_only
def release_all():
    released = service().release_all(actor=principal().name)
    return {"status": "success", "message": "All containers released", "released": released}
