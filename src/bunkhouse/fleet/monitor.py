"""The monitor: every BUNKHOUSE_MONITOR_INTERVAL seconds, each member of the pool is probed
(container running, sshd answering inside it with its recorded host key; probe.py).

- A free or reserved member that fails twice in a row is quarantined, if it is still in the
  state (and with the holder) the round saw: a member claimed or released since is left to
  its new owner, and judged again next round. A held one is reported lost (Fleet.on_lost).
- Except a held member whose container runs but whose sshd does not answer: its sshd is
  restarted in place (the tenant's files stay), and only if it still fails two rounds after
  that is it quarantined and replaced.
- When more than BUNKHOUSE_MONITOR_MASS_FAILURE of one engine's members (and at least
  MASS_FAILURE_MIN) fail in the same round, the fault is the engine's or its host's, not
  theirs: nothing is decided about them, /healthz says so, and they are judged normally once
  a round sees it cleared.
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
from bunkhouse.fleet.probe import Problem

log = logging.getLogger(__name__)

# Failed probes in a row before a member in service is quarantined.
FAILURES_TO_QUARANTINE = 2
# A held member whose sshd alone fails gets its sshd restarted at FAILURES_TO_QUARANTINE and is
# quarantined only at this many failures in a row.
SSHD_FAILURES_TO_QUARANTINE = 4
# Fewer failing members than this in one round are judged one by one, whatever the share.
MASS_FAILURE_MIN = 3
ACTOR = "monitor"

Probe = Callable[[str, dict[str, str]], "Problem | None"]  # (container, recorded host keys)


class Monitor:
    def __init__(self, fleet: Fleet, interval_seconds: int, probe: Probe, mass_failure: float = 0.5):
        self.fleet = fleet
        self.interval_seconds = interval_seconds
        self.probe = probe
        self.mass_failure = mass_failure
        self._engine_was_down = False
        # Engines whose members failed together in the last round: {engine: why}.
        self.suspect_engines: dict[str, str] = {}

    def round(self) -> dict[str, list[str]]:
        """One round over the pool. Returns what it did, by outcome."""
        fleet = self.fleet
        outcome: dict[str, list[str]] = {"passing": [], "failing": [], "quarantined": [], "recovered": [],
                                         "still_down": [], "sshd_restarted": [], "held_back": []}
        try:
            found = {info.name: info for info in fleet.engine.containers(fleet.pool.name, fleet.pool.template.port)}
        except (OSError, RuntimeError) as error:
            log.warning("monitor round skipped: the Docker engine does not answer (%s)", error)
            self._engine_was_down = True
            # It may come back without the pool's network or firewall chains: check them again.
            fleet.engine_checked = False
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

        def problem(member: Container) -> Problem | None:
            info = found.get(member.name)
            if member.state == S.QUARANTINED and (info is None or info.running):
                # It runs again, or it is gone (a recreation that failed half-way removes it):
                # recreate() makes it new, host keys and all.
                return None
            if info is None:
                return Problem("container missing")
            if not info.running:
                return Problem("container not running")
            return self.probe(member.name, member.host_keys or {})

        with ThreadPoolExecutor(max_workers=8) as workers:
            problems = list(workers.map(problem, due))
        suspect = self._suspect_engines(due, problems)

        for member, found_problem in zip(due, problems, strict=True):
            name, failures = member.name, member.failed_probes or 0
            reason = found_problem.reason if found_problem else None
            if member.engine in suspect and found_problem is not None and member.state != S.QUARANTINED:
                outcome["held_back"].append(name)
            elif member.state == S.QUARANTINED:
                if reason is None and fleet.recreate(name, actor=ACTOR):
                    outcome["recovered"].append(name)
                else:
                    self._note(name, failures + 1, reason, backoff=True)
                    outcome["still_down"].append(name)
            elif reason is None:
                if failures:
                    self._note(name, 0, None)
                outcome["passing"].append(name)
            elif found_problem.sshd_only and member.state == S.RESERVED \
                    and failures + 1 < SSHD_FAILURES_TO_QUARANTINE:
                self._note(name, failures + 1, reason)
                if failures + 1 == FAILURES_TO_QUARANTINE:
                    fleet.restart_sshd(name)
                    outcome["sshd_restarted"].append(name)
                else:
                    outcome["failing"].append(name)
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

    def _suspect_engines(self, due: list[Container], problems: list[Problem | None]) -> set[str]:
        """The engines where too many members in service failed this round to blame them."""
        totals: dict[str, int] = {}
        failing: dict[str, int] = {}
        for member, found_problem in zip(due, problems, strict=True):
            if member.state in (S.FREE, S.RESERVED):
                totals[member.engine] = totals.get(member.engine, 0) + 1
                if found_problem is not None:
                    failing[member.engine] = failing.get(member.engine, 0) + 1
        suspect = {engine: f"{count} of its {totals[engine]} nodes failed the same probe round: the fault is"
                           " the engine's or its host's, so no node is judged until it clears"
                   for engine, count in failing.items()
                   if count >= MASS_FAILURE_MIN and count > self.mass_failure * totals[engine]}
        for engine in suspect.keys() - self.suspect_engines.keys():
            log.error("monitor: engine %s: %s", engine, suspect[engine])
        for engine in self.suspect_engines.keys() - suspect.keys():
            log.warning("monitor: engine %s: its nodes answer again; they are judged one by one", engine)
        self.suspect_engines = suspect
        return set(suspect)

    def _note(self, name: str, failures: int, reason: str | None, backoff: bool = False) -> None:
        next_at = self.fleet.clock() + _backoff(self.interval_seconds, failures) if backoff else None
        with self.fleet.database.write() as session:
            transitions.note_probes(session, name, failures, next_probe_at=next_at,
                                    reason=f"probe: {reason}" if reason else None)


def _backoff(interval: int, failures: int) -> timedelta:
    """How long a quarantined member waits before its next try: doubles, at most 30 minutes."""
    return timedelta(seconds=min(1800, interval * 2 ** max(0, failures - 2)))
