"""The challenges' part of start and stop: at start (the primary), what a restart cut short is
done again and the deployer's worker starts; at stop, it stops. The allow-list's images that
have a build folder are built when missing or changed before the first run that starts one."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.lifetimes import Lifetimes
from bunkhouse.challenges.models import IN_FLIGHT, ChallengeInstance
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.challenges.pools import ChallengePools
from bunkhouse.challenges.service import ChallengeService
from bunkhouse.jobs.scheduler import Scheduler
from bunkhouse.runner.playbooks import Runner

log = logging.getLogger(__name__)

IMAGES_PLAYBOOK = "challenge_images.yml"


class ChallengeJobs:
    def __init__(self, service: ChallengeService, deployer: Deployer, runner: Runner, lifetimes: Lifetimes,
                 pools: ChallengePools, scheduler: Scheduler):
        self.service = service
        self.deployer = deployer
        self.runner = runner
        self.lifetimes = lifetimes
        self.pools = pools
        self.scheduler = scheduler
        deployer.image_builder = self.build_images

    def prepare(self) -> None:
        """At start, in the primary: the instances left in flight, then the worker."""
        self.start()

    def register(self) -> None:
        """The janitor's round: instances whose lifetime ended are removed (lifetimes.py), and
        the pools topped up (pools.py)."""
        self.scheduler.every("challenge-janitor", self.round, self.service.settings.janitor_seconds)

    def round(self) -> None:
        self.lifetimes.end_expired()
        self.pools.top_up()

    def start(self) -> None:
        self.deployer.start()
        self.resume()
        self.pools.top_up()

    def resume(self) -> dict[str, str]:
        """What a run cut short by a restart left in flight is done again; {instance id: change}.
        Each goes back to pending first: the worker applies a queued change only to a pending one."""
        with self.service.database.write() as session:
            rows = session.scalars(select(ChallengeInstance).where(ChallengeInstance.status.in_(list(IN_FLIGHT))))
            # A start cut short is made anew (it may have been a reset or a redeploy: recreated);
            # a removal (the janitor's too) is finished.
            changes = {row.id: {I.PENDING: "recreated", I.STARTING: "recreated", I.STOPPING: "stopped",
                                I.REMOVING: "absent"}[row.status] for row in rows}
            session.execute(update(ChallengeInstance).where(ChallengeInstance.id.in_(list(changes)),
                                                            ChallengeInstance.status.in_(list(IN_FLIGHT)))
                            .values(status=I.PENDING).execution_options(synchronize_session=False))
        if changes:
            log.warning("challenge instances left in flight by a restart are done again: %d", len(changes))
            self.deployer.submit(changes)
        return changes

    def build_images(self, names: list[str]) -> bool:
        """Build these images of the allow-list (those with a build folder) when missing or changed."""
        entries = self.service.allow_list.images
        images = [{"image": name, "build": entries[name].build} for name in names
                  if name in entries and entries[name].build]
        if not images:
            return True
        result = self.runner.run(IMAGES_PLAYBOOK, {"challenge_images": images}, purpose="provision",
                                 inventory=self.deployer.engines_inventory)
        if not result.ok:
            log.error("building the challenge images failed (run %s):\n%s", result.ident, result.stdout_tail)
        return result.ok

    def stop(self) -> None:
        self.deployer.stop()
