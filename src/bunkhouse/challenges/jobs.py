"""The challenges' part of start and stop: at start (the primary), the allow-list's images that
have a build folder are built when missing or changed, what a restart cut short is done again,
and the deployer's worker starts; at stop, it stops."""

from __future__ import annotations

import logging

from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.service import ChallengeService
from bunkhouse.runner.playbooks import Runner

log = logging.getLogger(__name__)

IMAGES_PLAYBOOK = "challenge_images.yml"


class ChallengeJobs:
    def __init__(self, service: ChallengeService, deployer: Deployer, runner: Runner):
        self.service = service
        self.deployer = deployer
        self.runner = runner

    def prepare(self) -> None:
        """At start, in the primary: images, then the instances left in flight, then the worker."""
        self.build_images()
        self.start()

    def start(self) -> None:
        self.deployer.start()
        self.service.resume()

    def build_images(self) -> bool:
        images = [{"image": entry.image, "build": entry.build} for entry in self.service.allow_list.images.values()
                  if entry.build]
        if not images:
            return True
        result = self.runner.run(IMAGES_PLAYBOOK, {"challenge_images": images}, purpose="provision",
                                 inventory=self.deployer.engines_inventory)
        if not result.ok:
            log.error("building the challenge images failed (run %s):\n%s", result.ident, result.stdout_tail)
        return result.ok

    def stop(self) -> None:
        self.deployer.stop()
