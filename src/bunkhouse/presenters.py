"""How reservations and nodes look in HTTP responses (JSON API and seed routes)."""

from __future__ import annotations

from datetime import datetime

from bunkhouse.config import Config
from bunkhouse.models import ACTIVE, Node, Reservation


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset: 2026-11-24T23:30:00+00:00."""
    return None if moment is None else moment.isoformat(timespec="seconds")


def seconds_remaining(reservation: Reservation, now: datetime) -> int:
    if reservation.state != ACTIVE:
        return 0
    return max(0, int((reservation.ends_at - now).total_seconds()))


def reservation_view(reservation: Reservation, config: Config, now: datetime,
                     node_states: dict[str, str] | None = None) -> dict:
    node_states = node_states or {}
    nodes = []
    for held in reservation.held:
        nodes.append({
            "name": held.node_name,
            "host": config.ssh_host,
            "port": held.ssh_port,
            "ssh_command": f"ssh -p {held.ssh_port} {reservation.username}@{config.ssh_host}",
            "host_key_fingerprints": held.host_keys or {},
            # The node's state while this reservation holds it; "lost" if it died under it
            # (replaced_by names its replacement, if one was free); "returned" once it is given back.
            "state": "lost" if held.lost_reason else node_states.get(held.node_name, "returned"),
        })
        if held.lost_reason:
            nodes[-1].update(lost_reason=held.lost_reason, replaced_by=held.replaced_by)
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


def current_view(service, reservation: Reservation) -> dict:
    """reservation_view with the service's settings, clock and the nodes' states right now."""
    return reservation_view(reservation, service.config, service.clock(), service.node_states(reservation.id))


def node_view(node: Node, config: Config) -> dict:
    return {
        "name": node.name,
        "state": node.state,
        "reason": node.state_reason,
        "host": config.ssh_host,
        "port": node.ssh_port,
        "reservation_id": node.reservation_id,
        "host_key_fingerprints": node.host_keys or {},
        "updated_at": iso(node.updated_at),
    }
