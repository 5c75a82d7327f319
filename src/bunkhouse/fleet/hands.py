"""An operator's hand on a fleet's members: take one out of service (it stays out whatever the
monitor says), put one back (recreated clean first)."""

from __future__ import annotations

from bunkhouse.core.errors import Conflict
from bunkhouse.core.lookup import get_or_404
from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.models import IN_USE, Container
from bunkhouse.fleet.models import ContainerState as S


def disable(fleet: Fleet, name: str, reason: str, *, actor: str) -> Container:
    """Take a member out; a 409 while a lease holds it."""
    with fleet.database.write() as session:
        row = get_or_404(session, Container, "node", "node_not_found", name=name)
        if row.state in IN_USE:
            raise Conflict(f"node {name} is in use ({row.state}) by {row.holder}: end that lease first",
                           code="node_in_use", state=row.state, holder=row.holder)
        if row.state != S.DISABLED:
            transitions.disable(session, name, reason or "disabled by an admin", actor=actor)
    return fleet.member(name)


def enable(fleet: Fleet, name: str, *, actor: str) -> Container:
    """Put a disabled member back: it is recreated clean first."""
    fleet.role.require_acting()
    with fleet.database.write() as session:
        get_or_404(session, Container, "node", "node_not_found", name=name)
        enabled = transitions.enable(session, name, actor=actor)
    if enabled:
        fleet.recreate(name, actor=actor)
    return fleet.member(name)
