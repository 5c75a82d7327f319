"""The monitor: every BUNKHOUSE_MONITOR_INTERVAL seconds, each member of the pool is probed
(container running, sshd answering with its recorded host key; probe.py).

- A free or reserved member that fails twice in a row is quarantined, if it is still in the
  state (and with the holder) the round saw: a member claimed or released since is left to
  its new owner, and judged again next round. A held one is reported lost (Fleet.on_lost).
- A quarantined member is tried again after a backoff (one interval, then doubling, at most
  30 minutes); when its container runs again it is recreated clean and freed.
- A disabled member is never touched: an operator took it out.
- Members in the middle of an Ansible run (reserving, releasing) are left to that run.
- When the Docker engine does not answer, nothing is decided, and members are judged again
  one round after it is back, once it has restarted its containers (a dead engine is not a
  dead member).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.fleet.probe import ssh_probe

log = logging.getLogger(__name__)

# Failed probes in a row before a member in service is quarantined.
FAILURES_TO_QUARANTINE = 2
ACTOR = "monitor"

Probe = Callable[[str, int, dict[str, str]], "str | None"]


class Monitor:
    def __init__(self, fleet: Fleet, interval_seconds: int, probe: Probe = ssh_probe):
        self.fleet = fleet
        self.interval_seconds = interval_seconds
        self.probe = probe
        self._engine_was_down = False

    def round(self) -> dict[str, list[str]]:
        """One round over the pool. Returns what it did, by outcome."""
        fleet = self.fleet
        outcome: dict[str, list[str]] = {"passing": [], "failing": [], "quarantined": [], "recovered": [],
                                         "still_down": []}
        try:
            found = {info.name: info for info in fleet.engine.containers(fleet.pool.name, fleet.pool.template.port)}
        except (OSError, RuntimeError) as error:
            log.warning("monitor round skipped: the Docker engine does not answer (%s)", error)
            self._engine_was_down = True
            return outcome
        if self._engine_was_down:
            # The engine is back, and restarting its containers: judge them next round.
            self._engine_was_down = False
            log.warning("monitor: the Docker engine answers again; members are judged from the next round")
            return outcome
        now = fleet.clock()
        with fleet.database.read() as session:
            members = list(session.scalars(select(Container).where(Container.pool == fleet.pool.name)))
        due = [member for member in members if member.state in (S.FREE, S.RESERVED)
               or (member.state == S.QUARANTINED and (member.next_probe_at is None or member.next_probe_at <= now))]

        def problem(member: Container) -> str | None:
            info = found.get(member.name)
            if info is None:
                return "container missing"
            if not info.running:
                return "container not running"
            if member.state == S.QUARANTINED:
                return None  # it runs again: recreate() makes it new, host keys and all
            return self.probe(fleet.pool.probe_host, info.port or member.port, member.host_keys or {})

        with ThreadPoolExecutor(max_workers=8) as workers:
            problems = list(workers.map(problem, due))

        for member, reason in zip(due, problems, strict=True):
            name, failures = member.name, member.failed_probes or 0
            if member.state == S.QUARANTINED:
                if reason is None and fleet.recreate(name, actor=ACTOR):
                    outcome["recovered"].append(name)
                else:
                    self._note(name, failures + 1, reason, backoff=True)
                    outcome["still_down"].append(name)
            elif reason is None:
                if failures:
                    self._note(name, 0, None)
                outcome["passing"].append(name)
            elif failures + 1 >= FAILURES_TO_QUARANTINE:
                if fleet.quarantine(name, f"probe: {reason}", actor=ACTOR, expected_state=member.state,
                                    expected_holder=member.holder):
                    outcome["quarantined"].append(name)
            else:
                self._note(name, failures + 1, reason)
                outcome["failing"].append(name)
        if outcome["quarantined"] or outcome["recovered"]:
            log.warning("monitor: quarantined %s, recovered %s", outcome["quarantined"], outcome["recovered"])
        return outcome

    def _note(self, name: str, failures: int, reason: str | None, backoff: bool = False) -> None:
        next_at = self.fleet.clock() + _backoff(self.interval_seconds, failures) if backoff else None
        with self.fleet.database.write() as session:
            transitions.note_probes(session, name, failures, next_probe_at=next_at,
                                    reason=f"probe: {reason}" if reason else None)


def _backoff(interval: int, failures: int) -> timedelta:
    """How long a quarantined member waits before its next try: doubles, at most 30 minutes."""
    return timedelta(seconds=min(1800, interval * 2 ** max(0, failures - 2)))
