"""The Ansible side of challenge instances: every queued change (start, recreate, stop, remove)
goes into challenge_instance.yml runs, one run at a time and at most BUNKHOUSE_CHALLENGE_MAX_STARTING
instances in one, so that this many start at once across every deploy; inside a run the
instances change in parallel (each is a host of it). A worker thread drains the queue in the
primary process; stop() and delete() of a challenge run theirs at once, in the caller's thread,
between the worker's runs.

Each instance's status moves in one guarded statement (the one the change set, say starting ->
running): a change queued again meanwhile is not overwritten by an older run's outcome.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from bunkhouse.challenges import naming
from bunkhouse.challenges.flags import SecretBox
from bunkhouse.challenges.models import Challenge, ChallengeInstance, lifetime_stamp
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.challenges.spec import ChallengeConfig
from bunkhouse.challenges.standby import StandbyRuns
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core.db import Database
from bunkhouse.core.model import utcnow
from bunkhouse.runner.batcher import STANDBY_MARGIN
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult

log = logging.getLogger(__name__)

PLAYBOOK = "challenge_instance.yml"
# The status a change puts an instance in while it runs, and the one it ends in when it worked.
IN_RUN = {"started": I.STARTING, "recreated": I.STARTING, "stopped": I.STOPPING, "absent": I.REMOVING}
DONE = {"started": I.RUNNING, "recreated": I.RUNNING, "stopped": I.STOPPED, "absent": I.REMOVED}
# A network a run made is made again (its firewall chains put back, if something flushed them)
# by the first run after this long.
NETWORK_RECHECK_SECONDS = 300


class Deployer:
    def __init__(self, database: Database, runner: Runner, settings: ChallengeSettings, box: SecretBox,
                 engines_inventory: Path, *, firewall: bool = True, forks: int = 20,
                 clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.runner = runner
        self.settings = settings
        self.box = box
        self.engines_inventory = engines_inventory
        self.firewall = firewall
        self.forks = forks  # BUNKHOUSE_ANSIBLE_FORKS: the instances one run changes at once
        self.clock = clock
        # Builds the allow-list's images that have a build folder (jobs.py), asked once per image
        # and process, before the first run that starts one: a service that deploys nothing pays nothing.
        self.image_builder: Callable[[list[str]], bool] | None = None
        self._images_ready: set[str] = set()
        self._networks_ready: dict[str, float] = {}  # challenge id -> when a run made it (see _note_networks)
        self.standbys = StandbyRuns(runner, PLAYBOOK, engines_inventory)
        self._standby_used = False
        self._queue: dict[str, str] = {}  # instance id -> its change, the latest asked
        self._changed = threading.Condition()
        self._one_run = threading.Lock()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ---- the queue -------------------------------------------------------------------------

    def submit(self, changes: dict[str, str]) -> None:
        """Queue these changes ({instance id: started | recreated | stopped | absent})."""
        with self._changed:
            self._queue.update(changes)
            self._changed.notify_all()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="challenge-deployer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests and bench); False if still busy."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _loop(self) -> None:
        while True:
            with self._changed:
                idle = not self._queue and not self._stopping
                self._standby_used = False
            if idle:  # a fresh standby for the next change someone waits for (outside the condition:
                self._keep_standby()  # a direct change holds the run lock and then notifies)
            with self._changed:
                if idle:
                    self._changed.wait_for(lambda: self._queue or self._stopping or self._standby_used,
                                           STANDBY_MARGIN / 2)
                if self._stopping:
                    self.standbys.end()
                    return
                if not self._queue:
                    continue
                taken = dict(list(self._queue.items())[:self.settings.max_starting])
                for instance_id in taken:
                    del self._queue[instance_id]
                self._busy = True
            try:
                self.apply(taken, queued=True)
            except Exception as error:  # noqa: BLE001 - the worker lives on; the batch's instances are failed
                log.exception("a challenge run failed")
                self.fail(taken, f"the run could not be made: {error}")
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _keep_standby(self) -> None:
        with self._one_run:
            self.standbys.keep_one()

    # ---- one run ---------------------------------------------------------------------------

    def apply(self, changes: dict[str, str], *, drop_networks: Collection[str] = (), queued: bool = False
              ) -> dict[str, str]:
        """One run for these changes (and the networks of the challenges in drop_networks
        removed after them). Returns {instance id: its status now}. A change asked directly (a
        stop, a delete) replaces whatever is queued for those instances; a queued one applies
        only to an instance still pending (a stop or delete meanwhile wins)."""
        if not queued:
            with self._changed:
                for instance_id in changes:
                    self._queue.pop(instance_id, None)
        with self._one_run:
            rows = self._mark(changes, only_pending=queued)
            if not rows and not drop_networks:
                return {}
            inputs, networks = [], {}
            for instance, challenge in (rows[instance_id] for instance_id in changes if instance_id in rows):
                change = changes[instance.id]
                inputs.append(self._inputs(instance, challenge, change))
                if change in ("started", "recreated") and not self._network_ready(challenge.id):
                    networks[challenge.id] = self._network(challenge, "present")
            made = set(networks)
            with self.database.read() as session:
                for challenge in session.scalars(select(Challenge).where(Challenge.id.in_(list(drop_networks)))):
                    networks[challenge.id] = self._network(challenge, "absent")
            self._ensure_images({item["image"] for item in inputs if "image" in item})
            # Each instance has start_timeout to answer; Ansible's forks may start them in waves.
            timeout = 60 + self.settings.start_timeout * max(1, -(-len(inputs) // self.forks))
            variables = {"challenge_networks": list(networks.values()), "challenge_instances": inputs}
            # A change someone waits for takes the standby run (a few instances: its timeout is the runner's).
            result = self.standbys.dispatch(variables, [item["name"] for item in inputs]) \
                if not queued and len(inputs) <= self.forks else None
            if not queued:
                with self._changed:  # the worker starts the next standby
                    self._standby_used = True
                    self._changed.notify_all()
            if result is None:
                result = self.runner.run(PLAYBOOK, variables, purpose="challenge", timeout=timeout,
                                         inventory=self.engines_inventory)
            self._note_networks(made, set(drop_networks), rows, result)
            return self._settle(rows, changes, result)

    def _note_networks(self, made: set[str], dropped: set[str], rows: dict, result: RunResult) -> None:
        """The networks a run made are not made again by the next runs of this process within
        NETWORK_RECHECK_SECONDS (their firewall chains cost about 4 s a run); after a run that
        failed, the networks of its challenges are made again next time (someone may have
        removed one by hand), and so are all after a restart."""
        if result.ok:
            self._networks_ready.update(dict.fromkeys(made, time.monotonic()))
        else:  # which part failed is not always known (the engine's play, an instance): all made again
            dropped = dropped | {challenge.id for _, challenge in rows.values()}
        for challenge_id in dropped:
            self._networks_ready.pop(challenge_id, None)

    def _network_ready(self, challenge_id: str) -> bool:
        made = self._networks_ready.get(challenge_id)
        return made is not None and time.monotonic() - made < NETWORK_RECHECK_SECONDS

    def _mark(self, changes: dict[str, str], *, only_pending: bool) -> dict[str, tuple[ChallengeInstance, Challenge]]:
        """Each instance moves to its change's in-run status (only from pending for queued changes)."""
        found = {}
        with self.database.write() as session:
            statement = (select(ChallengeInstance, Challenge).join(Challenge)
                         .where(ChallengeInstance.id.in_(list(changes))))
            if only_pending:
                statement = statement.where(ChallengeInstance.status == I.PENDING)
            for instance, challenge in session.execute(statement).all():
                instance.status, instance.error = IN_RUN[changes[instance.id]], None
                found[instance.id] = (instance, challenge)
            session.flush()
            session.expunge_all()
        return found

    def _ensure_images(self, images: set[str]) -> None:
        """Build (when missing or changed) the images this run starts that this process has not
        made sure of yet; one that fails to build fails its instances' starts, with Docker's word."""
        needed = sorted(images - self._images_ready)
        if needed and self.image_builder is not None and self.image_builder(needed):
            self._images_ready.update(needed)

    def fail(self, changes: dict[str, str], why: str) -> None:
        """These changes' instances failed (their run could not be made), unless changed since."""
        with self.database.write() as session:
            for instance_id, change in changes.items():
                session.execute(update(ChallengeInstance).where(
                    ChallengeInstance.id == instance_id,
                    ChallengeInstance.status.in_([I.PENDING, IN_RUN[change]])).values(status=I.FAILED, error=why)
                    .execution_options(synchronize_session=False))

    def _inputs(self, instance: ChallengeInstance, challenge: Challenge, change: str) -> dict:
        name = instance.container_of(challenge)
        if change in ("stopped", "absent"):
            return {"name": name, "state": change}
        environment = self.box_json(challenge.environment)
        config = ChallengeConfig.of_stored(challenge.config, environment)
        flag = self.box.open(instance.flag)
        if config.flag_in_environment:
            environment = {**environment, "FLAG": flag}
        resources = config.resources
        return {"name": name, "state": change, "image": config.image, "network": naming.network_name(
            challenge.network_index), "ports": [{"container": int(port), "host": instance.ports[port]}
                                                for port in sorted(instance.ports, key=int)],
                "bind_address": self.settings.bind_address, "environment": environment, "flag": flag,
                "team": "" if instance.pooled else instance.team_id, "cpus": resources.cpus, "memory": resources.memory,
                "cpu_shares": resources.cpu_shares or 0, "memory_reservation": resources.memory_reservation or 0,
                "pids_limit": self.settings.pids, "health_path": config.health_check_path or "",
                "start_timeout": self.settings.start_timeout,
                "labels": {"bunkhouse.challenge": challenge.id, "bunkhouse.team": instance.team_id}}

    def box_json(self, sealed: str | None) -> dict[str, str]:
        return json.loads(self.box.open(sealed)) if sealed else {}

    def _network(self, challenge: Challenge, state: str) -> dict:
        index = challenge.network_index
        # With outbound on, still no other challenge's network (nor any private range) is reached.
        blocked = ["169.254.0.0/16", self.settings.subnets, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        return {"name": naming.network_name(index), "subnet": naming.subnet_of(index, self.settings),
                "bridge": naming.bridge_name(index), "state": state, "outbound": self.settings.outbound,
                "firewall": self.firewall, "blocked": blocked}

    def _settle(self, rows: dict, changes: dict[str, str], result: RunResult) -> dict[str, str]:
        now = self.clock()
        settled = {}
        with self.database.write() as session:
            for instance_id, (instance, challenge) in rows.items():
                change = changes[instance_id]
                host = instance.container_of(challenge)
                worked = host in result.ok_hosts
                status = DONE[change] if worked else I.FAILED
                values = {"status": status, "error": None if worked else result.error_of(host)}
                if worked and status == I.RUNNING:
                    values.update(started_at=now, **lifetime_stamp(instance, challenge, now))
                moved = session.execute(update(ChallengeInstance).where(
                    ChallengeInstance.id == instance_id, ChallengeInstance.status == IN_RUN[change]).values(**values)
                    .execution_options(synchronize_session=False)).rowcount
                settled[instance_id] = status if moved else IN_RUN[change]
                if not worked:
                    log.warning("challenge instance %s: %s failed: %s", host, change, values["error"])
        return settled
