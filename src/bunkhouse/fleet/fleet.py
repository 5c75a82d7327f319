"""The fleet of one pool: its members on the engine, provisioned, synced and recreated (an
operator's hand on them is hands.py); claims and releases go through transitions.py in the
caller's transaction.

A product holds members by lease id (Container.holder) and listens for losses: when the
monitor quarantines a member that was held, every listener of on_lost() is told (container,
holder, reason) after the quarantine is committed.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import select, update

from bunkhouse.core.db import Database
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.metrics import FAILURE, START_DURATION, SUCCESS
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import Role
from bunkhouse.fleet import transitions
from bunkhouse.fleet.catalog import NodePoolSpec
from bunkhouse.fleet.engines import EngineClient
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.fleet.pool import Pool, natural_key
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult

log = logging.getLogger(__name__)

LostListener = Callable[[str, str, str], None]  # (container, holder, reason)

# Why the sync quarantines a free member, and the reasons it may lift by itself.
_GONE = ("container missing", "container not running")


class Fleet:
    def __init__(self, database: Database, runner: Runner, engine: EngineClient, pool: Pool, role: Role, *,
                 clock: Callable[[], datetime] = utcnow):
        self.database = database
        # Only the primary process, once started, runs Ansible (core/primary.py).
        self.role = role
        self.runner = runner
        self.engine = engine
        self.pool = pool
        # The pool as the settings make it; the containers file's ssh_node entry is put on it.
        self.settings_pool = pool
        self.clock = clock
        self._lost_listeners: list[LostListener] = []
        # A pool_provision.yml run of this process checked the engine (image, network, firewall
        # chains) and the engine has not been down since: runs on some members skip those checks.
        self.engine_checked = False
        # The user and group names of the node image, read from a clean free member (sync()):
        # no tenant account may take one.
        self.image_names: frozenset[str] = frozenset()
        # Quarantined members this process is recreating now (the monitor's recovery, the pool's
        # refresh of stale ones): no second recreation of one starts meanwhile.
        self._recreating: set[str] = set()
        self._recreating_lock = threading.Lock()

    # ---- reads -------------------------------------------------------------------------

    def members(self) -> list[Container]:
        with self.database.read() as session:
            return list(session.scalars(select(Container).where(Container.pool == self.pool.name)
                                        .order_by(Container.id)))

    def member(self, name: str) -> Container:
        with self.database.read() as session:
            return get_or_404(session, Container, "node", "node_not_found", name=name)

    def states_by_holder(self, holders: Collection[str]) -> dict[str, dict[str, str]]:
        """{holder: {container: state}} for every container these holders hold: one query."""
        if not holders:
            return {}
        found: dict[str, dict[str, str]] = {holder: {} for holder in holders}
        with self.database.read() as session:
            rows = session.execute(select(Container.holder, Container.name, Container.state)
                                   .where(Container.holder.in_(list(holders))))
            for holder, name, state in rows:
                found[holder][name] = state
        return found

    def engine_answers(self) -> bool:
        return self.engine.answers()

    def put_entry(self, entry: NodePoolSpec | None) -> None:
        """The containers file's ssh_node entry in force (None: the settings alone). Members made
        from now on get its limits; the pool's size follows at the next sizing round."""
        pool = self.settings_pool.with_entry(entry)
        if pool != self.pool:
            log.info("pool %s: min %d, max %d, idle %d s, limits %s", pool.name, pool.size, pool.max_size,
                     pool.idle_seconds, pool.template.limits)
        self.pool = pool

    # ---- making members ------------------------------------------------------------------

    def provision(self) -> RunResult:
        """Run pool_provision.yml for the pool (idempotent); sync() reads the result."""
        result = self.runner.run("pool_provision.yml", self.pool.variables(), purpose="provision")
        if not result.ok:
            log.error("provisioning the pool failed:\n%s", result.stdout_tail)
        self.engine_checked = result.ok
        return result

    def change_members(self, names: list[str], state: str, *, purpose: str, pool: Pool | None = None) -> RunResult:
        """One pool_provision.yml run on these members (made, recreated or removed) as `pool` (the
        one in force by default) makes them; a run that checked the engine too (none had since it
        answered again) lets the next ones skip it."""
        checked = self.engine_checked
        result = self.runner.run("pool_provision.yml", (pool or self.pool).some_members(names, state,
                                                                                        engine_checked=checked),
                                 purpose=purpose)
        if result.ok and not checked and state != "absent":  # a removal checks no network
            self.engine_checked = True
        return result

    def sync(self) -> dict[str, list[str]]:
        """Bring the containers table in line with the engine's containers of the pool.

        New running containers become free members (with their host key fingerprints); a free
        member whose container is missing or stopped is quarantined, never handed out.
        """
        pool = self.pool
        # Ordered by member number (node-2 before node-10), so they are handed out in that order.
        found = {info.name: info for info in sorted(self.engine.containers(pool.name, pool.template.port),
                                                    key=lambda info: natural_key(info.name))}
        keys = {name: self.engine.host_keys(name) for name, info in found.items() if info.running}
        added, quarantined, free = [], [], []
        with self.database.write() as session:
            known = {row.name: row for row in session.scalars(select(Container).where(Container.pool == pool.name))}
            for name, info in found.items():
                row = known.get(name)
                if row is None:
                    usable = info.running and info.port
                    row = self._new_member(name, info.port or 0, S.FREE if usable else S.QUARANTINED,
                                           state_reason=None if usable else "container not running")
                    session.add(row)
                    added.append(name)
                if keys.get(name):
                    row.host_keys = keys[name]
                if info.port:
                    row.port = info.port
                row.spec_digest = info.digest or None
            session.flush()
            for name in known:
                info = found.get(name)
                if info is None or not info.running:
                    reason = _GONE[0] if info is None else _GONE[1]
                    quarantined += transitions.quarantine(session, [name], reason, holder=None, states=[S.FREE],
                                                          actor="sync")
                else:
                    transitions.release_from_quarantine(session, name, _GONE)
            free = [row.name for row in known.values() if row.state == S.FREE] + added
        self._read_image_names([name for name in free if keys.get(name)])
        return {"added": added, "quarantined": quarantined}

    def adopt(self, names: list[str]) -> list[str]:
        """Record these members, just made, as free with their host keys (sync() without reading
        the whole pool); returns those recorded. One not running or without keys is left out."""
        pool = self.pool
        try:
            found = {info.name: info for info in self.engine.containers(pool.name, pool.template.port)}
        except (OSError, RuntimeError) as error:
            log.warning("could not read the new nodes %s from the engine: %s", names, error)
            return []
        # Asked of the engine before the write transaction opens: no docker exec holds it.
        keys = {name: self._host_keys(name) for name in names
                if (info := found.get(name)) is not None and info.running and info.port}
        added = []
        with self.database.write() as session:
            known = set(session.scalars(select(Container.name).where(Container.name.in_(names))))
            for name in names:
                if name in known or not keys.get(name):
                    continue
                session.add(self._new_member(name, found[name].port, S.FREE, host_keys=keys[name],
                                             spec_digest=found[name].digest or None))
                added.append(name)
        return added

    def _new_member(self, name: str, port: int, state: str, **fields) -> Container:
        """The row of a member found on (or just made on) this fleet's engine."""
        pool = self.pool
        return Container(name=name, pool=pool.name, template=pool.template.name, engine=self.engine.name, port=port,
                         state=state, **fields)

    def _read_image_names(self, free: list[str]) -> None:
        for name in free[:1]:
            names = self.engine.account_names(name)
            if names:
                self.image_names = names

    def restart_sshd(self, name: str) -> bool:
        """Restart a member's sshd in place (pool_sshd_restart.yml): its files and sessions stay."""
        result = self.runner.run("pool_sshd_restart.yml", {"sshd_nodes": [name]}, purpose="sshd_restart")
        if not result.ok:
            log.warning("restarting the sshd of %s failed: %s", name, result.error_of(name))
        return result.ok

    def recreate(self, name: str, *, actor: str) -> bool:
        """Bring a quarantined member back: recreate its container with Ansible (clean, new
        host keys, whatever it held), then free it. False if that failed."""
        return name in self.recreate_all([name], actor=actor, purpose="recover")

    def recreate_all(self, names: list[str], *, actor: str, purpose: str) -> list[str]:
        """recreate() for several quarantined members in one run; returns those now free. The
        others stay quarantined: the monitor counts the failure and backs off."""
        with self.database.read() as session:
            names = list(session.scalars(select(Container.name).where(Container.name.in_(names),
                                                                      Container.state == S.QUARANTINED)))
        with self._recreating_lock:
            names = [name for name in names if name not in self._recreating]
            self._recreating.update(names)
        try:
            if not names:
                return []
            _, keys = self.remake(sorted(names, key=natural_key), purpose=purpose)
            with self.database.write() as session:
                return [name for name, member_keys in keys.items()
                        if member_keys and transitions.recover(session, name, member_keys, actor=actor)]
        finally:
            with self._recreating_lock:
                self._recreating.difference_update(names)

    def remake(self, names: list[str], *, purpose: str) -> tuple[RunResult, dict[str, dict[str, str]]]:
        """Recreate these members from the image in one pool_provision.yml run, whatever they
        hold; returns the run and each member's new host keys (empty for one whose recreation
        failed or whose keys could not be read). Their states are the caller's to change; each
        one made is recorded as made from the pool's entry in force."""
        pool = self.pool  # one entry for the run and the digest recorded, whatever a reload does meanwhile
        result = self.change_members(names, "recreated", purpose=purpose, pool=pool)
        keys = {name: self._host_keys(name) if self.remade(result, name) else {} for name in names}
        made = [name for name in names if keys[name]]
        observe_starts(result, names, made)
        if made:
            with self.database.write() as session:
                session.execute(update(Container).where(Container.name.in_(made)).values(spec_digest=pool.digest))
        return result, keys

    def stale_members(self) -> list[str]:
        """Members made from an older entry (other limits or image): recreated once free
        (fleet/sizing.py). One whose digest is unknown counts as fresh."""
        with self.database.read() as session:
            return sorted(session.scalars(select(Container.name).where(
                Container.pool == self.pool.name, Container.spec_digest.is_not(None),
                Container.spec_digest != self.pool.digest)), key=natural_key)

    def node_host(self, name: str) -> str:
        """The host a member is in a pool_provision.yml run: each node is a host of its own
        there (<name>@<engine>), so that the nodes change in parallel."""
        return f"{name}@{self.engine.name}"

    def remade(self, result: RunResult, name: str) -> bool:
        """Whether this pool_provision.yml run made this member: one node's failure leaves the
        others of the run made."""
        return self.node_host(name) in result.ok_hosts

    def _host_keys(self, name: str) -> dict[str, str]:
        try:
            return self.engine.host_keys(name)
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("reading the host keys of %s failed: %s", name, error)
            return {}

    # ---- losses ----------------------------------------------------------------------------

    def on_lost(self, listener: LostListener) -> None:
        self._lost_listeners.append(listener)

    def quarantine(self, name: str, reason: str, *, actor: str, expected_state: str,
                   expected_holder: str | None) -> bool:
        """Quarantine a member if it is still as the caller saw it (state and holder); a held
        one is then reported lost to the listeners. False if it had moved on."""
        with self.database.write() as session:
            taken = transitions.quarantine(session, [name], reason, holder=expected_holder,
                                           states=[expected_state], actor=actor)
        if taken and expected_holder is not None:
            for listener in self._lost_listeners:
                try:
                    listener(name, expected_holder, reason)
                except Exception:  # noqa: BLE001 - the periodic reconcile repairs what a listener missed
                    log.exception("a listener failed on the loss of %s", name)
        return bool(taken)


def observe_starts(result: RunResult, names: list[str], made: list[str]) -> None:
    """Each node a pool_provision.yml run was to make counts as a cold start of the run's
    duration, made or not."""
    for name in names:
        START_DURATION.labels("node", "cold", SUCCESS if name in made else FAILURE).observe(result.duration)
