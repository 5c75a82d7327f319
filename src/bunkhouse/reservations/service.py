"""The reservation service: reserve, release, extend, expire. Pure Python (no Flask).

Every node transition is a guarded statement of fleet/transitions.py, in a transaction that
also writes the reservation and the event log, committed before any Ansible run starts: the
database always knows what is in flight, so a restart, or the periodic reconcile, can finish
or undo it (reconcile.py). Decisions that depend on the reservation's state (is it due, may it
be extended) are taken inside the transaction that acts on them, with its row locked.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunkhouse.config import ReservationSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unavailable
from bunkhouse.core.metrics import CLAIM_DURATION, EXPIRY_LAG, FAILURE, SUCCESS
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import RETRY_AFTER
from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.models import ContainerState
from bunkhouse.fleet.sizing import PoolSizing
from bunkhouse.identity.principal import NO_QUOTA, Quota
from bunkhouse.reservations import accounts, rules
from bunkhouse.reservations.accounts import AccountWork
from bunkhouse.reservations.claims import Ask, Claims
from bunkhouse.reservations.models import ENDED, Reservation, clear_secrets
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.passwords import hash_password
from bunkhouse.reservations.queries import ReservationQueries
from bunkhouse.runner.batcher import JobGroup

log = logging.getLogger(__name__)



class ReservationService:
    def __init__(self, settings: ReservationSettings, database: Database, fleet: Fleet, accounts: AccountWork, *,
                 request_timeout: int, sizing: PoolSizing | None = None, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.database = database
        self.fleet = fleet
        self.accounts = accounts
        self.request_timeout = request_timeout
        self.clock = clock
        self.queries = ReservationQueries(database, fleet)
        self.sizing = sizing
        # The service's clock as it is at each call (tests set their own).
        self.claims = Claims(database, fleet, sizing, lambda: self.clock())
        # Called with (reservation_id, ends_at) when a lease starts or changes, and with
        # (reservation_id, None) when it ends: the jobs plug in here (jobs.py).
        self.on_lease_change: Callable[[str, datetime | None], None] = lambda _id, _end: None
        # Releases whose account removal is queued or running in this process.
        self._releases: dict[str, JobGroup] = {}
        self._releases_lock = threading.Lock()

    def require_primary(self) -> None:
        """Only the primary process, once started, runs Ansible and the jobs (core/primary.py)."""
        self.fleet.role.require_acting()

    # ---- reserve ----------------------------------------------------------------------

    def reserve(self, username: str, password: str, count: int, duration_minutes: int, *, actor: str = "anonymous",
                owner: str | None = None, quota: Quota = NO_QUOTA, wait: bool = True) -> Reservation:
        rules.check_username(username, self.fleet.image_names)
        rules.check_password(password, self.settings)
        rules.check_count(count, self.fleet.pool.max_size)
        rules.check_duration(duration_minutes, self.settings)
        if quota.max_duration_minutes is not None and duration_minutes > quota.max_duration_minutes:
            raise Forbidden(f"your leases may last at most {quota.max_duration_minutes} minutes",
                            code="quota_duration", limit=quota.max_duration_minutes, field="duration_minutes")
        self.require_primary()
        # Asked before every reservation (a millisecond): one made while the engine is down would
        # fail on every node and quarantine them all.
        if not self.fleet.engine_answers():
            raise Unavailable("the Docker engine does not answer: nothing was reserved; try again later",
                              code="engine_down", headers={"Retry-After": RETRY_AFTER})
        password_hash = hash_password(password)

        reservation_id = uuid.uuid4().hex
        names = self.claims.open(Ask(reservation_id, username, password_hash, count, duration_minutes, actor, owner,
                                     quota, asked_at=self.clock()))
        group = self.accounts.make(names, username, password_hash, reservation_id, purpose="reserve",
                                   on_done=lambda done: self._provisioned(reservation_id, done, actor))
        self._wait(group, wait)
        reservation = self.get(reservation_id)
        if reservation.state == R.FAILED and reservation.end_state == accounts.BAD_INPUT:
            raise BadRequest(reservation.error or "the nodes refused this input", code="invalid_username",
                             field="username", reservation_id=reservation.id)
        if reservation.state == R.FAILED:
            raise Unavailable(reservation.error or "provisioning failed", code="provisioning_failed",
                              reservation_id=reservation.id)
        return reservation

    def _provisioned(self, reservation_id: str, group: JobGroup, actor: str) -> None:
        """Runs when the accounts of a new reservation were made (or not)."""
        rolled_back: list[str] = []
        with self.database.write() as session:
            reservation = _locked(session, reservation_id)
            launch = self.claims.launch_of(reservation_id)
            if reservation.state != R.PROVISIONING:
                log.warning("reservation %s is %s, not provisioning: its account run's outcome is ignored",
                            reservation_id, reservation.state)
                return
            username, ends_at = reservation.username, reservation.ends_at
            _observe_claim(reservation, bool(group.failed_hosts), self.clock(), launch)
            if not group.failed_hosts:
                transitions.hold(session, reservation_id)
                reservation.state = R.ACTIVE
                events.record(session, "reserved", actor, lease_id=reservation_id, at=self.clock(),
                              detail={"nodes": group.ok_hosts, "ends_at": ends_at.isoformat()})
            else:
                errors = group.errors()
                refused = sorted(node for node, error in errors.items() if accounts.is_bad_input(error))
                for node in set(errors) - set(refused):
                    transitions.quarantine(session, [node], f"creating the account failed: {errors[node]}",
                                           holder=reservation_id, states=[ContainerState.RESERVING], actor=actor)
                # The node script changed nothing where it refused the input: those nodes are free
                # at once. The nodes that did get the account must lose it before anyone else gets them.
                transitions.free(session, reservation_id, refused, from_states=[ContainerState.RESERVING])
                rolled_back = transitions.start_release(session, reservation_id,
                                                        from_states=[ContainerState.RESERVING])
                reservation.state = R.FAILED
                reservation.ended_at = self.clock()
                clear_secrets(reservation)
                if refused and len(refused) == len(errors):
                    reservation.end_state = accounts.BAD_INPUT
                    reservation.error = f"the nodes refused this input: {accounts.bad_input_reason(errors[refused[0]])}"
                else:
                    reservation.error = (f"creating the account failed on {', '.join(group.failed_hosts)};"
                                         " the reservation was rolled back")
                events.record(session, "failed", actor, lease_id=reservation_id, at=self.clock(),
                              detail={"failed_nodes": group.failed_hosts, "rolled_back": rolled_back,
                                      "refused_by": refused})
        if reservation.state == R.ACTIVE:
            self.on_lease_change(reservation_id, ends_at)
        else:
            self.accounts.clean(rolled_back, username, reservation_id, actor=actor)

    # ---- release and expire ------------------------------------------------------------

    def release(self, reservation_id: str, *, actor: str = "anonymous", wait: bool = True) -> Reservation:
        """End a reservation early: remove its accounts, free its nodes. Idempotent: releasing
        one that is already being released waits for that release; an ended one is returned."""
        self.require_primary()
        return self.end_lease(reservation_id, actor=actor, wait=wait)

    def end_lease(self, reservation_id: str, *, actor: str, reason: str = R.RELEASED, wait: bool = True,
                  only_if_due: bool = False) -> Reservation:
        """release() for the jobs and the reconcile, which run in the primary before it serves
        changes. With only_if_due (expiry), it ends only if its end has come, decided in the
        same locked transaction: an extension committed meanwhile wins."""
        with self.database.write() as session:
            reservation = _locked(session, reservation_id)
            if reservation.state in ENDED:
                return reservation
            if reservation.state == R.PROVISIONING:
                raise Conflict("the reservation is still being provisioned; release it once it is active",
                               code="still_provisioning")
            if only_if_due and (reservation.state != R.ACTIVE or reservation.ends_at > self.clock()):
                return reservation
            if reservation.state == R.ACTIVE:
                reservation.state = R.RELEASING
                reservation.end_state = reason
                events.record(session, "release_requested", actor, lease_id=reservation_id, at=self.clock(),
                              detail={"reason": reason})
            nodes = transitions.start_release(session, reservation_id)
            username = reservation.username

        with self._releases_lock:
            group = self._releases.get(reservation_id)
            first = group is None
            if first:
                group = self._releases[reservation_id] = self.accounts.removal(
                    nodes, username, reservation_id, purpose="expire" if reason == R.EXPIRED else "release",
                    on_done=lambda done: self._released(reservation_id, done, actor))
        if first:
            # Submitted outside the lock: with batching off it runs (and completes) right here.
            self.on_lease_change(reservation_id, None)
            self.accounts.submit(group)
        self._wait(group, wait)
        return self.get(reservation_id)

    def _released(self, reservation_id: str, group: JobGroup, actor: str) -> None:
        try:
            with self.database.write() as session:
                reservation = _locked(session, reservation_id)
                reservation.state = reservation.end_state or R.RELEASED
                reservation.ended_at = self.clock()
                _observe_end(reservation)
                clear_secrets(reservation)
                self.accounts.give_back(session, group, reservation_id, actor, event=reservation.state)
        finally:
            with self._releases_lock:
                self._releases.pop(reservation_id, None)

    def releases_in_flight(self) -> set[str]:
        with self._releases_lock:
            return set(self._releases)

    def expire(self, reservation_id: str) -> None:
        """The exact-time job: expire one reservation if its end has come."""
        try:
            self.end_lease(reservation_id, actor="scheduler", reason=R.EXPIRED, wait=False, only_if_due=True)
        except (NotFound, Conflict):
            pass  # gone, or still provisioning: the sweep comes back to it

    def expire_due(self) -> int:
        """The sweep: expire every active reservation whose end has passed."""
        with self.database.read() as session:
            due = session.scalars(select(Reservation.id).where(Reservation.state == R.ACTIVE,
                                                               Reservation.ends_at <= self.clock())).all()
        for reservation_id in due:
            self.expire(reservation_id)
        return len(due)

    def release_all(self, *, actor: str = "anonymous") -> list[str]:
        """Release every reservation at once (their removals share Ansible runs)."""
        self.require_primary()
        with self.database.read() as session:
            current = list(session.scalars(select(Reservation.id).where(
                Reservation.state.in_([R.ACTIVE, R.RELEASING])).order_by(Reservation.created_at)))
        for reservation_id in current:
            self.end_lease(reservation_id, actor=actor, wait=False)
        for reservation_id in current:
            self.end_lease(reservation_id, actor=actor, wait=True)
        return current

    # ---- extend ------------------------------------------------------------------------

    def extend(self, reservation_id: str, minutes: int, *, actor: str = "anonymous",
               quota: Quota = NO_QUOTA) -> Reservation:
        rules.check_extension(minutes, self.settings)
        self.require_primary()
        lease_max = self.settings.lease_max_minutes
        with self.database.write() as session:
            reservation = _locked(session, reservation_id)
            if reservation.state != R.ACTIVE:
                raise Conflict(f"only an active reservation can be extended; this one is {reservation.state}",
                               code="not_active", state=reservation.state)
            new_end = reservation.ends_at + timedelta(minutes=minutes)
            lease_minutes = (new_end - reservation.starts_at).total_seconds() / 60
            if lease_minutes > lease_max:
                held = (reservation.ends_at - reservation.starts_at).total_seconds() / 60
                raise Conflict(f"a lease may last at most {lease_max} minutes in all", code="lease_limit",
                               limit_minutes=lease_max, remaining_minutes=int(lease_max - held))
            if quota.max_lease_minutes is not None and lease_minutes > quota.max_lease_minutes:
                raise Forbidden(f"your leases may last at most {quota.max_lease_minutes} minutes in all",
                                code="quota_lease", limit=quota.max_lease_minutes)
            reservation.ends_at = new_end
            reservation.extended_minutes += minutes
            events.record(session, "extended", actor, lease_id=reservation_id, at=self.clock(),
                          detail={"minutes": minutes, "ends_at": new_end.isoformat()})
        self.on_lease_change(reservation_id, new_end)
        return self.get(reservation_id)

    # ---- read --------------------------------------------------------------------------

    def get(self, reservation_id: str) -> Reservation:
        return self.queries.get(reservation_id)

    def all(self, **wanted) -> list[Reservation]:
        return self.queries.all(**wanted)

    # ---- helpers -----------------------------------------------------------------------

    def _wait(self, group: JobGroup, wait: bool) -> None:
        if wait:
            group.wait(self.request_timeout)
        if group.interrupted:
            raise Unavailable("the service is stopping: this is finished or undone when it starts again",
                              code="stopping", headers={"Retry-After": RETRY_AFTER})


def _locked(session: Session, reservation_id: str) -> Reservation:
    """The reservation, its row locked until the transaction ends (PostgreSQL; SQLite's write
    transactions are serialised already)."""
    reservation = session.scalar(select(Reservation).where(Reservation.id == reservation_id).with_for_update())
    if reservation is None:
        raise NotFound(f"no reservation {reservation_id}", code="reservation_not_found", id=reservation_id)
    return reservation


def _observe_claim(reservation: Reservation, failed: bool, now: datetime, launch: str) -> None:
    """A reservation claims members of the node pool (hot), or waits for new ones (cold): its
    time until its accounts are made."""
    CLAIM_DURATION.labels("reservation", launch, FAILURE if failed else SUCCESS).observe(
        (now - reservation.created_at).total_seconds())


def _observe_end(reservation: Reservation) -> None:
    """An expired reservation: how late after its end its accounts were gone."""
    if reservation.state == R.EXPIRED:
        EXPIRY_LAG.labels("reservation").observe(max(0.0, (reservation.ended_at - reservation.ends_at).total_seconds()))
