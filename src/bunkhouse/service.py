"""The reservation service: allocate, release, extend, expire, reconcile, sync the pool.

Pure Python (no Flask). Every node transition is one guarded SQL statement
(UPDATE ... WHERE state = <expected>), in a transaction that also writes the reservation and
the event log, and it is committed before any Ansible run starts: the database always knows
what is in flight, so a restart can finish or undo it (reconcile).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bunkhouse import engine, validation
from bunkhouse.auth import NO_QUOTA, Quota
from bunkhouse.batcher import AccountBatcher, AccountJob, JobGroup
from bunkhouse.config import Config
from bunkhouse.errors import Conflict, Forbidden, NotFound, Unavailable
from bunkhouse.models import (
    ACTIVE,
    CURRENT_STATES,
    DISABLED,
    ENDED_STATES,
    EXPIRED,
    FAILED,
    FREE,
    PROVISIONING,
    QUARANTINED,
    RELEASED,
    RELEASING,
    RELEASING_RESERVATION,
    RESERVED,
    RESERVING,
    Event,
    Node,
    Reservation,
    ReservationNode,
    Run,
    User,
    utcnow,
)
from bunkhouse.passwords import hash_password
from bunkhouse.provisioner import Provisioner, RunResult

log = logging.getLogger(__name__)

# How often allocation retries when another request took some of the nodes it picked.
_ALLOCATION_ATTEMPTS = 5


class ReservationService:
    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        provisioner: Provisioner,
        *,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.config = config
        self.sessions = sessions
        self.provisioner = provisioner
        self.clock = clock
        self.batcher = AccountBatcher(
            provisioner, batching=config.batching, window=config.batch_window, max_window=config.batch_window_max,
            standbys=config.ansible_standbys, record_run=self._record_run,
        )
        # Called with (reservation_id, ends_at) when a lease starts or changes, and with
        # (reservation_id, None) when it ends: the scheduler plugs in here.
        self.on_lease_change: Callable[[str, datetime | None], None] = lambda _id, _end: None
        # Releases whose account removal is queued or running in this process.
        self._releases: dict[str, JobGroup] = {}
        self._releases_lock = threading.Lock()

    # ---- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        self.batcher.start()

    def stop(self) -> None:
        self.batcher.stop()

    # ---- reserve ----------------------------------------------------------------------

    def reserve(self, username: str, password: str, count: int, duration_minutes: int,
                *, actor: str = "anonymous", owner: str | None = None, quota: Quota = NO_QUOTA,
                wait: bool = True) -> Reservation:
        validation.check_username(username)
        validation.check_password(password, self.config)
        validation.check_count(count, self.config)
        validation.check_duration(duration_minutes, self.config)
        if quota.max_duration_minutes is not None and duration_minutes > quota.max_duration_minutes:
            raise Forbidden(f"your leases may last at most {quota.max_duration_minutes} minutes",
                            code="quota_duration", limit=quota.max_duration_minutes, field="duration_minutes")
        # Asked before every reservation (a millisecond): one made while the engine is down would
        # fail on every node and quarantine them all.
        if not engine.engine_answers():
            raise Unavailable("the Docker engine does not answer: nothing was reserved; try again later",
                              code="engine_down")
        password_hash = hash_password(password)

        reservation_id = uuid.uuid4().hex
        with self.sessions.begin() as session:
            # One transaction: the reservation, its nodes and the event all exist, or none does.
            if owner is not None:
                self._check_nodes_quota(session, owner, count, quota)
            now = self.clock()
            session.add(Reservation(
                id=reservation_id, username=username, password_hash=password_hash, count=count, owner=owner,
                state=PROVISIONING, created_at=now, starts_at=now,
                ends_at=now + timedelta(minutes=duration_minutes),
            ))
            session.flush()
            nodes = self._allocate(session, reservation_id, count)
            for node in nodes:
                session.add(ReservationNode(reservation_id=reservation_id, node_name=node.name,
                                            ssh_port=node.ssh_port, host_keys=node.host_keys))
            self._event(session, "reserve_requested", actor, reservation_id,
                        detail={"username": username, "count": count, "duration_minutes": duration_minutes,
                                "nodes": [node.name for node in nodes]})

        group = JobGroup(
            [AccountJob(node.name, username, "present", password_hash) for node in nodes],
            purpose="reserve",
            on_done=lambda done: self._provisioned(reservation_id, done, actor),
        )
        self.batcher.submit(group)
        if wait:
            group.wait(self.config.request_timeout)
        reservation = self.get(reservation_id)
        if reservation.state == FAILED:
            raise Unavailable(reservation.error or "provisioning failed", code="provisioning_failed",
                              reservation_id=reservation.id)
        return reservation

    def _check_nodes_quota(self, session: Session, owner: str, count: int, quota: Quota) -> None:
        # Locks the owner's row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises), so two
        # requests of one user cannot both pass the check.
        session.execute(select(User.id).where(User.name == owner).with_for_update())
        if quota.max_nodes is None:
            return
        held = session.scalar(
            select(func.coalesce(func.sum(Reservation.count), 0))
            .where(Reservation.owner == owner, Reservation.state.in_(CURRENT_STATES))
        )
        if held + count > quota.max_nodes:
            raise Forbidden(f"you may hold at most {quota.max_nodes} nodes at once; you hold {held}",
                            code="quota_nodes", limit=quota.max_nodes, held=held, field="count")

    def _allocate(self, session: Session, reservation_id: str, count: int) -> list[Node]:
        """Move `count` free nodes to reserving for this reservation, or raise 409."""
        for _ in range(_ALLOCATION_ATTEMPTS):
            candidates = session.scalars(
                select(Node.id).where(Node.pool == self.config.pool, Node.state == FREE)
                .order_by(Node.id).limit(count)
            ).all()
            if len(candidates) < count:
                raise Conflict(
                    f"asked for {count} nodes, {len(candidates)} free",
                    code="pool_exhausted", requested=count, free=len(candidates),
                )
            taken = session.execute(
                update(Node).where(Node.id.in_(candidates), Node.state == FREE)
                .values(state=RESERVING, reservation_id=reservation_id, state_reason=None, updated_at=utcnow())
            ).rowcount
            if taken == count:
                return list(session.scalars(select(Node).where(Node.id.in_(candidates)).order_by(Node.id)))
            # Another transaction took some of them between our read and our write (possible on
            # PostgreSQL; SQLite's immediate transactions serialise): put ours back and retry.
            session.execute(
                update(Node).where(Node.id.in_(candidates), Node.reservation_id == reservation_id)
                .values(state=FREE, reservation_id=None)
            )
        free = session.scalar(select(func.count()).where(Node.pool == self.config.pool, Node.state == FREE))
        raise Conflict(f"asked for {count} nodes, {free} free", code="pool_exhausted", requested=count, free=free)

    def _provisioned(self, reservation_id: str, group: JobGroup, actor: str) -> None:
        """Runs when the accounts of a new reservation were made (or not)."""
        with self.sessions.begin() as session:
            reservation = session.get(Reservation, reservation_id)
            if not group.failed_nodes:
                session.execute(
                    update(Node).where(Node.reservation_id == reservation_id, Node.state == RESERVING)
                    .values(state=RESERVED)
                )
                reservation.state = ACTIVE
                self._event(session, "reserved", actor, reservation_id,
                            detail={"nodes": group.ok_nodes, "ends_at": reservation.ends_at.isoformat()})
                ends_at = reservation.ends_at
            else:
                self._quarantine(session, group.failed_nodes, reservation_id,
                                 "creating the account failed", actor)
                # The nodes that did get the account must lose it before anyone else gets them.
                session.execute(
                    update(Node).where(Node.reservation_id == reservation_id, Node.state == RESERVING)
                    .values(state=RELEASING)
                )
                reservation.state = FAILED
                reservation.ended_at = self.clock()
                reservation.error = (f"creating the account failed on {', '.join(group.failed_nodes)};"
                                     " the reservation was rolled back")
                self._event(session, "failed", actor, reservation_id,
                            detail={"failed_nodes": group.failed_nodes, "rolled_back": group.ok_nodes})
                ends_at = None
        if ends_at is not None:
            self.on_lease_change(reservation_id, ends_at)
        else:
            self._clean_nodes(group.ok_nodes, reservation_id, reservation.username, actor)

    # ---- release and expire ------------------------------------------------------------

    def release(self, reservation_id: str, *, actor: str = "anonymous", reason: str = RELEASED,
                wait: bool = True) -> Reservation:
        """End a reservation: remove its accounts, free its nodes. Idempotent: releasing one
        that is already being released waits for that release; an ended one is returned as is."""
        with self.sessions.begin() as session:
            reservation = _reservation_or_404(session, reservation_id)
            if reservation.state in ENDED_STATES:
                return reservation
            if reservation.state == PROVISIONING:
                raise Conflict("the reservation is still being provisioned; release it once it is active",
                               code="still_provisioning")
            if reservation.state == ACTIVE:
                reservation.state = RELEASING_RESERVATION
                reservation.end_state = reason
                self._event(session, "release_requested", actor, reservation_id, detail={"reason": reason})
            session.execute(
                update(Node).where(Node.reservation_id == reservation_id, Node.state == RESERVED)
                .values(state=RELEASING)
            )
            nodes = list(session.scalars(
                select(Node.name).where(Node.reservation_id == reservation_id, Node.state == RELEASING)
            ))
            username = reservation.username

        with self._releases_lock:
            group = self._releases.get(reservation_id)
            submit = group is None
            if submit:
                group = self._releases[reservation_id] = JobGroup(
                    [AccountJob(node, username, "absent") for node in nodes],
                    purpose="expire" if reason == EXPIRED else "release",
                    on_done=lambda done: self._released(reservation_id, done, actor),
                )
        if submit:
            self.on_lease_change(reservation_id, None)
            self.batcher.submit(group)
        if wait:
            group.wait(self.config.request_timeout)
        return self.get(reservation_id)

    def _released(self, reservation_id: str, group: JobGroup, actor: str) -> None:
        with self.sessions.begin() as session:
            reservation = session.get(Reservation, reservation_id)
            reservation.state = reservation.end_state or RELEASED
            reservation.ended_at = self.clock()
            self._return_nodes(session, group, reservation_id, actor, event=reservation.state)
        with self._releases_lock:
            self._releases.pop(reservation_id, None)

    def expire(self, reservation_id: str) -> None:
        """The scheduler's exact-time job: expire one reservation if its end has come."""
        with self.sessions() as session:
            reservation = session.get(Reservation, reservation_id)
            due = reservation is not None and reservation.state == ACTIVE and reservation.ends_at <= self.clock()
        if due:
            self.release(reservation_id, actor="scheduler", reason=EXPIRED, wait=False)

    def expire_due(self) -> int:
        """The minute sweep: expire every active reservation whose end has passed."""
        with self.sessions() as session:
            due = session.scalars(
                select(Reservation.id).where(Reservation.state == ACTIVE, Reservation.ends_at <= self.clock())
            ).all()
        for reservation_id in due:
            try:
                self.release(reservation_id, actor="scheduler", reason=EXPIRED, wait=False)
            except Conflict:
                pass
        return len(due)

    def release_all(self, *, actor: str = "anonymous") -> list[str]:
        """Release every reservation at once (their removals share Ansible runs)."""
        with self.sessions() as session:
            current = session.scalars(
                select(Reservation.id).where(Reservation.state.in_([ACTIVE, RELEASING_RESERVATION]))
            ).all()
        for reservation_id in current:
            self.release(reservation_id, actor=actor, wait=False)
        for reservation_id in current:
            self.release(reservation_id, actor=actor, wait=True)
        return list(current)

    # ---- extend ------------------------------------------------------------------------

    def extend(self, reservation_id: str, minutes: int, *, actor: str = "anonymous",
               quota: Quota = NO_QUOTA) -> Reservation:
        validation.check_extension(minutes, self.config)
        with self.sessions.begin() as session:
            reservation = _reservation_or_404(session, reservation_id)
            if reservation.state != ACTIVE:
                raise Conflict(f"only an active reservation can be extended; this one is {reservation.state}",
                               code="not_active", state=reservation.state)
            new_end = reservation.ends_at + timedelta(minutes=minutes)
            lease_minutes = (new_end - reservation.starts_at).total_seconds() / 60
            if lease_minutes > self.config.lease_max_minutes:
                raise Conflict(
                    f"a lease may last at most {self.config.lease_max_minutes} minutes in all",
                    code="lease_limit", limit_minutes=self.config.lease_max_minutes,
                    remaining_minutes=int(self.config.lease_max_minutes
                                          - (reservation.ends_at - reservation.starts_at).total_seconds() / 60),
                )
            if quota.max_lease_minutes is not None and lease_minutes > quota.max_lease_minutes:
                raise Forbidden(f"your leases may last at most {quota.max_lease_minutes} minutes in all",
                                code="quota_lease", limit=quota.max_lease_minutes)
            reservation.ends_at = new_end
            reservation.extended_minutes += minutes
            self._event(session, "extended", actor, reservation_id,
                        detail={"minutes": minutes, "ends_at": new_end.isoformat()})
        self.on_lease_change(reservation_id, new_end)
        return self.get(reservation_id)

    # ---- notice before the end --------------------------------------------------------

    def send_notice(self, reservation_id: str) -> RunResult | None:
        """Tell the account's open sessions on every node when the lease ends and how to extend
        it (the scheduler calls this BUNKHOUSE_NOTICE_SECONDS before the end)."""
        with self.sessions() as session:
            reservation = session.get(Reservation, reservation_id)
            if reservation is None or reservation.state != ACTIVE:
                return None
            nodes = list(session.scalars(select(Node.name).where(
                Node.reservation_id == reservation_id, Node.state == RESERVED)))
            username, ends_at = reservation.username, reservation.ends_at
        minutes = max(0, round((ends_at - self.clock()).total_seconds() / 60))
        message = (f"this lease ends at {ends_at.strftime('%H:%M')} UTC (in about {minutes} min): save your work."
                   f" To extend: POST /api/v1/reservations/{reservation_id}/extend")
        result = self.provisioner.run_playbook("notice.yml", {
            "bunkhouse_notice": {"nodes": nodes, "user": username, "message": message}})
        self._record_run(result, "notice")
        with self.sessions.begin() as session:
            self._event(session, "notice_sent", "scheduler", reservation_id,
                        detail={"nodes": nodes, "ok": result.ok, "ends_at": ends_at.isoformat()})
        return result

    # ---- read --------------------------------------------------------------------------

    def get(self, reservation_id: str) -> Reservation:
        with self.sessions() as session:
            reservation = _reservation_or_404(session, reservation_id)
            return reservation

    def reservations(self, *, states: tuple[str, ...] | None = None, owner: str | None = None) -> list[Reservation]:
        """Reservations in these states (all when None), of one owner (everyone's when None)."""
        with self.sessions() as session:
            query = select(Reservation).order_by(Reservation.created_at)
            if states:
                query = query.where(Reservation.state.in_(states))
            if owner is not None:
                query = query.where(Reservation.owner == owner)
            return list(session.scalars(query))

    def nodes(self) -> list[Node]:
        with self.sessions() as session:
            return list(session.scalars(select(Node).where(Node.pool == self.config.pool).order_by(Node.id)))

    def node_states(self, reservation_id: str) -> dict[str, str]:
        with self.sessions() as session:
            rows = session.execute(select(Node.name, Node.state).where(Node.reservation_id == reservation_id))
            return {name: state for name, state in rows}

    # ---- pool --------------------------------------------------------------------------

    def provision_pool(self) -> RunResult:
        """Run provision.yml for the configured pool (idempotent); sync_nodes reads the result."""
        result = self.provisioner.run_playbook("provision.yml", {
            **self._pool_variables(), "pool_node_count": self.config.pool_size,
        })
        self._record_run(result, "provision")
        if not result.ok:
            log.error("provisioning the pool failed:\n%s", result.stdout_tail)
        return result

    def _pool_variables(self) -> dict:
        """provision.yml's variables that place this service's pool on the engine."""
        return {
            "pool_node_pool": self.config.pool,
            "pool_node_ssh_port_first": self.config.ssh_port_first,
            "pool_node_ssh_port_last": self.config.ssh_port_last,
            "pool_node_ssh_bind_address": self.config.ssh_bind_address,
        }

    def sync_nodes(self) -> dict[str, list[str]]:
        """Bring the nodes table in line with the engine's containers of the pool.

        New running containers become free nodes (with their host key fingerprints); a free
        node whose container is missing or stopped is quarantined, never handed out.
        """
        # Ordered by node number (node-2 before node-10), so nodes are handed out in that order.
        containers = {container.name: container for container in sorted(
            engine.pool_containers(self.config.pool), key=lambda container: _natural_key(container.name))}
        added, quarantined = [], []
        with self.sessions.begin() as session:
            known = {node.name: node for node in session.scalars(select(Node).where(Node.pool == self.config.pool))}
            for name, container in containers.items():
                node = known.get(name)
                if node is None:
                    node = Node(name=name, pool=self.config.pool, ssh_port=container.ssh_port or 0,
                                state=FREE if container.running and container.ssh_port else QUARANTINED,
                                state_reason=None if container.running else "container not running")
                    session.add(node)
                    added.append(name)
                if container.running:
                    node.host_keys = engine.host_key_fingerprints(name) or node.host_keys
                if container.ssh_port:
                    node.ssh_port = container.ssh_port
            for name, node in known.items():
                container = containers.get(name)
                if node.state == FREE and (container is None or not container.running):
                    node.state = QUARANTINED
                    node.state_reason = "container missing" if container is None else "container not running"
                    quarantined.append(name)
                    self._event(session, "quarantined", "sync", None, name, {"reason": node.state_reason})
                elif node.state == QUARANTINED and container is not None and container.running \
                        and node.state_reason in ("container missing", "container not running"):
                    node.state, node.state_reason = FREE, None
        return {"added": added, "quarantined": quarantined}

    # ---- node health: quarantine, replacement, recovery, disable ---------------------

    def quarantine_node(self, name: str, reason: str, *, actor: str, wait: bool = True) -> str | None:
        """Take a node out of service. If it was reserved under an active reservation, the
        tenant gets a replacement from the free nodes (same account, password and end), or the
        reservation records the node as lost. Returns the replacement's name, if any."""
        with self.sessions.begin() as session:
            node = session.scalar(select(Node).where(Node.name == name))
            if node is None or node.state in (QUARANTINED, DISABLED):
                return None
            reservation = session.get(Reservation, node.reservation_id) if node.reservation_id else None
            was_reserved = node.state == RESERVED and reservation is not None and reservation.state == ACTIVE
            self._quarantine(session, [name], reservation.id if reservation else None, reason, actor)
            if not was_reserved:
                return None
            held = session.scalar(select(ReservationNode).where(
                ReservationNode.reservation_id == reservation.id, ReservationNode.node_name == name))
            held.lost_reason = reason
            try:
                replacement = self._allocate(session, reservation.id, 1)[0]
            except Conflict:
                self._event(session, "node_lost", actor, reservation.id, name,
                            {"reason": reason, "replacement": None, "why": "no free node"})
                return None
            held.replaced_by = replacement.name
            session.add(ReservationNode(reservation_id=reservation.id, node_name=replacement.name,
                                        ssh_port=replacement.ssh_port, host_keys=replacement.host_keys))
            username, password_hash, reservation_id = reservation.username, reservation.password_hash, reservation.id
            replacement_name = replacement.name

        def done(group: JobGroup) -> None:
            with self.sessions.begin() as session:
                still_active = session.scalar(select(Reservation.state).where(Reservation.id == reservation_id)) \
                    == ACTIVE
                if group.ok_nodes and not still_active:
                    # Released or expired while the replacement was made: take the account back.
                    session.execute(update(Node).where(Node.name == replacement_name, Node.state == RESERVING)
                                    .values(state=RELEASING))
                elif group.ok_nodes:
                    session.execute(update(Node).where(Node.name == replacement_name, Node.state == RESERVING)
                                    .values(state=RESERVED))
                    self._event(session, "replaced", actor, reservation_id, name,
                                {"lost": name, "replacement": replacement_name, "reason": reason})
                else:
                    self._quarantine(session, [replacement_name], reservation_id, "creating the account failed",
                                     actor)
                    session.execute(
                        update(ReservationNode)
                        .where(ReservationNode.reservation_id == reservation_id,
                               ReservationNode.node_name == replacement_name)
                        .values(lost_reason="creating the account failed"))
                    self._event(session, "node_lost", actor, reservation_id, name,
                                {"reason": reason, "replacement": None, "why": "the replacement failed"})
            if group.ok_nodes and not still_active:
                self._clean_nodes([replacement_name], reservation_id, username, actor)

        group = self.batcher.submit(JobGroup([AccountJob(replacement_name, username, "present", password_hash)],
                                             purpose="replace", on_done=done))
        if wait:
            group.wait(self.config.request_timeout)
        return replacement_name

    def recover_node(self, name: str, *, actor: str) -> bool:
        """Bring a quarantined node back: recreate its container with Ansible (a fresh, clean
        node with new host keys, whatever it held), then free it. False if that failed."""
        with self.sessions() as session:
            node = session.scalar(select(Node).where(Node.name == name))
            if node is None or node.state != QUARANTINED:
                return False
        index = _node_index(name)
        result = self.provisioner.run_playbook("provision.yml", {
            **self._pool_variables(), "pool_node_state": "recreated", "pool_node_first_index": index,
            "pool_node_count": 1,
        })
        self._record_run(result, "recover")
        keys = engine.host_key_fingerprints(name) if result.ok else {}
        with self.sessions.begin() as session:
            node = session.scalar(select(Node).where(Node.name == name, Node.state == QUARANTINED))
            if node is None:
                return False
            if not result.ok or not keys:
                return False  # still quarantined; the health job counts the failure and backs off
            node.state, node.state_reason, node.host_keys = FREE, None, keys
            node.health_failures, node.next_check_at = 0, None
            self._event(session, "recovered", actor, None, name, {"recreated": True})
        return True

    def disable_node(self, name: str, reason: str, *, actor: str) -> Node:
        """An admin takes a node out: it stays out whatever the health check says."""
        with self.sessions.begin() as session:
            node = _node_or_404(session, name)
            if node.state in (RESERVING, RESERVED, RELEASING):
                raise Conflict(f"node {name} is in use ({node.state}); release reservation {node.reservation_id}"
                               " first", code="node_in_use", state=node.state, reservation_id=node.reservation_id)
            if node.state != DISABLED:
                node.state, node.state_reason = DISABLED, reason or "disabled by an admin"
                self._event(session, "disabled", actor, None, name, {"reason": node.state_reason})
            return node

    def enable_node(self, name: str, *, actor: str) -> Node:
        """Put a disabled node back: it is recreated clean first (recover_node)."""
        with self.sessions.begin() as session:
            node = _node_or_404(session, name)
            if node.state != DISABLED:
                return node
            node.state, node.state_reason = QUARANTINED, "enabled by an admin; being recreated"
            self._event(session, "enabled", actor, None, name, {})
        self.recover_node(name, actor=actor)
        with self.sessions() as session:
            return _node_or_404(session, name)

    # ---- crash recovery ----------------------------------------------------------------

    def reconcile(self) -> dict[str, list[str]]:
        """Finish or undo whatever was in flight when the process died.

        A reservation caught provisioning is rolled back (its client never got an answer);
        one caught releasing is released again; any node left reserving or releasing has
        its account removed (the same idempotent playbook) before it is freed.
        """
        self.provisioner.kill_orphaned_runs()
        releasing: list[str] = []
        cleanup: dict[tuple[str, str], list[str]] = {}
        with self.sessions.begin() as session:
            for reservation in session.scalars(select(Reservation).where(Reservation.state == PROVISIONING)):
                reservation.state = FAILED
                reservation.ended_at = self.clock()
                reservation.error = "interrupted by a restart of the service; rolled back"
                self._event(session, "failed", "reconcile", reservation.id, detail={"reason": "restart"})
            session.flush()
            releasing = list(session.scalars(
                select(Reservation.id).where(Reservation.state == RELEASING_RESERVATION)))
            stray = session.execute(
                select(Node.name, Node.reservation_id, Reservation.username)
                .join(Reservation, Node.reservation_id == Reservation.id)
                .where(or_(
                    and_(Node.state.in_([RESERVING, RELEASING]), Reservation.state.in_([FAILED, PROVISIONING])),
                    # A replacement node being given its account when the process died.
                    and_(Node.state == RESERVING, Reservation.state == ACTIVE),
                ))
            ).all()
            for name, reservation_id, _ in stray:
                session.execute(
                    update(ReservationNode)
                    .where(ReservationNode.reservation_id == reservation_id, ReservationNode.node_name == name,
                           ReservationNode.lost_reason.is_(None))
                    .where(select(Reservation.state).where(Reservation.id == reservation_id).scalar_subquery()
                           == ACTIVE)
                    .values(lost_reason="the replacement was interrupted by a restart"))
            for name, reservation_id, username in stray:
                cleanup.setdefault((reservation_id, username), []).append(name)
            if stray:
                session.execute(update(Node).where(Node.name.in_([name for name, _, _ in stray]))
                                .values(state=RELEASING))
        for reservation_id in releasing:
            self.release(reservation_id, actor="reconcile", wait=False)
        for (reservation_id, username), nodes in cleanup.items():
            self._clean_nodes(nodes, reservation_id, username, "reconcile")
        return {"released": releasing, "cleaned": [node for nodes in cleanup.values() for node in nodes]}

    def _clean_nodes(self, nodes: list[str], reservation_id: str, username: str, actor: str) -> JobGroup:
        """Remove a rolled-back reservation's account from nodes, then free them (or quarantine)."""
        def done(group: JobGroup) -> None:
            with self.sessions.begin() as session:
                self._return_nodes(session, group, reservation_id, actor, event="rolled_back")

        return self.batcher.submit(JobGroup([AccountJob(node, username, "absent") for node in nodes],
                                            purpose="rollback", on_done=done))

    # ---- helpers -----------------------------------------------------------------------

    def _return_nodes(self, session: Session, group: JobGroup, reservation_id: str, actor: str, *,
                      event: str) -> None:
        """After an account removal: nodes it succeeded on are free again, the others quarantined."""
        self._quarantine(session, group.failed_nodes, reservation_id, "removing the account failed", actor)
        session.execute(
            update(Node).where(Node.name.in_(group.ok_nodes), Node.reservation_id == reservation_id,
                               Node.state == RELEASING)
            .values(state=FREE, reservation_id=None, state_reason=None)
        )
        self._event(session, event, actor, reservation_id,
                    detail={"freed": group.ok_nodes, "quarantined": group.failed_nodes})

    def _quarantine(self, session: Session, nodes: list[str], reservation_id: str | None,
                    reason: str, actor: str) -> None:
        if not nodes:
            return
        session.execute(
            update(Node).where(Node.name.in_(nodes)).values(state=QUARANTINED, reservation_id=None, state_reason=reason)
        )
        for node in nodes:
            self._event(session, "quarantined", actor, reservation_id, node, {"reason": reason})

    def _event(self, session: Session, kind: str, actor: str, reservation_id: str | None = None,
               node_name: str | None = None, detail: dict | None = None) -> None:
        session.add(Event(at=self.clock(), kind=kind, actor=actor, reservation_id=reservation_id,
                          node_name=node_name, detail=detail))

    def _record_run(self, result: RunResult, purpose: str) -> None:
        with self.sessions.begin() as session:
            session.add(Run(
                ident=result.ident, playbook=result.playbook, purpose=purpose, status=result.status, rc=result.rc,
                duration=result.duration, hosts=list(result.ok_hosts) + list(result.failed_hosts),
                failed_hosts=list(result.failed_hosts),
            ))


def _node_or_404(session: Session, name: str) -> Node:
    node = session.scalar(select(Node).where(Node.name == name))
    if node is None:
        raise NotFound(f"no node {name}", code="node_not_found", name=name)
    return node


def _node_index(name: str) -> int:
    """The node's number in its pool: the digits that end its name (bunkhouse-<pool>-<index>)."""
    match = re.search(r"-(\d+)$", name)
    if match is None:
        raise ValueError(f"{name} does not end with a node number")
    return int(match.group(1))


def _reservation_or_404(session: Session, reservation_id: str) -> Reservation:
    reservation = session.get(Reservation, reservation_id)
    if reservation is None:
        raise NotFound(f"no reservation {reservation_id}", code="reservation_not_found")
    return reservation


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
