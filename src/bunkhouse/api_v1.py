"""The JSON API, /api/v1: the recommended interface (the password travels in the body)."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, request

from bunkhouse.access import check_owner, check_rate, owner_filter, principal, require_admin
from bunkhouse.models import ACTIVE, CURRENT_STATES
from bunkhouse.presenters import current_view, node_view
from bunkhouse.schemas import (
    ExtendIn,
    NodeDisableIn,
    NodeListOut,
    NodeOut,
    ReservationIn,
    ReservationListOut,
    ReservationOut,
)
from bunkhouse.service import ReservationService

bp = APIBlueprint("api_v1", __name__, url_prefix="/api/v1", tag="Reservations")


def _service() -> ReservationService:
    return current_app.extensions["bunkhouse"]


def _view(reservation) -> dict:
    return current_view(_service(), reservation)


@bp.post("/reservations")
@bp.input(ReservationIn, arg_name="body")
@bp.output(ReservationOut, status_code=201)
@bp.doc(summary="Reserve nodes", responses={
    202: "Accepted: still provisioning after BUNKHOUSE_REQUEST_TIMEOUT; poll the reservation",
    400: "Invalid input", 401: "No valid token", 403: "Over your quota (the limit is named)",
    409: "Not enough free nodes", 429: "Too many requests (see Retry-After)",
    503: "Provisioning failed; nothing was kept"})
def create_reservation(body):
    service = _service()
    check_rate()
    duration = body["duration_minutes"] or service.config.default_duration_minutes
    caller = principal()
    reservation = service.reserve(body["username"], body["password"], body["count"], duration,
                                  actor=caller.name, owner=_owner(), quota=caller.quota)
    return _view(reservation), 201 if reservation.state == ACTIVE else 202


@bp.get("/reservations")
@bp.output(ReservationListOut)
@bp.doc(summary="List reservations (current ones; ?all=1 for ended ones too): an admin sees everyone's, "
                "a user their own")
def list_reservations():
    states = None if request.args.get("all") in ("1", "true") else CURRENT_STATES
    reservations = _service().reservations(states=states, owner=owner_filter())
    return {"reservations": [_view(reservation) for reservation in reservations]}


@bp.get("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="One reservation, with the truth about each of its nodes",
        responses={403: "Someone else's reservation", 404: "No such reservation"})
def get_reservation(reservation_id: str):
    return _view(check_owner(_service().get(reservation_id)))


@bp.delete("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="Release a reservation early (idempotent)",
        responses={202: "Accepted: the release is still running", 403: "Someone else's reservation",
                   404: "No such reservation", 409: "Still provisioning"})
def release_reservation(reservation_id: str):
    check_owner(_service().get(reservation_id))
    reservation = _service().release(reservation_id, actor=principal().name)
    return _view(reservation), 200 if reservation.state not in ("releasing",) else 202


@bp.post("/reservations/<reservation_id>/extend")
@bp.input(ExtendIn, arg_name="body")
@bp.output(ReservationOut)
@bp.doc(summary="Extend an active reservation", responses={
    403: "Someone else's reservation, or over your lease quota", 404: "No such reservation",
    409: "Not active, or over the lease limit"})
def extend_reservation(reservation_id: str, body):
    check_owner(_service().get(reservation_id))
    caller = principal()
    return _view(_service().extend(reservation_id, body["minutes"], actor=caller.name, quota=caller.quota))


@bp.get("/nodes")
@bp.output(NodeListOut)
@bp.doc(summary="Every node of the pool and its state (admins)", responses={403: "Not an admin"})
def list_nodes():
    require_admin()
    service = _service()
    return {"nodes": [node_view(node, service.config) for node in service.nodes()]}


def _owner() -> str | None:
    """The owner recorded on a new reservation: the caller, or nobody with auth off."""
    return principal().name if _service().config.auth else None


@bp.post("/nodes/<name>/disable")
@bp.input(NodeDisableIn, arg_name="body")
@bp.output(NodeOut)
@bp.doc(summary="Take a node out of service; it stays out whatever the health check says (admins)",
        responses={403: "Not an admin", 404: "No such node", 409: "The node is in use"})
def disable_node(name: str, body):
    service = _service()
    return node_view(service.disable_node(name, body["reason"], actor=require_admin().name), service.config)


@bp.post("/nodes/<name>/enable")
@bp.output(NodeOut)
@bp.doc(summary="Put a disabled node back: it is recreated clean, then free (admins)",
        responses={403: "Not an admin", 404: "No such node"})
def enable_node(name: str):
    service = _service()
    return node_view(service.enable_node(name, actor=require_admin().name), service.config)
