"""Reading reservations: one, all of some states and owner, or a page at a time; and the
states of their nodes, in one query for any number of them."""

from __future__ import annotations

from sqlalchemy import select

from bunkhouse.core.db import Database
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.paging import Page, read_page
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.reservations.models import Reservation


class ReservationQueries:
    def __init__(self, database: Database, fleet: Fleet):
        self.database = database
        self.fleet = fleet

    def get(self, reservation_id: str) -> Reservation:
        with self.database.read() as session:
            return get_or_404(session, Reservation, "reservation", "reservation_not_found", id=reservation_id)

    def page(self, *, states: tuple[str, ...] | None = None, owner: str | None = None, limit: int,
             cursor: str | None = None) -> Page:
        """Reservations in these states (all when None), of one owner (everyone's when None),
        oldest first, a page at a time."""
        with self.database.read() as session:
            return read_page(session, self._query(states, owner), [Reservation.created_at, Reservation.id],
                             limit=limit, cursor=cursor)

    def all(self, *, states: tuple[str, ...] | None = None, owner: str | None = None) -> list[Reservation]:
        with self.database.read() as session:
            return list(session.scalars(self._query(states, owner).order_by(Reservation.created_at, Reservation.id)))

    def node_states(self, reservations: list[Reservation]) -> dict[str, dict[str, str]]:
        """The state of every node each reservation holds now: one query for all of them."""
        return self.fleet.states_by_holder([reservation.id for reservation in reservations])

    @staticmethod
    def _query(states: tuple[str, ...] | None, owner: str | None):
        query = select(Reservation)
        if states:
            query = query.where(Reservation.state.in_(states))
        if owner is not None:
            query = query.where(Reservation.owner == owner)
        return query
