"""How reservations look in answers (JSON API and seed 002's routes)."""

from __future__ import annotations

from datetime import datetime

from bunkhouse.reservations.models import Reservation
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.web.views import iso


def seconds_remaining(reservation: Reservation, now: datetime) -> int:
    if reservation.state != R.ACTIVE:
        return 0
    return max(0, int((reservation.ends_at - now).total_seconds()))


def reservation_view(reservation: Reservation, public_host: str, now: datetime, node_states: dict[str, str]) -> dict:
    nodes = []
    for held in reservation.held:
        node = {
            "name": held.node_name,
            "host": public_host,
            "port": held.ssh_port,
            "ssh_command": f"ssh -p {held.ssh_port} {reservation.username}@{public_host}",
            "host_key_fingerprints": held.host_keys or {},
            # The node's state while this reservation holds it; "lost" if it died under it
            # (replaced_by names its replacement, if one was free); "returned" once it is given back.
            "state": "lost" if held.lost_reason else node_states.get(held.node_name, "returned"),
        }
        if held.lost_reason:
            node.update(lost_reason=held.lost_reason, replaced_by=held.replaced_by)
        nodes.append(node)
    return {
        "id": reservation.id,
        "username": reservation.username,
        "state": reservation.state,
        "count": reservation.count,
        "created_at": iso(reservation.created_at),
        "starts_at": iso(reservation.starts_at),
        "ends_at": iso(reservation.ends_at),
        "ended_at": iso(reservation.ended_at),
        "seconds_remaining": seconds_remaining(reservation, now),
        "extended_minutes": reservation.extended_minutes,
        "error": reservation.error,
        "nodes": nodes,
    }


def views(service, reservations: list[Reservation]) -> list[dict]:
    """Each reservation with the service's clock and its nodes' states now (one query for all)."""
    states = service.queries.node_states(reservations)
    now, host = service.clock(), service.fleet.pool.public_host
    return [reservation_view(reservation, host, now, states.get(reservation.id, {})) for reservation in reservations]


def view(service, reservation: Reservation) -> dict:
    return views(service, [reservation])[0]
