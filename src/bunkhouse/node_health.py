"""The node health job: every BUNKHOUSE_HEALTH_INTERVAL seconds, each node of the pool is
checked (container running, sshd answering with its recorded host key; health.py).

- A free or reserved node that fails twice in a row is quarantined; a reserved one's tenant
  gets a replacement (service.quarantine_node).
- A quarantined node is tried again after a backoff (one interval, then doubling, at most 30
  minutes); when its container runs again it is recreated clean and freed (service.recover_node).
- A disabled node is never touched: an admin took it out.
- Nodes in the middle of an Ansible run (reserving, releasing) are left to that run.
- When the Docker engine does not answer, nothing is decided: /healthz reports it, and the
  nodes are judged again one round after it is back, once it has restarted its containers (a
  dead engine is not a dead node).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from bunkhouse import engine, health
from bunkhouse.models import FREE, QUARANTINED, RESERVED, Node
from bunkhouse.service import ReservationService

log = logging.getLogger(__name__)

# Failed checks in a row before a node in service is quarantined.
FAILURES_TO_QUARANTINE = 2
ACTOR = "health"


class HealthChecker:
    def __init__(self, service: ReservationService, probe=health.ssh_problem, containers=engine.pool_containers):
        self.service = service
        self.probe = probe
        self.containers = containers
        self._engine_was_down = False

    def check_all(self) -> dict[str, list[str]]:
        """One round over the pool. Returns what it did, by outcome."""
        service, config = self.service, self.service.config
        outcome: dict[str, list[str]] = {"healthy": [], "failing": [], "quarantined": [], "recovered": [],
                                         "still_down": []}
        try:
            containers = {container.name: container for container in self.containers(config.pool)}
        except (OSError, RuntimeError) as error:
            log.warning("health check skipped: the Docker engine does not answer (%s)", error)
            self._engine_was_down = True
            return outcome
        if self._engine_was_down:
            # The engine is back, and restarting its containers: judge them next round.
            self._engine_was_down = False
            log.warning("health check: the Docker engine answers again; nodes are judged from the next round")
            return outcome
        now = service.clock()
        with service.sessions() as session:
            # Loaded rows stay readable after the session (expire_on_commit is off).
            nodes = list(session.scalars(select(Node).where(Node.pool == config.pool)))
        due = [node for node in nodes if node.state in (FREE, RESERVED)
               or (node.state == QUARANTINED and (node.next_check_at is None or node.next_check_at <= now))]

        def problem(node: Node) -> str | None:
            container = containers.get(node.name)
            if container is None:
                return "container missing"
            if not container.running:
                return "container not running"
            if node.state == QUARANTINED:
                return None  # it runs again: recover_node recreates it, new host keys and all
            return self.probe(_probe_host(config.ssh_bind_address), container.ssh_port or node.ssh_port,
                              node.host_keys or {})

        with ThreadPoolExecutor(max_workers=8) as pool:
            problems = list(pool.map(problem, due))

        for node, reason in zip(due, problems, strict=True):
            name, failures = node.name, node.health_failures or 0
            if node.state == QUARANTINED:
                if reason is None and service.recover_node(name, actor=ACTOR):
                    outcome["recovered"].append(name)
                else:
                    self._record(name, failures + 1, reason, backoff=True)
                    outcome["still_down"].append(name)
            elif reason is None:
                if failures:
                    self._record(name, 0, None)
                outcome["healthy"].append(name)
            elif failures + 1 >= FAILURES_TO_QUARANTINE:
                service.quarantine_node(name, f"health check: {reason}", actor=ACTOR)
                outcome["quarantined"].append(name)
            else:
                self._record(name, failures + 1, reason)
                outcome["failing"].append(name)
        if outcome["quarantined"] or outcome["recovered"]:
            log.warning("health: quarantined %s, recovered %s", outcome["quarantined"], outcome["recovered"])
        return outcome

    def _record(self, name: str, failures: int, reason: str | None, backoff: bool = False) -> None:
        service = self.service
        with service.sessions.begin() as session:
            node = session.scalar(select(Node).where(Node.name == name))
            if node is None:
                return
            node.health_failures = failures
            if backoff:
                node.next_check_at = service.clock() + _backoff(service.config.health_interval_seconds, failures)
            if reason and node.state == QUARANTINED:
                node.state_reason = f"health check: {reason}"


def _backoff(interval: int, failures: int) -> timedelta:
    """How long a quarantined node waits before its next try: doubles, at most 30 minutes."""
    return timedelta(seconds=min(1800, interval * 2 ** max(0, failures - 2)))


def _probe_host(bind_address: str) -> str:
    """Where this machine reaches the nodes' published SSH ports."""
    return "127.0.0.1" if bind_address in ("0.0.0.0", "::", "") else bind_address
