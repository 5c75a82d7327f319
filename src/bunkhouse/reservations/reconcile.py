"""Finish or undo what was left in flight: at start (a previous life of the service died with
work going), and periodically (a step whose record failed after Ansible succeeded: the
database was locked or the disk full, so a reservation sat provisioning or releasing).

What it does, for everything in a transitional state with no work in flight in this process
(and, when periodic, unchanged for longer than BUNKHOUSE_STUCK_AFTER):
- a reservation provisioning is rolled back (its client never got an answer, or a 202): it
  fails, and its nodes lose the account before they are freed;
- a reservation releasing is released again (the same idempotent removal);
- a node reserving or releasing for a reservation that is neither (a replacement cut short,
  one taken back, a rollback cut short) has its account removed before it is freed;
- a node an active reservation holds no more (lost while the loss went unrecorded) is marked
  lost and replaced.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from bunkhouse.core import events
from bunkhouse.fleet import transitions
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.reservations.models import ENDED, Reservation, clear_secrets
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.replacement import Replacements
from bunkhouse.reservations.service import ReservationService

log = logging.getLogger(__name__)
ACTOR = "reconcile"


class Reconciler:
    def __init__(self, service: ReservationService, replacements: Replacements, stuck_after_seconds: int):
        self.service = service
        self.replacements = replacements
        self.stuck_after = timedelta(seconds=stuck_after_seconds)

    def at_start(self) -> dict[str, list[str]]:
        """Everything left in flight by a previous life of the service (nothing of this one's is)."""
        return self._reconcile(periodic=False)

    def periodic(self) -> dict[str, list[str]]:
        """What has sat still past the bound with no work in flight in this process."""
        return self._reconcile(periodic=True)

    def _reconcile(self, *, periodic: bool) -> dict[str, list[str]]:
        service = self.service
        plan = _Plan(service.clock(), service.clock() - self.stuck_after if periodic else None,
                     service.accounts.in_flight(), service.releases_in_flight())
        with service.database.write() as session:
            nodes = {row.name: row for row in session.scalars(
                select(Container).where(Container.pool == service.fleet.pool.name))}
            holders = {row.holder for row in nodes.values() if row.holder}
            for reservation in session.scalars(select(Reservation).where(
                    Reservation.id.in_(sorted(holders)) | Reservation.state.in_([R.PROVISIONING, R.RELEASING]))
                    .with_for_update()):
                mine = [row for row in nodes.values() if row.holder == reservation.id]
                if reservation.state == R.PROVISIONING:
                    self._roll_back(session, plan, reservation, mine, periodic)
                elif reservation.state == R.RELEASING:
                    if plan.stale(reservation) and reservation.id not in plan.busy_releases:
                        plan.releases.append(reservation.id)
                else:
                    self._strays(session, plan, reservation, mine)
            for reservation in session.scalars(select(Reservation).where(Reservation.state == R.ACTIVE)):
                plan.lost += [(reservation.id, held.node_name) for held in reservation.held
                              if held.lost_reason is None and _left(nodes.get(held.node_name), reservation.id, plan)]

        for reservation_id in plan.releases:
            service.end_lease(reservation_id, actor=ACTOR, wait=False)
        for (reservation_id, username), names in plan.cleanup.items():
            service.accounts.clean(names, username, reservation_id, actor=ACTOR)
        for reservation_id, node in plan.lost:
            self.replacements.node_lost(node, reservation_id, "lost while the service could not record it",
                                        actor=ACTOR, wait=False)
        summary = plan.summary()
        if any(summary.values()):
            log.warning("reconcile (%s): %s", "periodic" if periodic else "at start", summary)
        return summary

    @staticmethod
    def _roll_back(session, plan: _Plan, reservation: Reservation, mine: list[Container], periodic: bool) -> None:
        """A reservation whose provisioning never completed: it fails, its nodes are cleaned."""
        if not plan.stale(reservation) or {row.name for row in mine} & plan.busy_nodes:
            return
        reservation.state, reservation.ended_at = R.FAILED, plan.now
        clear_secrets(reservation)
        reservation.error = ("its provisioning never completed; rolled back" if periodic
                             else "interrupted by a restart of the service; rolled back")
        events.record(session, "failed", ACTOR, lease_id=reservation.id, at=plan.now,
                      detail={"reason": "stuck" if periodic else "restart"})
        plan.rolled_back.append(reservation.id)
        plan.clean(reservation, transitions.start_release(session, reservation.id,
                                                          from_states=[S.RESERVING, S.RESERVED]))

    @staticmethod
    def _strays(session, plan: _Plan, reservation: Reservation, mine: list[Container]) -> None:
        """Nodes held by an active or ended reservation that are between two states with nothing
        at work on them: a replacement cut short, one taken back, a rollback or a release cut
        short. Their account goes, then they are free."""
        for row in mine:
            stray = row.state in (S.RESERVING, S.RELEASING) or (reservation.state in ENDED and row.state == S.RESERVED)
            if not stray or row.name in plan.busy_nodes or not plan.stale(row):
                continue
            if reservation.state == R.ACTIVE and row.state == S.RESERVING:
                for held in reservation.held:
                    if held.node_name == row.name and held.lost_reason is None:
                        held.lost_reason = "the replacement was interrupted"
            plan.clean(reservation, transitions.start_release(session, reservation.id, [row.name],
                                                              from_states=[S.RESERVING, S.RESERVED]))


class _Plan:
    """What one reconcile found, and does once its transaction is committed."""

    def __init__(self, now, cutoff, busy_nodes: set[str], busy_releases: set[str]):
        self.now, self.cutoff = now, cutoff
        self.busy_nodes, self.busy_releases = busy_nodes, busy_releases
        self.rolled_back: list[str] = []
        self.releases: list[str] = []
        self.cleanup: dict[tuple[str, str], list[str]] = {}
        self.lost: list[tuple[str, str]] = []

    def stale(self, row) -> bool:
        return self.cutoff is None or row.updated_at <= self.cutoff

    def clean(self, reservation: Reservation, names: list[str]) -> None:
        if names:
            self.cleanup.setdefault((reservation.id, reservation.username), []).extend(names)

    def summary(self) -> dict[str, list[str]]:
        return {"rolled_back": self.rolled_back, "released": self.releases,
                "cleaned": sorted(name for names in self.cleanup.values() for name in names),
                "replaced": [node for _, node in self.lost]}


def _left(node: Container | None, reservation_id: str, plan: _Plan) -> bool:
    """Whether a node an active reservation's record names has left it, unrecorded."""
    if node is None:
        return True
    return node.holder != reservation_id and node.name not in plan.busy_nodes and plan.stale(node)
