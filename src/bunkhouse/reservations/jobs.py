"""The reservations' jobs: each lease ends exactly on time (a job at its end) with a sweep every
BUNKHOUSE_SWEEP_INTERVAL as the safety net (a restart, a clock jump), the node pool's size kept
between its min and max at the same interval, a notice to the
account's terminals before the end, the periodic reconcile, and the daily retention round
(retention.py: at start, then every day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bunkhouse.config import JobSettings
from bunkhouse.jobs.scheduler import Scheduler
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.notice import send_notice
from bunkhouse.reservations.reconcile import Reconciler
from bunkhouse.reservations.retention import INTERVAL_SECONDS as RETENTION_INTERVAL
from bunkhouse.reservations.retention import Retention
from bunkhouse.reservations.service import ReservationService
from bunkhouse.runner.playbooks import Runner


class ReservationJobs:
    def __init__(self, scheduler: Scheduler, service: ReservationService, reconciler: Reconciler, runner: Runner,
                 settings: JobSettings, notice_seconds: int, host_timeout: int, retention: Retention | None = None):
        self.scheduler = scheduler
        self.service = service
        self.reconciler = reconciler
        self.runner = runner
        self.settings = settings
        self.notice_seconds = notice_seconds
        self.host_timeout = host_timeout
        self.retention = retention

    def register(self) -> None:
        """Every lease's end and notice, the sweep and the periodic reconcile; and from now on,
        every lease that starts or changes."""
        self.scheduler.every("sweep", self.service.expire_due, self.settings.sweep_interval_seconds, now=True)
        self.scheduler.every("reconcile", self.reconciler.periodic, self.settings.sweep_interval_seconds)
        if self.service.sizing is not None:
            # The node pool kept at its min, and shrunk back to it when idle (fleet/sizing.py).
            self.scheduler.every("pool-size", self.service.sizing.keep_size, self.settings.sweep_interval_seconds)
        if self.retention is not None:
            self.scheduler.every("retention", self.retention.run, RETENTION_INTERVAL, now=True)
        for reservation in self.service.all(states=(R.ACTIVE,)):
            self.schedule(reservation.id, reservation.ends_at)
        self.service.on_lease_change = self.schedule

    def after_reload(self, strategy: str) -> None:
        """A reload of the containers file: with strategy immediate, every free node made from an
        older ssh_node entry is recreated now, in the background (otherwise a few each round)."""
        if strategy == "immediate" and self.service.sizing is not None and self.scheduler.running:
            self.scheduler.at("pool-refresh", datetime.now(UTC), self.service.sizing.refresh, True)

    def schedule(self, reservation_id: str, ends_at: datetime | None) -> None:
        """Expire the reservation exactly at ends_at, with a notice to its sessions a while
        before; None cancels both. An extension moves them."""
        expire_id, notice_id = f"expire-{reservation_id}", f"notice-{reservation_id}"
        if ends_at is None:
            self.scheduler.cancel(expire_id, notice_id)
            return
        self.scheduler.at(expire_id, ends_at, self.service.expire, reservation_id)
        notice_at = ends_at - timedelta(seconds=self.notice_seconds)
        if self.notice_seconds and notice_at > datetime.now(UTC):
            self.scheduler.at(notice_id, notice_at, self.notice, reservation_id)
        else:
            self.scheduler.cancel(notice_id)

    def notice(self, reservation_id: str) -> None:
        send_notice(self.service, self.runner, reservation_id, self.host_timeout)
