"""The named containers of the containers file (fleet/catalog.py): one row each in the
containers table (pool "containers:<warmth>", template = its name), shared by the leases that
hold it (ContainerHold), kept as warm as its pool says.

Demand (acquire, start) moves a container's power to `starting` in one guarded statement and
queues its start; every change queued at one moment is one pool_member.yml run, where Ansible
makes the containers in parallel. The warmth round (the scheduler's job) starts hot ones that
do not run, stops warm ones ttl_seconds after their last use, removes cold ones ttl_seconds
after theirs, removes those the file no longer lists, recreates stale ones nobody holds, and
reads what the engine says of each (running, healthy) at each pool's health_check_interval.
Nothing here knows a product: a holder is an opaque lease id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bunkhouse.config import ContainersSettings
from bunkhouse.core.db import Database
from bunkhouse.core.errors import Conflict, NotFound
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import Role
from bunkhouse.fleet import catalog as catalogs
from bunkhouse.fleet import transitions
from bunkhouse.fleet.catalog import Catalog, ContainerSpec, NodeBounds
from bunkhouse.fleet.engines import EngineClient
from bunkhouse.fleet.member_runs import PLAYBOOK, MemberRuns
from bunkhouse.fleet.models import POWER_IN_FLIGHT, Container, Power
from bunkhouse.fleet.warmth import POOL_PREFIX, RETIRED, STARTABLE, wanted_change
from bunkhouse.runner.batcher import Batcher, Job, JobGroup
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult

log = logging.getLogger(__name__)

PROVISION_PLAYBOOK = "pool_member_provision.yml"


@dataclass(frozen=True)
class Reload:
    added: list[str]
    removed: list[str]
    changed: list[str]
    strategy: str


class NamedContainers:
    def __init__(self, database: Database, runner: Runner, engine: EngineClient, role: Role,
                 settings: ContainersSettings, project_dir: Path, *, nodes: NodeBounds | None = None,
                 outbound: bool = True, firewall: bool = True, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.runner = runner
        self.engine = engine
        self.role = role
        self.settings = settings
        self.path = settings.path(project_dir)
        self.clock = clock
        self.nodes = nodes
        self.network_guard = {"pool_member_outbound": outbound, "pool_member_firewall": firewall}  # as the nodes'
        # Told each catalog put in force (the fleet takes its ssh_node entry).
        self.catalog_listeners: list[Callable[[Catalog], None]] = []
        self._catalog = Catalog.empty()
        self._lock = threading.Lock()  # one reload or round at a time
        self._health_read_at: dict[str, datetime] = {}
        self.runs = MemberRuns(database, runner, engine, settings, lambda: self.catalog,
                               project_dir / "inventory" / "engines.yml", clock=clock)
        self.batcher = Batcher(runner, PLAYBOOK, "pool_member_containers", window=0.02, max_window=0.2,
                               run_batch=self.runs.apply)

    # ---- the file -------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The containers file in force."""
        return self._catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        self._catalog = catalog
        for listener in self.catalog_listeners:
            listener(catalog)

    def load(self) -> Catalog:
        """Read and validate the containers file (a CatalogError changes nothing)."""
        return catalogs.load(self.path, self.nodes) if self.path else Catalog.empty()

    def adopt(self, catalog: Catalog, *, strategy: str = "on_release") -> Reload:
        """Make `catalog` the one in force: a row for each new container, its pool for each
        kept one; a container no longer listed is retired (removed once nobody holds it, or now
        with strategy "immediate", which also recreates the changed ones now)."""
        with self._lock:
            self.catalog = catalog
            with self.database.write() as session:
                rows = {row.name: row for row in session.scalars(select(Container).where(
                    Container.pool.like(POOL_PREFIX + "%")))}
                for name, spec in catalog.containers.items():
                    row = rows.get(name)
                    if row is None:
                        session.add(Container(name=name, pool=POOL_PREFIX + spec.pool, template=name,
                                              engine=self.engine.name, port=0, power=Power.ABSENT))
                    else:
                        row.pool = POOL_PREFIX + spec.pool
                for name, row in rows.items():
                    if name in catalog.containers:
                        continue
                    if row.power in (Power.ABSENT, None):
                        session.delete(row)  # nothing on the engine: nothing to wait for
                    else:
                        row.pool = RETIRED
            removed = sorted(set(rows) - set(catalog.containers))
            changed = sorted(name for name, spec in catalog.containers.items()
                             if name in rows and rows[name].spec_digest not in (None, spec.digest))
            added = sorted(set(catalog.containers) - set(rows))
        if strategy == "immediate":
            self._change(removed, "absent", expected=(Power.RUNNING, Power.STOPPED, Power.FAILED), purpose="reload")
            self._change(changed, "recreated", expected=(Power.RUNNING,), purpose="reload")
        log.info("containers file in force: %d containers (added %s, removed %s, changed %s)",
                 len(catalog.containers), added, removed, changed)
        return Reload(added, removed, changed, strategy)

    def reconcile(self) -> dict[str, str]:
        """At start: each named container's power as the engine says it is (a run cut short by
        a restart left some starting or stopping). Returns {name: power} of those it changed."""
        return self.runs.read_back()

    def provision(self, catalog: Catalog | None = None) -> RunResult:
        """Make the engine ready for `catalog` (the one in force by default), in one run: the named
        containers' network and firewall chains, and the images of build folders, when changed."""
        images = sorted({(spec.image, spec.build) for spec in (catalog or self.catalog).containers.values()
                         if spec.build})
        variables = {"pool_member_images": [{"image": image, "build": build} for image, build in images]}
        result = self.runner.run(PROVISION_PLAYBOOK, {**variables, **self.network_guard}, purpose="provision",
                                 inventory=self.runs.engines_inventory)
        if not result.ok:
            log.error("making the engine ready for named containers failed:\n%s", result.stdout_tail)
        return result

    def spec(self, name: str) -> ContainerSpec:
        spec = self.catalog.containers.get(name)
        if spec is None:
            raise NotFound(f"container {name} is not in the containers file", code="container_not_found",
                           container=name)
        return spec

    # ---- reads -------------------------------------------------------------------------------

    def rows(self, names: Collection[str] | None = None) -> dict[str, Container]:
        with self.database.read() as session:
            statement = select(Container).where(Container.pool.like(POOL_PREFIX + "%"))
            if names is not None:
                statement = statement.where(Container.name.in_(list(names)))
            return {row.name: row for row in session.scalars(statement)}

    def holders(self, names: Collection[str]) -> dict[str, list[str]]:
        with self.database.read() as session:
            return transitions.active_holders(session, names)

    def is_ready(self, row: Container | None) -> bool:
        """Running, and healthy when its entry has a health check (not yet known is not ready)."""
        if row is None or row.power != Power.RUNNING:
            return False
        spec = self.catalog.containers.get(row.name)
        return row.healthy is True if spec is not None and spec.health_check else row.healthy is not False

    def estimate(self, row: Container) -> int:
        """Seconds until it is ready: 0 when it is; else its measured start time (a moving
        average), else the mean of the others' measured starts, else its start timeout."""
        if self.is_ready(row):
            return 0
        if row.start_seconds is not None:
            return max(1, round(row.start_seconds))
        measured = [other.start_seconds for other in self.rows().values() if other.start_seconds is not None]
        if measured:
            return max(1, round(sum(measured) / len(measured)))
        spec = self.catalog.containers.get(row.name)
        return spec.start_timeout_seconds if spec else 0

    # ---- demand ------------------------------------------------------------------------------

    def acquire(self, names: Collection[str], holder: str, *, force_restart: bool = False,
                with_rows: Collection[object] = ()) -> list[str]:
        """`holder` needs these containers running: its holds are recorded (with `with_rows`,
        the holder's own rows, in the same transaction) and each one not running (or every
        one, with force_restart) is started, all in one run. Returns those whose start this
        call queued."""
        for name in names:
            self.spec(name)
        with self.database.write() as session:
            session.add_all(with_rows)
            transitions.add_holds(session, names, holder)
            starting = transitions.power(session, names, Power.STARTING, expected=STARTABLE)
            restarting = (transitions.power(session, names, Power.STARTING, expected=(Power.RUNNING,))
                          if force_restart else [])
        self._submit({**{name: "started" for name in starting}, **{name: "recreated" for name in restarting}},
                     purpose="demand")
        return sorted(starting + restarting)

    def start(self, name: str, *, wait_for_health: bool = True, timeout: int | None = None) -> bool:
        """Start one container (a start of one already starting or running is not another).
        True if this call queued a start."""
        self.spec(name)
        with self.database.write() as session:
            queued = transitions.power(session, [name], Power.STARTING, expected=STARTABLE,
                                       last_used_at=self.clock())
        if queued:
            self._submit({name: "started"}, purpose="start",
                         options={name: {"wait_for_health": wait_for_health, "timeout": timeout}})
        return bool(queued)

    def stop(self, name: str, *, force: bool = False, timeout: int = 30) -> bool:
        """Stop one container and wait for it (up to `timeout` seconds beyond Docker's own stop
        timeout). Refused while a lease holds it, unless forced. True when it is stopped."""
        self.spec(name)
        power = self.rows([name])[name].power
        if power in (Power.STARTING, Power.REMOVING):
            raise Conflict(f"container {name} is {power}: try again once it is done", code="container_busy",
                           container=name, power=power)
        with self.database.write() as session:
            if force:  # taken from its leases: none of them holds it any more (their others stay held)
                transitions.end_holds(session, None, names=[name], at=self.clock())
            queued = transitions.power(session, [name], Power.STOPPING, expected=(Power.RUNNING, Power.FAILED),
                                       unheld=True)
            holders = transitions.active_holders(session, [name]).get(name, [])
        if holders:
            raise Conflict(f"container {name} is held by lease {holders[0]}: release it first, or stop with"
                           " force", code="container_held", container=name, lease_id=holders[0], holders=holders)
        if not queued:
            return self.rows([name])[name].power in (Power.STOPPED, Power.ABSENT)
        group = self._submit({name: "stopped"}, purpose="stop", options={name: {"stop_timeout": timeout}})
        group.wait(timeout + 60)
        return self.rows([name])[name].power == Power.STOPPED

    # ---- the warmth round ----------------------------------------------------------------------

    def round(self) -> dict[str, list[str]]:
        """One round of the warmth job; returns what it queued, by change."""
        if not (self.role.primary and self.role.ready):
            return {}
        with self._lock:
            now = self.clock()
            due = [warmth for warmth, pool in self.catalog.pools.items()
                   if now - self._health_read_at.get(warmth, now - timedelta(days=1))
                   >= timedelta(seconds=pool.health_check_interval)]
            if self.runs.read_health(due):
                self._health_read_at.update({warmth: now for warmth in due})
            rows = self.rows()
            held = self.holders(list(rows))
            wanted: dict[str, list[str]] = {"started": [], "stopped": [], "absent": [], "recreated": []}
            for name, row in rows.items():
                change = wanted_change(row, self.catalog, name in held, now)
                if change:
                    wanted[change].append(name)
        self.runs.read_back(self._stuck(rows, now))
        queued = {}
        for change, names in wanted.items():
            expected = {"started": STARTABLE, "stopped": (Power.RUNNING, Power.FAILED), "recreated": (Power.RUNNING,),
                        "absent": (Power.RUNNING, Power.STOPPED, Power.FAILED)}[change]
            # Only what nobody holds at the moment of the change is stopped, removed or recreated.
            queued[change] = self._change(names, change, expected=expected, purpose="warmth",
                                          unheld=change != "started")
        with self.database.write() as session:  # retired, gone from the engine, let go: nothing left to wait for
            session.execute(delete(Container).where(Container.pool == RETIRED, Container.power == Power.ABSENT,
                                                    Container.name.not_in(list(held))))
        return {change: names for change, names in queued.items() if names}

    def _stuck(self, rows: dict[str, Container], now: datetime) -> list[str]:
        """Containers a run left in flight (it failed before recording them) longer than any run lasts."""
        longest = timedelta(seconds=max([spec.start_timeout_seconds for spec in self.catalog.containers.values()]
                                        + [60]) + 180)
        running = self.batcher.in_flight()
        return [name for name, row in rows.items() if row.power in POWER_IN_FLIGHT and name not in running
                and now - row.updated_at > longest]

    # ---- runs ----------------------------------------------------------------------------------

    def _change(self, names: list[str], change: str, *, expected: Collection[str], purpose: str,
                unheld: bool = False) -> list[str]:
        if not names:
            return []
        target = {"started": Power.STARTING, "recreated": Power.STARTING, "stopped": Power.STOPPING,
                  "absent": Power.REMOVING}[change]
        with self.database.write() as session:
            moved = transitions.power(session, names, target, expected=expected, unheld=unheld)
        self._submit({name: change for name in moved}, purpose=purpose)
        return moved

    def _submit(self, changes: dict[str, str], *, purpose: str,
                options: dict[str, dict[str, Any]] | None = None) -> JobGroup:
        options = options or {}
        group = JobGroup([Job(name, {"change": change, **options.get(name, {})}) for name, change in changes.items()],
                         purpose=purpose)
        if changes:
            self.batcher.submit(group)
        else:
            group.done.set()
        return group
