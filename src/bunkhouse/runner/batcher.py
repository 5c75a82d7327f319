"""Queues per-host changes for one batch playbook and applies them in batches.

Every job pending when a run starts goes into that one run: one play over all the hosts
concerned, each host with its own change, passed as `{variable: {host: change}}`. Ten
simultaneous reservations therefore cost one Ansible start, not ten. With batching off, each
group of jobs runs on its own, at once, in the caller's thread.

With standbys (two by default), the batcher keeps runs of the playbook started ahead and
waiting (standby.py): a batch then starts at once instead of waiting for Ansible to start.
Two, because a batch often follows another at once (a release right after a reservation, the
second run of a storm) and a standby is only started again after a run ends, so that its start
(about a second of CPU) does not slow the run. Standbys are renewed before they expire; one
found dead is not used and the batch runs the ordinary way.

A batcher can also run its batches its own way (run_batch): the fleet's renewals recreate all
the members released at one moment in one pool_provision.yml run.

A run applies at most one change per host: a group with a host already in the run being built
waits for the next run.

Jobs come in groups (one group per operation of a product); when every job of a group is
done, the group's on_done callback runs (in the batcher's thread) with the group, whose jobs
then say which hosts succeeded. When the service stops, groups still pending or running are
released without on_done (group.interrupted): their states stay in flight in the database,
for the next start to finish or undo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult
from bunkhouse.runner.standby import StandbyRun, is_fresh

log = logging.getLogger(__name__)

# Seconds a standby run waits for a batch before it ends by itself ...
STANDBY_WAIT = 600
# ... and it is replaced this long before that, so a batch never meets one about to end.
STANDBY_MARGIN = 60


@dataclass
class Job:
    host: str
    change: dict[str, Any]  # this host's variables for the batch playbook
    ok: bool | None = None  # None until its run ended
    error: str = ""


@dataclass(eq=False)  # a group is itself: two groups with the same jobs are two groups
class JobGroup:
    jobs: list[Job]
    purpose: str
    on_done: Callable[[JobGroup], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    # Set when the service stopped before the group's outcome was known: on_done did not run.
    interrupted: bool = False

    @property
    def hosts(self) -> list[str]:
        return [job.host for job in self.jobs]

    @property
    def failed_hosts(self) -> list[str]:
        return [job.host for job in self.jobs if not job.ok]

    @property
    def ok_hosts(self) -> list[str]:
        return [job.host for job in self.jobs if job.ok]

    def errors(self) -> dict[str, str]:
        return {job.host: job.error for job in self.jobs if not job.ok}

    def wait(self, timeout: float | None) -> bool:
        return self.done.wait(timeout)


class Batcher:
    def __init__(self, runner: Runner, playbook: str, variable: str, *, batching: bool = True,
                 window: float = 0.05, max_window: float = 0.5, standbys: int = 2,
                 extra_variables: dict[str, Any] | None = None,
                 run_batch: Callable[[dict[str, dict[str, Any]], str], RunResult] | None = None):
        self.runner = runner
        # How a batch runs when it is not `playbook` given {variable: changes}: called with the
        # changes by host and the purpose, it returns a result whose ok_hosts are the hosts done.
        self.run_batch = run_batch
        self.playbook = playbook
        self.variable = variable
        # Variables every run gets beside the changes (a per-host bound, ...).
        self.extra_variables = dict(extra_variables or {})
        self.batching = batching
        self.standbys = standbys if batching and run_batch is None else 0
        self._standbys: list[StandbyRun] = []  # oldest first
        self.window = window
        self.max_window = max_window
        self._pending: list[JobGroup] = []
        self._running: list[JobGroup] = []
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        if self.batching and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"batcher-{self.playbook}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop: no new run starts; groups pending or cut short are released, interrupted."""
        with self._wakeup:
            self._stopping = True
            abandoned, self._pending = self._pending, []
            self._wakeup.notify_all()
        for group in abandoned:
            self._interrupt(group)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drop_standbys()

    def drain(self, timeout: float = 30) -> bool:
        """Wait until no group is pending or running (True), or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._wakeup:
            while self._pending or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.wait(min(left, 0.05))
        return True

    def in_flight(self) -> set[str]:
        """Hosts with a change queued or running in this process."""
        with self._wakeup:
            return {job.host for group in self._pending + self._running for job in group.jobs}

    def submit(self, group: JobGroup) -> JobGroup:
        """Queue a group of jobs; returns it (wait on it, or let on_done act)."""
        if len(set(group.hosts)) < len(group.jobs):
            raise ValueError(f"{group.purpose}: a group changes each host once")
        if not group.jobs:
            self._finish(group)
            return group
        if not self.batching:
            with self._wakeup:
                self._running.append(group)
            self._run_and_finish([group])
            return group
        with self._wakeup:
            if self._stopping:
                self._interrupt(group)
                return group
            self._pending.append(group)
            self._wakeup.notify()
        return group

    def _loop(self) -> None:
        while True:
            self._renew_standbys()
            with self._wakeup:
                if not self._pending and not self._stopping:
                    # Wakes up now and then to replace standbys before they expire.
                    self._wakeup.wait(STANDBY_MARGIN / 2)
                if self._stopping:
                    return
                if not self._pending:
                    continue
            self._gather()
            with self._wakeup:
                batch, self._pending = _one_change_per_host(self._pending)
                self._running.extend(batch)
            self._run_and_finish(batch)

    def _gather(self) -> None:
        """Let requests that arrive at the same moment join this run: wait one window, and
        another while more keep arriving, up to max_window in all. A storm of requests lands
        in one run; a lone request waits one window only."""
        if not self.window:
            return
        deadline = time.monotonic() + max(self.max_window, self.window)
        with self._wakeup:
            seen = len(self._pending)
        while True:
            time.sleep(self.window)
            with self._wakeup:
                now_pending = len(self._pending)
            if now_pending == seen or time.monotonic() >= deadline:
                return
            seen = now_pending

    def _run_and_finish(self, groups: list[JobGroup]) -> None:
        try:
            result = self._run(groups)
        except Exception:  # noqa: BLE001 - the batcher must survive anything one run does
            log.exception("%s batch run crashed", self.playbook)
            result = None
        if self._stopping or self.runner.stopping:
            # Cut short by the service stopping: the outcome is unknown, nothing is decided.
            for group in groups:
                self._interrupt(group)
            return
        # A timed-out or cancelled run proves nothing about any host; a host missing from the
        # inventory (its container is gone) is in neither list and counts as failed.
        succeeded = set(result.ok_hosts) if result and result.status in ("successful", "failed") else set()
        for group in groups:
            for job in group.jobs:
                job.ok = job.host in succeeded
                if not job.ok:
                    job.error = result.error_of(job.host) if result else "the batch run crashed"
            self._finish(group)

    def _run(self, groups: list[JobGroup]) -> RunResult:
        changes = {job.host: job.change for group in groups for job in group.jobs}
        purpose = "+".join(sorted({group.purpose for group in groups}))
        if self.run_batch is not None:
            return self.run_batch(changes, purpose)
        variables = {**self.extra_variables, self.variable: changes}
        standby = self._take_standby()
        result = standby.dispatch(variables, hosts=list(changes), purpose=purpose) if standby else None
        if result is None:
            # The playbook picks its hosts from the changes: no --limit.
            result = self.runner.run(self.playbook, variables, purpose=purpose)
        return result

    @staticmethod
    def _fresh(standby: StandbyRun) -> bool:
        return is_fresh(standby, STANDBY_MARGIN)

    def _take_standby(self) -> StandbyRun | None:
        """The oldest fresh standby, ending the stale or dead ones met on the way."""
        while self._standbys:
            standby = self._standbys.pop(0)
            if self._fresh(standby):
                return standby
            self._end_standby(standby)
        return None

    def _renew_standbys(self) -> None:
        """End the standbys that are stale or dead, and start new ones up to the number kept."""
        if self._stopping:
            return
        for standby in [standby for standby in self._standbys if not self._fresh(standby)]:
            self._standbys.remove(standby)
            self._end_standby(standby)
        while len(self._standbys) < self.standbys and not self._stopping:
            try:
                self._standbys.append(self.runner.start_standby(self.playbook, wait=STANDBY_WAIT))
            except Exception:  # noqa: BLE001 - without a standby, batches run the ordinary way
                log.exception("could not start a standby run")
                return

    def _drop_standbys(self) -> None:
        standbys, self._standbys = self._standbys, []
        for standby in standbys:
            self._end_standby(standby)

    @staticmethod
    def _end_standby(standby: StandbyRun) -> None:
        try:
            standby.cancel()
        except Exception:  # noqa: BLE001
            log.exception("could not end standby run %s", standby.ident)

    def _finish(self, group: JobGroup) -> None:
        try:
            if group.on_done is not None:
                group.on_done(group)
        except Exception:  # noqa: BLE001 - the periodic reconcile finds what this left undone
            log.exception("completing %s failed", group.purpose)
        finally:
            self._done(group)

    def _interrupt(self, group: JobGroup) -> None:
        group.interrupted = True
        self._done(group)

    def _done(self, group: JobGroup) -> None:
        with self._wakeup:
            if group in self._running:
                self._running.remove(group)
            self._wakeup.notify_all()
        group.done.set()


def _one_change_per_host(pending: list[JobGroup]) -> tuple[list[JobGroup], list[JobGroup]]:
    """Split pending groups into this run's (no host twice) and those left for the next run."""
    batch, later, hosts = [], [], set()
    for group in pending:
        group_hosts = set(group.hosts)
        if group_hosts & hosts:
            later.append(group)
        else:
            batch.append(group)
            hosts |= group_hosts
    return batch, later
