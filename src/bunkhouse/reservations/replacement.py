"""When a node dies under an active reservation (the fleet reports it lost), the tenant gets a
replacement from the free nodes (one made for it when none is free and the pool may grow): the
same account, password and end, made by the same account run; the reservation shows the dead
node as lost, with why and what replaced it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bunkhouse.core import events
from bunkhouse.core.errors import Conflict
from bunkhouse.fleet import transitions
from bunkhouse.fleet.models import ContainerState
from bunkhouse.reservations.models import HeldNode, Reservation
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.service import ReservationService
from bunkhouse.runner.batcher import JobGroup

log = logging.getLogger(__name__)


class Replacements:
    def __init__(self, service: ReservationService):
        self.service = service

    def node_lost(self, node: str, holder: str, reason: str, *, actor: str = "monitor",
                  wait: bool = True) -> str | None:
        """The fleet's loss listener. Returns the replacement's name, if one was free or made."""
        service, sizing = self.service, self.service.sizing
        if sizing is None or not self._still_held(node, holder):
            claimed = self._claim_spare(node, holder, reason, actor=actor)
        else:
            # The pool's size held still from making the spare to claiming it; not while its account is made.
            with sizing.held():
                try:
                    sizing.make_room(1)
                except Exception as error:  # noqa: BLE001 - the claim below then finds none free, and says so
                    log.warning("no node could be made to replace %s: %s", node, error)
                claimed = self._claim_spare(node, holder, reason, actor=actor)
        if claimed is None:
            return None
        spare, username, password_hash = claimed

        def done(group: JobGroup) -> None:
            self._replaced(group, holder, node, spare, username, reason, actor)

        group = service.accounts.make([spare], username, password_hash, holder, purpose="replace", on_done=done)
        if wait:
            group.wait(service.request_timeout)
        return spare

    def _still_held(self, node: str, holder: str) -> bool:
        """The lost node is still an active reservation's and not yet marked lost: a spare is needed."""
        with self.service.database.read() as session:
            statement = select(HeldNode.id).join(Reservation, Reservation.id == HeldNode.reservation_id).where(
                HeldNode.reservation_id == holder, HeldNode.node_name == node, HeldNode.lost_reason.is_(None),
                Reservation.state == R.ACTIVE)
            return session.scalar(statement) is not None

    def _claim_spare(self, node: str, holder: str, reason: str, *, actor: str) -> tuple[str, str, str] | None:
        """Mark the node lost and claim a free spare for its reservation, in one transaction:
        (spare, username, password hash), or None (none free, or nothing to replace)."""
        service = self.service
        with service.database.write() as session:
            reservation = session.scalar(select(Reservation).where(Reservation.id == holder).with_for_update())
            if reservation is None or reservation.state != R.ACTIVE:
                return None
            held = session.scalar(select(HeldNode).where(HeldNode.reservation_id == holder, HeldNode.node_name == node,
                                                         HeldNode.lost_reason.is_(None)))
            if held is None:
                return None
            held.lost_reason = reason
            try:
                replacement = transitions.claim(session, service.fleet.pool.name, 1, holder,
                                                fresh=service.fleet.pool.digest)[0]
            except Conflict:
                events.record(session, "node_lost", actor, lease_id=holder, container=node, at=service.clock(),
                              detail={"reason": reason, "replacement": None, "why": "no free node"})
                return None
            held.replaced_by = replacement.name
            session.add(HeldNode(reservation_id=holder, node_name=replacement.name, ssh_port=replacement.port,
                                 host_keys=replacement.host_keys))
            return replacement.name, reservation.username, reservation.password_hash

    def _replaced(self, group: JobGroup, holder: str, lost: str, spare: str, username: str, reason: str,
                  actor: str) -> None:
        service = self.service
        taken_back = False
        with service.database.write() as session:
            still_active = session.scalar(select(Reservation.state).where(Reservation.id == holder)) == R.ACTIVE
            if group.ok_hosts and not still_active:
                # Released or expired while the replacement was made: take the account back.
                taken_back = bool(transitions.start_release(session, holder, [spare],
                                                            from_states=[ContainerState.RESERVING]))
            elif group.ok_hosts:
                transitions.hold(session, holder, [spare])
                events.record(session, "replaced", actor, lease_id=holder, container=lost, at=service.clock(),
                              detail={"lost": lost, "replacement": spare, "reason": reason})
            else:
                error = group.errors().get(spare, "")
                transitions.quarantine(session, [spare], f"creating the account failed: {error}", holder=holder,
                                       states=[ContainerState.RESERVING], actor=actor)
                for row in session.scalars(select(HeldNode).where(HeldNode.reservation_id == holder,
                                                                  HeldNode.node_name == spare)):
                    row.lost_reason = "creating the account failed"
                events.record(session, "node_lost", actor, lease_id=holder, container=lost, at=service.clock(),
                              detail={"reason": reason, "replacement": None, "why": "the replacement failed"})
        if taken_back:
            service.accounts.clean([spare], username, holder, actor=actor)
