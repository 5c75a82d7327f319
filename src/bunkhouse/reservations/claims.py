"""A reservation opened: its row, its claimed nodes and its event in one transaction, after the
owner's quota is checked. When too few nodes are free and the pool may grow, the claim waits for
new ones (fleet/sizing.py) and is tried again: a 409 only when the pool's max leaves no room, or
when other claims took the new nodes every time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import Conflict, Forbidden
from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.sizing import PoolSizing
from bunkhouse.identity.models import ApiUser
from bunkhouse.identity.principal import Quota
from bunkhouse.reservations.models import CURRENT, HeldNode, Reservation
from bunkhouse.reservations.models import ReservationState as R

# Claims of one reservation before a 409, each after the pool made room: another claim can take
# the nodes made for this one.
CLAIM_ROUNDS = 3


@dataclass(frozen=True)
class Ask:
    """A reservation asked for, as reserve() checked it."""

    id: str
    username: str
    password_hash: str
    count: int
    duration_minutes: int
    actor: str
    owner: str | None
    quota: Quota
    asked_at: datetime


class Claims:
    def __init__(self, database: Database, fleet: Fleet, sizing: PoolSizing | None, clock: Callable[[], datetime]):
        self.database = database
        self.fleet = fleet
        # Grows the pool on demand up to its max; None: a claim takes what is free.
        self.sizing = sizing
        self.clock = clock
        # Reservations whose nodes had to be made: their claim was a cold start.
        self._grown: set[str] = set()

    def open(self, ask: Ask) -> list[str]:
        """The names of the nodes claimed for the new reservation (state provisioning)."""
        try:
            return self._claim(ask)
        except Conflict as error:
            if error.code != "pool_exhausted" or self.sizing is None:
                raise
        try:
            return self._claim_made(ask)
        except Exception:
            self._grown.discard(ask.id)
            raise

    def _claim_made(self, ask: Ask) -> list[str]:
        for attempt in range(CLAIM_ROUNDS):
            # The pool's size held still: nothing removes the nodes made for this claim before it takes them.
            with self.sizing.held():
                if self.sizing.make_room(ask.count):
                    self._grown.add(ask.id)
                try:
                    return self._claim(ask)
                except Conflict as error:
                    if error.code != "pool_exhausted" or attempt == CLAIM_ROUNDS - 1:
                        raise
        raise AssertionError("the last round returns or raises")

    def launch_of(self, reservation_id: str) -> str:
        """hot: its nodes were free when asked; cold: they were made for it. Asked once."""
        if reservation_id in self._grown:
            self._grown.discard(reservation_id)
            return "cold"
        return "hot"

    def _claim(self, ask: Ask) -> list[str]:
        with self.database.write() as session:
            # One transaction: the reservation, its nodes and the event all exist, or none does.
            if ask.owner is not None:
                _check_nodes_quota(session, ask.owner, ask.count, ask.quota)
            now = self.clock()
            # Created when asked (a claim that waited for new nodes counts the wait), started when claimed.
            session.add(Reservation(id=ask.id, username=ask.username, password_hash=ask.password_hash,
                                    count=ask.count, owner=ask.owner, state=R.PROVISIONING, created_at=ask.asked_at,
                                    starts_at=now, ends_at=now + timedelta(minutes=ask.duration_minutes)))
            session.flush()
            nodes = transitions.claim(session, self.fleet.pool.name, ask.count, ask.id, fresh=self.fleet.pool.digest)
            for node in nodes:
                session.add(HeldNode(reservation_id=ask.id, node_name=node.name, ssh_port=node.port,
                                     host_keys=node.host_keys))
            names = [node.name for node in nodes]
            events.record(session, "reserve_requested", ask.actor, lease_id=ask.id, at=now,
                          detail={"username": ask.username, "count": ask.count,
                                  "duration_minutes": ask.duration_minutes, "nodes": names})
        return names


def _check_nodes_quota(session: Session, owner: str, count: int, quota: Quota) -> None:
    # Locks the owner's row (PostgreSQL; SQLite's write transactions are serialised), so two
    # requests of one user cannot both pass the check.
    session.execute(select(ApiUser.id).where(ApiUser.name == owner).with_for_update())
    if quota.max_nodes is None:
        return
    held = session.scalar(select(func.coalesce(func.sum(Reservation.count), 0))
                          .where(Reservation.owner == owner, Reservation.state.in_(CURRENT)))
    if held + count > quota.max_nodes:
        raise Forbidden(f"you may hold at most {quota.max_nodes} nodes at once; you hold {held}",
                        code="quota_nodes", limit=quota.max_nodes, held=held, field="count")
