"""The seed's routes, kept so that its README's curl examples work unchanged:
GET /reserve, /available, /reservations, /release_all. Same rules and errors as the JSON API
(a bearer token, quotas, rate limit; /release_all is for admins);
the password in /reserve's query string is never logged (see web.py's access log)."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from bunkhouse import validation
from bunkhouse.access import check_rate, owner_filter, principal, require_admin
from bunkhouse.errors import BadRequest
from bunkhouse.models import ACTIVE, FREE, RESERVED
from bunkhouse.presenters import current_view, iso
from bunkhouse.service import ReservationService

bp = Blueprint("seed", __name__)


def _service() -> ReservationService:
    return current_app.extensions["bunkhouse"]


@bp.get("/reserve")
def reserve():
    service = _service()
    check_rate()
    args = request.args
    if not args.get("username"):
        raise BadRequest("username is required", code="invalid_username", field="username")
    if "password" not in args:
        raise BadRequest("password is required", code="invalid_password", field="password")
    count = validation.parse_int(args.get("count"), "count", 1)
    duration = validation.parse_int(args.get("duration"), "duration", service.config.default_duration_minutes)
    caller = principal()
    reservation = service.reserve(args["username"], args["password"], count, duration, actor=caller.name,
                                  owner=caller.name if service.config.auth else None, quota=caller.quota)
    view = current_view(service, reservation)
    containers = [node["name"] for node in view["nodes"]]
    return {
        "status": "success" if reservation.state == ACTIVE else "pending",
        "message": f"Reserved {len(containers)} container(s) for {reservation.username}"
                   f" until {view['ends_at']}",
        "reservation_id": reservation.id,
        "username": reservation.username,
        "containers": containers,
        "expiration_time": view["ends_at"],
        "nodes": view["nodes"],
    }, 201 if reservation.state == ACTIVE else 202


@bp.get("/available")
def available():
    nodes = _service().nodes()
    return {
        "available": [node.name for node in nodes if node.state == FREE],
        "reserved": [node.name for node in nodes if node.state == RESERVED],
    }


@bp.get("/reservations")
def reservations():
    service = _service()
    now = service.clock()
    rows = []
    for reservation in service.reservations(states=(ACTIVE,), owner=owner_filter()):
        remaining = max(0.0, (reservation.ends_at - now).total_seconds() / 60)
        for held in reservation.held:
            rows.append({
                "username": reservation.username,
                "container": held.node_name,
                "expiration_time": iso(reservation.ends_at),
                "time_remaining": f"{remaining:.1f} minutes remaining",
                "reservation_id": reservation.id,
            })
    return {"reservations": rows}


@bp.get("/release_all")
def release_all():
    released = _service().release_all(actor=require_admin().name)
    return {"status": "success", "message": "All containers released", "released": released}
