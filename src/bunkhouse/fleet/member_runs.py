"""The runs that change named containers: one pool_member.yml run for a batch of changes
(started, recreated, stopped, absent; Ansible makes them in parallel), then each container's
power as the engine says it is, its published ports, its measured start time, and an event
(container_started, container_stopped, container_removed, container_failed) per container.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bunkhouse.config import ContainersSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.metrics import CONTAINER_CHANGES, FAILURE, START_DURATION, SUCCESS
from bunkhouse.core.model import utcnow
from bunkhouse.fleet import transitions
from bunkhouse.fleet.catalog import Catalog
from bunkhouse.fleet.engines import EngineClient, MemberInfo
from bunkhouse.fleet.models import Container, Power
from bunkhouse.fleet.warmth import POOL_PREFIX, RETIRED
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult

log = logging.getLogger(__name__)

PLAYBOOK = "pool_member.yml"
# Weight of the newest measured start in a container's estimate (a moving average).
_NEWEST_WEIGHT = 0.3


class MemberRuns:
    def __init__(self, database: Database, runner: Runner, engine: EngineClient, settings: ContainersSettings,
                 catalog: Callable[[], Catalog], engines_inventory: Path, *, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.runner = runner
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        # The engines only: these runs make their own hosts (no node inventory to read).
        self.engines_inventory = engines_inventory

    def read_back(self, names: Collection[str] | None = None) -> dict[str, str]:
        """Each named container's (or these only) power, ports, health and digest as the engine
        says they are now. Returns {name: power} of those whose power changed."""
        if names is not None and not names:
            return {}
        found = self._engine_view("to read them back")
        if found is None:
            return {}
        changed = {}
        with self.database.write() as session:
            statement = select(Container).where(Container.pool.like(POOL_PREFIX + "%"))
            if names is not None:
                statement = statement.where(Container.name.in_(list(names)))
            for row in session.scalars(statement):
                info = found.get(row.name)
                power = Power.ABSENT if info is None else Power.RUNNING if info.running else Power.STOPPED
                if row.power != power:
                    changed[row.name] = power
                    row.power, row.state_reason = power, None
                row.healthy = info.healthy if info is not None and info.running else None
                row.endpoints = info.ports if info is not None and info.running else None
                row.spec_digest = info.digest or None if info is not None else None
                row.port = next(iter((row.endpoints or {}).values()), 0)
                if power == Power.RUNNING and row.started_at is None:
                    row.started_at = self.clock()
        if changed:
            log.info("named containers as the engine has them: %s", changed)
        return changed

    def read_health(self, warmths: list[str]) -> bool:
        """What the engine says of each running container of these pools: one that stopped or
        went is marked so (a hot one is started again by the warmth round), and its health is
        kept. False when the engine could not be asked."""
        if not warmths:
            return False
        found = self._engine_view("for their health")
        if found is None:
            return False
        with self.database.write() as session:
            pools = [POOL_PREFIX + warmth for warmth in warmths]
            for row in session.scalars(select(Container).where(Container.pool.in_(pools),
                                                               Container.power == Power.RUNNING)):
                info = found.get(row.name)
                if info is None or not info.running:
                    transitions.power(session, [row.name], Power.ABSENT if info is None else Power.STOPPED,
                                      expected=(Power.RUNNING,), healthy=None,
                                      state_reason="found missing" if info is None else "found stopped")
                elif info.healthy != row.healthy:
                    row.healthy = info.healthy
        return True

    def inputs(self, name: str, change: dict[str, Any]) -> dict[str, Any]:
        spec = self.catalog().containers.get(name)
        if spec is None or change["change"] == "absent":
            return {"name": name, "state": "absent"}
        limits, health = spec.limits, spec.health_check
        inputs = {
            # The network is made once, by pool_member_provision.yml.
            "name": name, "state": change["change"], "make_network": False, "image": spec.image,
            "command": list(spec.command or []),
            "environment": spec.environment, "ports": list(spec.ports), "bind_address": self.settings.bind_address,
            "cpus": limits.cpus, "memory": limits.memory, "pids_limit": limits.pids, "digest": spec.digest,
            "wait_for_health": change.get("wait_for_health", True),
            "start_timeout": change.get("timeout") or spec.start_timeout_seconds,
        }
        if "stop_timeout" in change:
            inputs["stop_timeout"] = change["stop_timeout"]
        if health:
            inputs["healthcheck"] = {"test": ["CMD", *health.command], "interval": _duration(health.interval_seconds),
                                     "timeout": _duration(health.timeout_seconds), "retries": health.retries,
                                     "start_period": _duration(health.start_period_seconds)}
        return inputs

    def apply(self, changes: dict[str, dict[str, Any]], purpose: str) -> RunResult:
        """One pool_member.yml run for every change queued; then each container's power as the
        engine says it is now."""
        inputs = [self.inputs(name, change) for name, change in sorted(changes.items())]
        longest = [max(item.get("start_timeout", 0), item.get("stop_timeout", 0)) for item in inputs]
        timeout = max(longest + [60]) + 60
        result = self.runner.run(PLAYBOOK, {"pool_member_containers": inputs}, purpose=purpose, timeout=timeout,
                                 inventory=self.engines_inventory)
        found = self._engine_view(f"after run {result.ident}")
        done, errors = [], {}
        now = self.clock()
        with self.database.write() as session:
            statement = select(Container).where(Container.name.in_(list(changes)))
            rows = {row.name: row for row in session.scalars(statement)}
            for name, change in changes.items():
                row, info = rows.get(name), (found or {}).get(name)
                # A failed task (a health wait that timed out) fails it, whatever the engine says.
                outcome = None if name in result.host_errors else self._outcome(change["change"], info,
                                                                                   found is not None)
                error = result.host_errors.get(name) or (None if outcome else f"{PLAYBOOK} {result.status}")
                if row is None:
                    continue
                before = row.power
                # Created (or recreated) from the image, or started from a kept, stopped container.
                launch = "cold" if change["change"] == "recreated" or row.spec_digest is None else "warm"
                CONTAINER_CHANGES.labels(change["change"], FAILURE if outcome is None else SUCCESS).inc()
                if outcome is None:
                    if change["change"] in ("started", "recreated"):
                        START_DURATION.labels("named", launch, FAILURE).observe(result.duration)
                    errors[name] = error or "failed"
                    row.power, row.state_reason, row.healthy = Power.FAILED, errors[name][:500], None
                    events.record(session, "container_failed", "fleet", container=name,
                                  detail={"change": change["change"], "error": errors[name][:500]})
                    continue
                done.append(name)
                self._record(session, row, change["change"], outcome, info, result.duration, now, before, launch)
            retired = [name for name in done if rows.get(name) is not None and rows[name].pool == RETIRED
                       and rows[name].power == Power.ABSENT]
            if retired:
                session.execute(delete(Container).where(Container.name.in_(retired), Container.pool == RETIRED))
        # The run's hosts are the containers; the outcome that counts is what the engine says.
        return replace(result, ok_hosts=tuple(done), failed_hosts=tuple(errors), host_errors=errors)

    def _engine_view(self, why: str) -> dict[str, MemberInfo] | None:
        """The engine's named containers, or None (logged) when it cannot be asked."""
        try:
            return self.engine.named_containers()
        except (OSError, RuntimeError) as error:
            log.warning("could not read the named containers from the engine %s: %s", why, error)
            return None

    @staticmethod
    def _outcome(change: str, info: MemberInfo | None, engine_read: bool) -> str | None:
        if not engine_read:
            return None
        if change == "absent":
            return Power.ABSENT if info is None else None
        if info is None:
            return None
        if change == "stopped":
            return Power.STOPPED if not info.running else None
        return Power.RUNNING if info.running and info.healthy is not False else None

    def _record(self, session, row: Container, change: str, power: str, info: MemberInfo | None, seconds: float,
                now: datetime, before: str | None, launch: str) -> None:
        row.power, row.state_reason = power, None
        if power == Power.RUNNING and info is not None:
            START_DURATION.labels("named", launch, SUCCESS).observe(seconds)
            row.healthy, row.endpoints, row.spec_digest = info.healthy, info.ports, info.digest or row.spec_digest
            row.port = next(iter(info.ports.values()), 0)
            row.started_at = now
            row.last_used_at = row.last_used_at or now
            row.start_seconds = seconds if row.start_seconds is None else (
                _NEWEST_WEIGHT * seconds + (1 - _NEWEST_WEIGHT) * row.start_seconds)
            events.record(session, "container_started", "fleet", container=row.name,
                          detail={"seconds": round(seconds, 3), "launch": launch, "change": change})
        elif power in (Power.STOPPED, Power.ABSENT):
            row.healthy, row.started_at = None, None
            if power == Power.ABSENT:
                row.endpoints, row.spec_digest = None, None
            events.record(session, "container_stopped" if power == Power.STOPPED else "container_removed", "fleet",
                          container=row.name, detail={"change": change, "was": before})


def _duration(seconds: float) -> str:
    """Docker's duration text: whole milliseconds ("1500ms"; "1.0s" is refused)."""
    return f"{round(seconds * 1000)}ms"
