"""Profiles (seed 004): preparing one makes each of its containers ready and holds them with a
lease until it ends (released, or expired at ends_at); the answers are seed 004's shapes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bunkhouse.config import ContainersSettings
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict, NotFound, Unavailable
from bunkhouse.core.events import Event
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.metrics import CLAIM_DURATION, EXPIRY_LAG, SUCCESS
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import Role
from bunkhouse.fleet import transitions
from bunkhouse.fleet.catalog import CatalogError
from bunkhouse.fleet.models import Container, Power
from bunkhouse.fleet.named import POOL_PREFIX, NamedContainers
from bunkhouse.profiles.models import ProfileLease

log = logging.getLogger(__name__)

_COUNTED = ("container_started", "container_stopped", "container_removed", "container_failed")


def _launch(rows, named: NamedContainers) -> str:
    """How warm a prepare's containers were: hot (all ready), warm (some stopped), cold (some absent)."""
    powers = {row.power for row in rows if not named.is_ready(row)}
    if not powers:
        return "hot"
    return "warm" if powers <= {Power.STOPPED, Power.STARTING, Power.STOPPING} else "cold"


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


class ProfileService:
    def __init__(self, settings: ContainersSettings, database: Database, named: NamedContainers, role: Role, *,
                 jobs_running: Callable[[], bool] = lambda: False, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.jobs_running = jobs_running
        # Why the containers file in force could not be loaded at start, if it could not.
        self.load_error: str | None = None
        self.database = database
        self.named = named
        self.role = role
        self.clock = clock
        # Told the strategy of each reload put in force (the SSH node pool recreates its stale members).
        self.reload_listeners: list[Callable[[str], None]] = []

    def containers_of(self, profile_id: str) -> tuple[str, ...]:
        names = self.named.catalog.profiles.get(profile_id)
        if names is None:
            raise NotFound(f"profile {profile_id} is not in the containers file", code="profile_not_found",
                           profile_id=profile_id)
        return names

    # ---- leases ------------------------------------------------------------------------------

    def prepare(self, profile_id: str, *, force_restart: bool = False, owner: str | None = None,
                seconds: int | None = None) -> dict:
        """Hold the profile's containers with a new lease and start those not running."""
        started = time.monotonic()
        self.role.require_acting()
        names = self.containers_of(profile_id)
        seconds = self._seconds(seconds)
        now = self.clock()
        before = self.named.rows(names)
        lease = ProfileLease(id=uuid.uuid4().hex, profile_id=profile_id, owner=owner, containers=list(names),
                             created_at=now, ends_at=now + timedelta(seconds=seconds))
        self.named.acquire(names, lease.id, force_restart=force_restart, with_rows=[lease])
        rows = self.named.rows(names)
        containers = {}
        for name in names:
            row = rows.get(name)
            ready = self.named.is_ready(row)
            containers[name] = {"status": "ready" if ready else (row.power if row else Power.ABSENT),
                                "healthy": bool(ready), "estimated_time": self.named.estimate(row) if row else 0}
        waits = [entry["estimated_time"] for entry in containers.values()]
        CLAIM_DURATION.labels("profile", _launch(before.values(), self.named), SUCCESS).observe(
            time.monotonic() - started)
        return {"profile_id": profile_id, "containers": containers,
                "all_ready": all(entry["status"] == "ready" for entry in containers.values()),
                "estimated_wait_seconds": max(waits, default=0), "lease": self.lease_view(lease),
                "timestamp": iso(now)}

    def lease(self, lease_id: str) -> ProfileLease:
        with self.database.read() as session:
            return get_or_404(session, ProfileLease, "profile lease", "lease_not_found", id=lease_id)

    def leases(self, owner: str | None, *, current_only: bool = True) -> list[ProfileLease]:
        with self.database.read() as session:
            statement = select(ProfileLease).order_by(ProfileLease.created_at)
            if owner is not None:
                statement = statement.where(ProfileLease.owner == owner)
            if current_only:
                statement = statement.where(ProfileLease.ended_at.is_(None))
            return list(session.scalars(statement))

    def extend(self, lease_id: str, seconds: int) -> ProfileLease:
        if seconds < 1:
            raise BadRequest("seconds must be at least 1", code="invalid_seconds", field="seconds")
        with self.database.write() as session:
            lease = get_or_404(session, ProfileLease, "profile lease", "lease_not_found", id=lease_id)
            if lease.ended_at is not None:
                raise Conflict(f"lease {lease_id} ended at {iso(lease.ended_at)}", code="lease_ended")
            cap = lease.created_at + timedelta(seconds=self.settings.lease_max_seconds)
            wanted = lease.ends_at + timedelta(seconds=seconds)
            if wanted > cap:
                raise BadRequest(f"a profile lease lasts at most {self.settings.lease_max_seconds} s"
                                 " (BUNKHOUSE_PREPARE_LEASE_MAX_SECONDS) from its start",
                                 code="lease_too_long", field="seconds", ends_at_most=iso(cap))
            lease.ends_at = wanted
        return self.lease(lease_id)

    def release(self, lease_id: str, *, reason: str = "released") -> ProfileLease:
        """End the lease now (idempotent): its containers are let go; the warmth round stops
        a warm one ttl_seconds later and removes a cold one."""
        with self.database.write() as session:  # the lease ends with its holds, or not at all
            lease = get_or_404(session, ProfileLease, "profile lease", "lease_not_found", id=lease_id)
            if lease.ended_at is None:
                lease.ended_at, lease.end_reason = self.clock(), reason
            transitions.end_holds(session, lease_id, at=self.clock())
        return self.lease(lease_id)

    def end_due(self) -> list[str]:
        """End every lease whose time is up (the warmth round calls it)."""
        now = self.clock()
        with self.database.read() as session:
            due = list(session.scalars(select(ProfileLease.id).where(ProfileLease.ended_at.is_(None),
                                                                     ProfileLease.ends_at <= now)))
        for lease_id in due:
            lease = self.release(lease_id, reason="expired")
            EXPIRY_LAG.labels("profile").observe(max(0.0, (lease.ended_at - lease.ends_at).total_seconds()))
        return due

    def _seconds(self, seconds: int | None) -> int:
        if seconds is None:
            return self.settings.lease_seconds
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise BadRequest("lease_seconds must be a whole number of seconds, at least 1",
                             code="invalid_lease_seconds", field="lease_seconds")
        if seconds > self.settings.lease_max_seconds:
            raise BadRequest(f"lease_seconds is at most {self.settings.lease_max_seconds}"
                             " (BUNKHOUSE_PREPARE_LEASE_MAX_SECONDS)", code="invalid_lease_seconds",
                             field="lease_seconds")
        return seconds

    def reload(self, strategy: str):
        """Put the containers file, as it is now, in force: its network and images first (a file
        whose image cannot be built is not put in force), then its rows. An invalid file is a
        400 and nothing changes."""
        self.role.require_acting()
        try:
            catalog = self.named.load()
        except CatalogError as error:
            raise BadRequest(str(error), code="invalid_containers_file") from None
        built = self.named.provision(catalog)
        if not built.ok:
            raise Unavailable(f"the containers file's network or images could not be made ({built.status}, run"
                              f" {built.ident}): nothing changed", code="provision_failed", run=built.ident)
        change = self.named.adopt(catalog, strategy=strategy)
        self.load_error = None
        for listener in self.reload_listeners:
            listener(strategy)
        return change

    def problem(self) -> str | None:
        """Why the orchestration is not healthy (seed 004's /health answers 503), or None."""
        if not self.role.ready:
            return f"Orchestrator not initialized: bunkhouse is starting ({self.role.waiting_for})"
        if self.load_error:
            return f"the containers file could not be loaded: {self.load_error}"
        if not self.named.engine.answers():
            return "the Docker engine does not answer"
        return None

    # ---- seed 004's reads ----------------------------------------------------------------------

    def status(self, profile_id: str) -> dict:
        names = self.containers_of(profile_id)
        rows = self.named.rows(names)
        now = self.clock()
        containers = {name: self.container_view(rows.get(name), name, now) for name in names}
        return {"profile_id": profile_id, "containers": containers,
                "ready": all(self.named.is_ready(rows.get(name)) for name in names), "timestamp": iso(now)}

    def container_view(self, row: Container | None, name: str, now: datetime) -> dict:
        spec = self.named.spec(name)
        running = row is not None and row.power == Power.RUNNING
        host = self.settings.public_host
        return {
            "container_name": name, "status": row.power if row else Power.ABSENT, "pool": spec.pool,
            "healthy": bool(self.named.is_ready(row)),
            "uptime_seconds": round((now - row.started_at).total_seconds(), 1) if running and row.started_at else 0.0,
            "last_used": iso(row.last_used_at) if row else None, "metrics": None,
            "addresses": {port: f"{host}:{published}" for port, published in (row.endpoints or {}).items()}
            if running else {},
        }

    def pool(self, pool_type: str) -> dict:
        pool = self.named.catalog.pools.get(pool_type)
        if pool is None:
            raise NotFound(f"pool {pool_type} is not in the containers file (the pools: "
                           f"{', '.join(self.named.catalog.pools) or 'none'})", code="pool_not_found",
                           pool_type=pool_type)
        names = [spec.name for spec in self.named.catalog.in_pool(pool_type)]
        rows = self.named.rows(names)
        return {"pool_type": pool_type, "description": pool.description, "containers": names,
                "active_count": sum(1 for name in names if rows.get(name) and rows[name].power == Power.RUNNING),
                "total_count": len(names), "health_check_interval": pool.health_check_interval,
                "ttl_seconds": pool.ttl_seconds}

    @staticmethod
    def lease_view(lease: ProfileLease) -> dict:
        return {"id": lease.id, "profile_id": lease.profile_id, "owner": lease.owner, "containers": lease.containers,
                "created_at": iso(lease.created_at), "ends_at": iso(lease.ends_at), "ended_at": iso(lease.ended_at),
                "end_reason": lease.end_reason}

    def metrics(self) -> dict:
        """Seed 004's counters, from the event log (so every process of a deployment agrees)."""
        with self.database.read() as session:
            kinds = dict(session.execute(select(Event.kind, func.count()).where(Event.kind.in_(_COUNTED))
                                         .group_by(Event.kind)).all())
            starts = [detail.get("seconds") for detail in session.scalars(
                select(Event.detail).where(Event.kind == "container_started").order_by(Event.id.desc()).limit(1000))
                if detail and detail.get("seconds") is not None]
        rows = self.named.rows()
        running = [row for row in rows.values() if row.power == Power.RUNNING]
        distribution = {warmth: 0 for warmth in self.named.catalog.pools}
        for row in running:
            warmth = row.pool.removeprefix(POOL_PREFIX)
            if warmth in distribution:
                distribution[warmth] += 1
        return {"total_starts": kinds.get("container_started", 0),
                "total_stops": kinds.get("container_stopped", 0) + kinds.get("container_removed", 0),
                "total_failures": kinds.get("container_failed", 0),
                "average_startup_time": round(sum(starts) / len(starts), 3) if starts else 0.0,
                "active_containers": len(running), "pool_distribution": distribution,
                "timestamp": iso(self.clock())}
