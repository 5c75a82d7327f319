"""The JSON API, /api/v1: the recommended interface (the password travels in the body)."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, request

from bunkhouse.models import ACTIVE
from bunkhouse.presenters import current_view, node_view
from bunkhouse.schemas import ExtendIn, NodeListOut, ReservationIn, ReservationListOut, ReservationOut
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
    400: "Invalid input", 409: "Not enough free nodes", 503: "Provisioning failed; nothing was kept"})
def create_reservation(body):
    service = _service()
    duration = body["duration_minutes"] or service.config.default_duration_minutes
    reservation = service.reserve(body["username"], body["password"], body["count"], duration)
    return _view(reservation), 201 if reservation.state == ACTIVE else 202


@bp.get("/reservations")
@bp.output(ReservationListOut)
@bp.doc(summary="List reservations (current ones; ?all=1 for ended ones too)")
def list_reservations():
    states = None if request.args.get("all") in ("1", "true") else ("provisioning", "active", "releasing")
    return {"reservations": [_view(reservation) for reservation in _service().reservations(states=states)]}


@bp.get("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="One reservation, with the truth about each of its nodes")
def get_reservation(reservation_id: str):
    return _view(_service().get(reservation_id))


@bp.delete("/reservations/<reservation_id>")
@bp.output(ReservationOut)
@bp.doc(summary="Release a reservation early (idempotent)",
        responses={202: "Accepted: the release is still running", 409: "Still provisioning"})
def release_reservation(reservation_id: str):
    reservation = _service().release(reservation_id)
    return _view(reservation), 200 if reservation.state not in ("releasing",) else 202


@bp.post("/reservations/<reservation_id>/extend")
@bp.input(ExtendIn, arg_name="body")
@bp.output(ReservationOut)
@bp.doc(summary="Extend an active reservation", responses={409: "Not active, or over the lease limit"})
def extend_reservation(reservation_id: str, body):
    return _view(_service().extend(reservation_id, body["minutes"]))


@bp.get("/nodes")
@bp.output(NodeListOut)
@bp.doc(summary="Every node of the pool and its state")
def list_nodes():
    service = _service()
    return {"nodes": [node_view(node, service.config) for node in service.nodes()]}
