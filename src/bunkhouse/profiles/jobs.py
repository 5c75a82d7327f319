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

    def read_file(self) -> None:
        """In every process, when the app is made: the containers file in memory (no change to
        the database or the engine), so that reads answer from the first request."""
        try:
            self.named.catalog = self.named.load()
        except CatalogError as error:
            log.error("%s", error)
            self.service.load_error = str(error)

    def load_file(self) -> None:
        """At the primary's start: the containers file in force, its network made and its images
        built, and every named container read back from the engine. A file that does not load
        changes nothing (the rows stay, the warmth round does not act) and says why on
        /api/v1/containers/health."""
        self.read_file()
        if self.service.load_error:
            return
        self.named.provision()
        self.named.adopt(self.named.catalog)
        self.named.reconcile()

    def register(self) -> None:
        self.scheduler.every("containers", self.round, self.round_seconds, now=True)

    def round(self) -> None:
        self.service.end_due()
        # Without the file in force every container would look retired: nothing is decided.
        if not self.service.load_error:
            self.named.round()
