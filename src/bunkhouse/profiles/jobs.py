"""The warmth job of named containers and profile leases: every BUNKHOUSE_CONTAINERS_ROUND_SECONDS,
the leases whose time is up end, then the fleet's warmth round acts (fleet/named.py)."""

from __future__ import annotations

import logging

from bunkhouse.fleet.catalog import CatalogError
from bunkhouse.fleet.named import NamedContainers
from bunkhouse.jobs.scheduler import Scheduler
from bunkhouse.profiles.service import ProfileService

log = logging.getLogger(__name__)


class ProfileJobs:
    def __init__(self, scheduler: Scheduler, service: ProfileService, named: NamedContainers, round_seconds: int):
        self.scheduler = scheduler
        self.service = service
        self.named = named
        self.round_seconds = round_seconds

    def load_file(self) -> None:
        """At start: put the containers file in force and build its images (a file that does not
        load leaves no named containers and says why on /api/v1/containers/health)."""
        try:
            catalog = self.named.load()
        except CatalogError as error:
            log.error("%s", error)
            self.service.load_error = str(error)
            return
        self.named.adopt(catalog)
        self.named.reconcile()
        self.named.provision()

    def register(self) -> None:
        self.scheduler.every("containers", self.round, self.round_seconds, now=True)

    def round(self) -> None:
        self.service.end_due()
        self.named.round()
