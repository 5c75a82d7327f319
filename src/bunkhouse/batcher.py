"""Queues account work (create or remove an account on a node) and runs it in batches.

Every job pending when a run starts goes into that one run: one play over all the nodes
concerned, each node with its own list of account changes. Ten simultaneous reservations
therefore cost one Ansible start, not ten. With batching off, each group of jobs runs on
its own, at once, in the caller's thread (the seed's behaviour, kept for comparison).

With standbys (two by default), the batcher keeps runs of the batch playbook started ahead
and waiting (provisioner.StandbyRun): a batch then starts at once instead of waiting for
Ansible to start. Two, because a batch often follows another at once (a release right after
a reservation, the second run of a storm) and a standby is only started again after a run
ends, so that its start (about a second of CPU) does not slow the run. Standbys are renewed
before they expire; one found dead is not used and the batch runs the ordinary way.

A run applies at most one change per node: a group with a node already in the run being
built waits for the next run (the node states make that rare: a node is reserving or
releasing for one reservation at a time).

Jobs come in groups (one group per reservation operation); when every job of a group is done,
the group's on_done callback runs (in the batcher's thread) with the group, whose jobs then
say which nodes succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bunkhouse.provisioner import Provisioner, RunResult, StandbyRun

log = logging.getLogger(__name__)

PLAYBOOK = "account_batch.yml"
# Seconds a standby run waits for a batch before it ends by itself ...
STANDBY_WAIT = 600
# ... and it is replaced this long before that, so a batch never meets one about to end.
STANDBY_MARGIN = 60


@dataclass
class AccountJob:
    node: str
    username: str
    state: str  # present or absent
    password_hash: str = ""
    ok: bool | None = None  # None until its run ended
    error: str = ""

    def as_variables(self) -> dict:
        item = {"name": self.username, "state": self.state}
        if self.state == "present":
            item["password_hash"] = self.password_hash
        return item


@dataclass
class JobGroup:
    jobs: list[AccountJob]
    purpose: str
    on_done: Callable[[JobGroup], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def failed_nodes(self) -> list[str]:
        return [job.node for job in self.jobs if not job.ok]

    @property
    def ok_nodes(self) -> list[str]:
        return [job.node for job in self.jobs if job.ok]

    def wait(self, timeout: float | None) -> bool:
        return self.done.wait(timeout)


class AccountBatcher:
    def __init__(
        self,
        provisioner: Provisioner,
        *,
        batching: bool = True,
        window: float = 0.05,
        max_window: float = 0.5,
        standbys: int = 2,
        record_run: Callable[[RunResult, str], None] | None = None,
    ):
        self.provisioner = provisioner
        self.batching = batching
        self.standbys = standbys if batching else 0
        self._standbys: list[StandbyRun] = []  # oldest first
        self.window = window
        self.max_window = max_window
        self.record_run = record_run
        self._pending: list[JobGroup] = []
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        if self.batching and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="account-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drop_standbys()

    def submit(self, group: JobGroup) -> JobGroup:
        """Queue a group of jobs; returns it (wait on it, or let on_done act)."""
        if len({job.node for job in group.jobs}) < len(group.jobs):
            raise ValueError(f"{group.purpose}: a group changes each node once")
        if not group.jobs:
            self._finish(group)
            return group
        if not self.batching:
            self._run([group])
            return group
        with self._wakeup:
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
                if self._stopping and not self._pending:
                    return
                if not self._pending:
                    continue
            self._gather()
            with self._wakeup:
                batch, self._pending = _one_change_per_node(self._pending)
            try:
                self._run(batch)
            except Exception:  # noqa: BLE001 - the thread must survive anything one run does
                log.exception("account batch run crashed")
                for group in batch:
                    for job in group.jobs:
                        if job.ok is None:
                            job.ok, job.error = False, "the batch run crashed"
                    self._finish(group)

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

    def _run(self, groups: list[JobGroup]) -> None:
        operations = {job.node: job.as_variables() for group in groups for job in group.jobs}
        variables = {"bunkhouse_account_ops": operations}
        result = None
        standby = self._take_standby()
        if standby is not None:
            result = standby.dispatch(variables, hosts=list(operations))
        if result is None:
            # The playbook's first play picks the nodes from the operations: no --limit.
            result = self.provisioner.run_playbook(PLAYBOOK, variables)
        purpose = "+".join(sorted({group.purpose for group in groups}))
        if self.record_run is not None:
            try:
                self.record_run(result, purpose)
            except Exception:  # noqa: BLE001 - a lost record must not lose the jobs' outcome
                log.exception("could not record run %s", result.ident)
        # A timed-out or cancelled run proves nothing about any node; a node missing from the
        # inventory (its container is gone) is in neither list and counts as failed.
        succeeded = set(result.ok_hosts) if result.status in ("successful", "failed") else set()
        for group in groups:
            for job in group.jobs:
                job.ok = job.node in succeeded
                if not job.ok:
                    job.error = f"run {result.ident} {result.status} (rc {result.rc}) on {job.node}"
            self._finish(group)

    @staticmethod
    def _fresh(standby: StandbyRun) -> bool:
        return standby.alive() and standby.age < standby.wait - STANDBY_MARGIN

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
        while len(self._standbys) < self.standbys:
            try:
                self._standbys.append(self.provisioner.start_standby(PLAYBOOK, wait=STANDBY_WAIT))
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

    @staticmethod
    def _finish(group: JobGroup) -> None:
        try:
            if group.on_done is not None:
                group.on_done(group)
        except Exception:  # noqa: BLE001
            log.exception("completing %s failed", group.purpose)
        finally:
            group.done.set()


def _one_change_per_node(pending: list[JobGroup]) -> tuple[list[JobGroup], list[JobGroup]]:
    """Split pending groups into this run's (no node twice) and those left for the next run."""
    batch, later, nodes = [], [], set()
    for group in pending:
        group_nodes = {job.node for job in group.jobs}
        if group_nodes & nodes:
            later.append(group)
        else:
            batch.append(group)
            nodes |= group_nodes
    return batch, later
