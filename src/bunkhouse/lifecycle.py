"""The life of a bunkhouse process: start in the background, report how it goes, stop fast.

Start (the primary only; a secondary serves at once): Ansible runs left by a previous life
are killed, the pool is provisioned, read from the engine and reconciled, then the jobs
start. The HTTP service answers from its first second meanwhile: /healthz says `starting`
and what it waits for, and a change gets 503 `starting` with Retry-After.

Stop (SIGTERM, SIGINT or SIGQUIT; gunicorn's own handler runs after this one): the jobs stop,
every Ansible run in flight is killed, and requests waiting for one get 503 `stopping`:
what they started stays recorded in flight, for the next start to finish or undo.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field

from bunkhouse import __version__
from bunkhouse.challenges.jobs import ChallengeJobs
from bunkhouse.config import Config
from bunkhouse.core.db import Database, describe_error
from bunkhouse.core.primary import PrimaryLock, Role
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.monitor import Monitor
from bunkhouse.jobs.scheduler import Scheduler
from bunkhouse.profiles.jobs import ProfileJobs
from bunkhouse.reservations.jobs import ReservationJobs
from bunkhouse.reservations.reconcile import Reconciler
from bunkhouse.runner.batcher import Batcher
from bunkhouse.runner.playbooks import Runner

log = logging.getLogger(__name__)

# Seconds stop() may take before the signal's own handler goes on regardless.
STOP_SECONDS = 3


@dataclass
class Lifecycle:
    config: Config
    role: Role
    lock: PrimaryLock
    database: Database
    runner: Runner
    # The account batcher, and the fleet's renewals where the pool recreates on release.
    batchers: list[Batcher]
    fleet: Fleet
    monitor: Monitor
    scheduler: Scheduler
    reconciler: Reconciler
    jobs: ReservationJobs
    # The named containers of the containers file and the profile leases on them.
    profile_jobs: ProfileJobs | None = None
    # Challenge instances: their images at start, and the deployer's worker.
    challenge_jobs: ChallengeJobs | None = None
    stopping: bool = False
    failure: str | None = None
    # Whether this process runs the jobs (a primary started in the background).
    runs_jobs: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start in the background: the caller (the WSGI server) serves HTTP at once."""
        if not self.role.primary:
            self.role.started()
            return
        self._start_batchers()
        self.runs_jobs = True
        self._thread = threading.Thread(target=self._start, name="start-up", daemon=True)
        self._thread.start()

    def start_now(self) -> None:
        """Start without waiting for anything (tests, and the CLI): nothing in the background."""
        if self.role.primary:
            self._start_batchers()
            if self.challenge_jobs is not None:
                self.challenge_jobs.start()
        self.role.started()

    def _start_batchers(self) -> None:
        for batcher in self.batchers:
            batcher.start()

    def _start(self) -> None:
        role, config = self.role, self.config
        try:
            role.waiting("killing Ansible runs left by a previous life of the service")
            self.runner.kill_orphans()
            if config.pool.provision_on_start:
                role.waiting("provisioning the pool")
                self.fleet.provision()
            role.waiting("reading the pool from the engine")
            try:
                summary = self.fleet.sync()
                log.info("pool %s: added %s, quarantined %s", config.pool.name, summary["added"],
                         summary["quarantined"])
            except (OSError, RuntimeError) as error:
                log.error("could not read the pool from the Docker engine: %s", error)
            role.waiting("finishing or undoing what was in flight")
            self.reconciler.at_start()
            if self.profile_jobs is not None:
                role.waiting("loading the containers file and building its images")
                self.profile_jobs.load_file()
            if self.challenge_jobs is not None:
                role.waiting("finishing the challenge instances' changes left in flight")
                self.challenge_jobs.prepare()
            self.jobs.register()
            if self.profile_jobs is not None:
                self.profile_jobs.register()
            if self.challenge_jobs is not None:
                self.challenge_jobs.register()
            if self.monitor.interval_seconds:
                self.scheduler.every("monitor", self.monitor.round, self.monitor.interval_seconds)
            self.scheduler.start()
            role.started()
            log.info("bunkhouse started: the primary process of this deployment")
        except Exception as error:  # noqa: BLE001 - report it on /healthz rather than die silently
            log.exception("bunkhouse could not start")
            self.failure = f"start-up failed: {describe_error(error)}"
            role.waiting(self.failure)

    def status(self) -> tuple[dict, bool]:
        """/healthz's answer, and whether it is healthy."""
        role = self.role
        engine_version = self.fleet.engine.version()
        database_error = self.database.answers()
        checks = {
            "database": {"ok": database_error is None, **({"error": database_error} if database_error else {})},
            "docker": {"ok": engine_version is not None, "version": engine_version},
            "scheduler": {"ok": self.scheduler.running or not self.runs_jobs, "running": self.scheduler.running,
                          "enabled": self.config.jobs.scheduler},
        }
        if role.primary:
            # A PostgreSQL lock goes with its connection: a primary that lost it must be told.
            checks["primary_lock"] = {"ok": self.lock.still_held()}
            # Most of an engine's nodes failing together: the engine's or its host's fault.
            suspect = self.monitor.suspect_engines
            checks["nodes"] = {"ok": not suspect, **({"error": "; ".join(f"engine {engine}: {why}" for engine, why
                                                                         in sorted(suspect.items()))}
                                                     if suspect else {})}
        if self.stopping:
            state = "stopping"
        elif not role.ready:
            state = "starting"
        else:
            state = "ok" if all(check["ok"] for check in checks.values()) else "degraded"
        body = {"status": state, "version": __version__, "role": role.name, **checks}
        if not role.ready:
            body["waiting_for"] = role.waiting_for
        return body, state == "ok"

    def stop(self) -> None:
        """Stop fast: jobs, then every Ansible run, then the batchers; the lock goes last."""
        if self.stopping:
            return
        self.stopping = True
        log.warning("bunkhouse is stopping")
        self.scheduler.stop()
        self.runner.stop()
        if self.challenge_jobs is not None:
            self.challenge_jobs.stop()
        for batcher in self.batchers:
            batcher.stop(timeout=STOP_SECONDS)
        self.lock.release()

    def install_signal_handlers(self) -> None:
        """Stop on SIGTERM, SIGINT and SIGQUIT, then let the handler that was there go on (the
        WSGI server's graceful shutdown, or the default end of the process)."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, self._chain(signum, signal.getsignal(signum)))

    def _chain(self, signum: int, previous):
        def handler(number, frame):
            stopper = threading.Thread(target=self.stop, name="stop", daemon=True)
            stopper.start()
            stopper.join(STOP_SECONDS)
            if callable(previous):
                previous(number, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)
        return handler
