"""The JSON API of reservations, /api/v1/reservations: the recommended interface (the password
travels in the body). Views validate, call the service, present."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from bunkhouse.reservations.models import CURRENT, Reservation
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.schemas import (
    ExtendIn,
    ReleasedOut,
    ReservationIn,
    ReservationListOut,
    ReservationListQuery,
    ReservationOut,
)
from bunkhouse.reservations.service import ReservationService
from bunkhouse.reservations.views import view, views
from bunkhouse.web.access import admin_only, owner_filter, owner_of_new, principal, require_owner
from bunkhouse.web.ratelimit import reservation_requests

bp = APIBlueprint("reservations", __name__, url_prefix="/api/v1", tag="Reservations")


def service() -> ReservationService:
    return current_app.extensions["bunkhouse.reservations"]


def _owned(reservation_id: str) -> Reservation:
    reservation = service().get(reservation_id)
    require_owner(reservation.owner, "reservation")
    return reservation


@bp.post("/reservations")
# Counted before anything else (outside the schema's check): a request refused for its body, a
# quota or a failed provisioning uses its caller's budget too, so failing requests cannot
# hammer the service beyond the limit.
@reservation_requests
@bp.input(ReservationIn, arg_name="body")
@bp.output(ReservationOut, status_code=201)
@bp.doc(summary="Reserve nodes", responses={
    202: "Accepted: still provisioning after BUNKHOUSE_REQUEST_TIMEOUT; poll the reservation",
    400: "Invalid input", 401: "No valid token", 403: "Over your quota (the limit is named)",
    409: "Not enough free nodes", 429: "Too many requests (see Retry-After)",
    503: "Provisioning failed and nothing was kept, or this process cannot make it now (see Retry-After)"})
def create_reservation(body):
    caller = principal()
    duration = body["duration_minutes"]
    if duration is None:
        duration = service().settings.default_duration_minutes
    reservation = service().reserve(body["username"], body["password"], body["count"], duration,
                                    actor=caller.name, owner=owner_of_new(), quota=caller.quota)
    return view(service(), reservation), 201 if reservation.state == R.ACTIVE else 202


@bp.get("/reservations")
@bp.input(ReservationListQuery, location="query", arg_name="query")
@bp.output(ReservationListOut)
@bp.doc(summary="Reservations, oldest first, a page at a time (current ones; ?all=1 for ended ones too): an "
                "admin sees everyone's, a user their own")
def list_reservations(query):
    page = service().queries.page(states=None if query["all"] else CURRENT, owner=owner_filter(),
                                  limit=query["limit"], cursor=query["cursor"])
    return {"reservations": views(service(), page.rows), "next": page.next}


@bp.get("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="One reservation, with the truth about each of its nodes",
        responses={403: "Someone else's reservation", 404: "No such reservation"})
def get_reservation(reservation_id: str):
    return view(service(), _owned(reservation_id))


@bp.delete("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="Release a reservation early (idempotent)",
        responses={202: "Accepted: the release is still running", 403: "Someone else's reservation",
                   404: "No such reservation", 409: "Still provisioning"})
def release_reservation(reservation_id: str):
    _owned(reservation_id)
    reservation = service().release(reservation_id, actor=principal().name)
    return view(service(), reservation), 202 if reservation.state == R.RELEASING else 200


@bp.post("/reservations/<reservation_id>/extend")
@bp.input(ExtendIn, arg_name="body")
@bp.output(ReservationOut)
@bp.doc(summary="Extend an active reservation", responses={
    403: "Someone else's reservation, or over your lease quota", 404: "No such reservation",
    409: "Not active, or over the lease limit"})
def extend_reservation(reservation_id: str, body):
    _owned(reservation_id)
    caller = principal()
    return view(service(), service().extend(reservation_id, body["minutes"], actor=caller.name, quota=caller.quota))


@bp.post("/release_all")
@admin_only
@bp.output(ReleasedOut)
@bp.doc(summary="Release every current reservation (admins)", responses={403: "Not an admin"})
def release_all():
    return {"released": service().release_all(actor=principal().name)}
